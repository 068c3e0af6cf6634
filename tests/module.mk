# tests/: integration tests that start the real binaries on loopback. *_test.c files here are
# CMocka programs (run by ci/run-tests with the unit tests); *.sh files are shell scripts.
