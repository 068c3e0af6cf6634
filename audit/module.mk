# audit/: encrypted, tamper-evident audit log library + ehrgate-audit CLI.
PROGRAMS += ehrgate-audit
ehrgate-audit_MAIN := audit/audit_main.c
