# lib/: the shared core (no dependency on sidecar/, audit/, conformance/). Sources are discovered.
