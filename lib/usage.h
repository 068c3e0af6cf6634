/* usage — the common command-line conventions every ehrgate program follows (DESIGN.md §4):
 * --help prints usage to stdout and exits 0, --version prints "NAME VERSION" and exits 0,
 * usage errors print one line to stderr and exit 2. */
#ifndef EHRGATE_USAGE_H
#define EHRGATE_USAGE_H

#define EXIT_USAGE 2

/* If argv[1] is --help or --version, handle it and exit. */
void usage_common(int argc, char **argv, const char *prog, const char *usage_text);
/* Print "PROG: message" and the one-line hint, exit 2. */
void usage_fail(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
