# sidecar/: ehrgate-sidecar (ingress, egress, policy decisions) and ehrgate-phi.
PROGRAMS += ehrgate-sidecar
ehrgate-sidecar_MAIN := sidecar/sidecar_main.c
PROGRAMS += ehrgate-phi
ehrgate-phi_MAIN := sidecar/phi_main.c
