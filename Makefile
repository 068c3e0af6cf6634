# ehrgate — one non-recursive Makefile. Each directory has a module.mk that lists its programs;
# sources, unit tests (*_test.c) and fuzz targets (*_fuzz.c) are discovered by name.
#
#   make            build bin/ (release variant)
#   make test       install missing deps, build, run unit (CMocka) + integration tests
#   make asan       the same tests under ASan + UBSan
#   make demo       the main job on the demo site
#   make lint | fuzz | bench | install PREFIX=/usr/local DESTDIR=

VARIANT  ?= release
BUILD    := build/$(VARIANT)
BIN      := bin
PREFIX   ?= /usr/local
VERSION  := 0.1.0

PKGS     := libevent libevent_openssl libevent_pthreads libcurl openssl libsodium libcjson yaml-0.1 libhs
TESTPKGS := cmocka

CC       ?= cc
WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wno-format-nonliteral -Wno-format-truncation
DEFS     := -D_GNU_SOURCE -DEHRGATE_VERSION='"$(VERSION)"'
ifeq ($(VARIANT),asan)
  OPT    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDOPT  := -fsanitize=address,undefined
  BIN    := build/asan/bin
else ifeq ($(VARIANT),debug)
  OPT    := -O0 -g
  LDOPT  :=
  BIN    := build/debug/bin
else
  OPT    := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
  LDOPT  := -pie -Wl,-z,relro,-z,now
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TEST_CFLAGS := $(shell pkg-config --cflags $(TESTPKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TESTPKGS) 2>/dev/null)

CFLAGS_ALL := $(WARN) $(OPT) $(DEFS) -I. $(PKG_CFLAGS) $(TEST_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL := $(LDOPT) $(LDFLAGS)

.PHONY: all deps test test-run unit integration asan lint fuzz bench demo install clean phi-eval
all: programs

# --- modules -----------------------------------------------------------------------------------
# A module directory D contributes:
#   D/*.c minus *_test.c, *_fuzz.c, *_main.c  -> $(BUILD)/libD.a
#   D/*_test.c                                -> $(BUILD)/tests/D/NAME (CMocka)
#   D/*_fuzz.c                                -> build/fuzz/NAME (libFuzzer, `make fuzz`)
# module.mk declares programs:  PROGRAMS += name ; name_MAIN := D/x_main.c ; name_LIBS := D lib
PROGRAMS :=
MODULES  := lib audit sidecar conformance fixtures tests
include $(wildcard $(addsuffix /module.mk,$(MODULES)))

lib_of      = $(BUILD)/lib$(1).a
srcs_of     = $(filter-out %_test.c %_fuzz.c %_main.c,$(wildcard $(1)/*.c))
objs_of     = $(patsubst %.c,$(BUILD)/%.o,$(call srcs_of,$(1)))
tests_of    = $(patsubst %.c,$(BUILD)/t/%,$(wildcard $(1)/*_test.c))
ALL_TESTS   := $(foreach m,$(MODULES),$(call tests_of,$(m)))
# Link order: dependants first. Every test links every module archive (order below).
LINK_ARCHIVES := $(foreach m,tests fixtures conformance sidecar audit lib,$(if $(call srcs_of,$(m)),$(call lib_of,$(m))))

define module_rules
$(call lib_of,$(1)): $(call objs_of,$(1))
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(if $(call srcs_of,$(m)),$(eval $(call module_rules,$(m)))))

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/t/%: $(BUILD)/%.o $(LINK_ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LINK_ARCHIVES) $(PKG_LIBS) $(TEST_LIBS)

define program_rules
$(BIN)/$(1): $(BUILD)/$(patsubst %.c,%.o,$($(1)_MAIN)) $(LINK_ARCHIVES)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_ALL) -o $$@ $$< $(LINK_ARCHIVES) $$(PKG_LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rules,$(p))))

programs: $(addprefix $(BIN)/,$(PROGRAMS))

-include $(shell find build -name '*.d' 2>/dev/null)

# --- the two README commands ------------------------------------------------------------------
deps:
	@ci/install-deps

test: deps
	@$(MAKE) --no-print-directory test-run

test-run: programs $(ALL_TESTS)
	@ci/run-tests $(BUILD) $(BIN)

unit: programs $(ALL_TESTS)
	@ci/run-tests --unit-only $(BUILD) $(BIN)

asan: deps
	@$(MAKE) --no-print-directory VARIANT=asan test-run

demo: deps
	@$(MAKE) --no-print-directory programs
	@ci/demo

lint: programs
	@ci/install-deps lint
	@ci/lint

fuzz:
	@ci/install-deps fuzz
	@ci/fuzz

bench: deps
	@ci/install-deps bench
	@$(MAKE) --no-print-directory programs
	@ci/bench

phi-eval: deps
	@$(MAKE) --no-print-directory programs
	@ci/phi-eval

# The product; test, demo and bench tools (ehrgate-refsvc, ehrgate-phi-gen, ehrgate-bench-*) stay in bin/.
INSTALL_PROGRAMS := ehrgate-sidecar ehrgate-audit ehrgate-conform ehrgate-phi

install: programs
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ehrgate/policies $(DESTDIR)$(PREFIX)/share/doc/ehrgate
	install -m 0755 $(addprefix $(BIN)/,$(INSTALL_PROGRAMS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 policies/sites/*.yaml $(DESTDIR)$(PREFIX)/share/ehrgate/policies/
	# ehrgate-conform's simulated EHR needs the synthetic patients, hook templates and the
	# test-only EHR keys (it looks in share/ehrgate/fixtures next to the binary's prefix)
	for d in patients hooks keys; do \
		find fixtures/$$d -type f | while read -r f; do \
			install -D -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/share/ehrgate/$$f"; done; done
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/ehrgate/

clean:
	rm -rf build bin
.SECONDARY:
