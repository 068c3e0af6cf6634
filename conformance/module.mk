# conformance/: ehrgate-conform, the simulated EHR, its checks and reports.
PROGRAMS += ehrgate-conform
ehrgate-conform_MAIN := conformance/conform_main.c
