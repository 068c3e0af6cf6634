# tests/: integration tests that start the real binaries on loopback. *_test.c files here are
# CMocka programs (run by ci/run-tests with the unit tests); *.sh files are shell scripts.

# Benchmark tools for ci/bench-sidecar (not tests; see docs/PERFORMANCE.md).
PROGRAMS += ehrgate-bench-tokens
ehrgate-bench-tokens_MAIN := tests/bench_tokens_main.c
PROGRAMS += ehrgate-bench-load
ehrgate-bench-load_MAIN := tests/bench_load_main.c
