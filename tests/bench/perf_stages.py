#!/usr/bin/env python3
"""Attribute an ehrgate-sidecar CPU profile to the stages of a hook call (docs/PERFORMANCE.md).

  perf record -F 499 --call-graph dwarf,16384 -p SIDECAR_PID -o sc.data -- sleep 6   # under load
  perf script -i sc.data -F comm,tid,ip,sym > sc.script
  tests/bench/perf_stages.py sc.script

Each sample is charged to the innermost frame of its stack that names a stage (below), so
malloc called from the JSON parser counts as JSON parsing, and the card rules called from the
upstream completion count as card rules, not as libcurl. Prints the share of samples per stage.
"""
import collections
import sys

STAGES = [
    ("auth: JWT signature, claims, jti replay cache", ["cds_auth_check"]),
    ("JSON parse", ["json_parse"]),
    ("JSON print", ["json_print"]),
    ("JSON free", ["cJSON_Delete"]),
    ("patient context for the egress PHI scanner (phi_context, ctxstore)",
     ["phi_context_from_patient_json", "ctxstore_put", "phi_context_free"]),
    ("request rules (shape, approvals, prefetch minimisation)", ["hookreq_validate", "hookreq_minimise_prefetch"]),
    ("card rules (validate, enforce)", ["cds_validate_response", "cds_enforce"]),
    ("audit: build record + append (worker thread)", ["sidecar_audit"]),
    ("audit: writer thread (seal, chain, write, fdatasync)", ["writer_thread"]),
    ("log lines", ["log_event"]),
    ("metrics", ["metrics_observe", "metrics_count"]),
    ("upstream response handling (other)", ["on_service_response"]),
    ("upstream HTTP client (libcurl)", ["curl_easy_init", "http_client_send", "curl_multi_socket_action",
                                        "curl_multi_perform", "on_sock", "on_timer", "check_done", "start_upstream"]),
    ("request handling (other, in handle_service)", ["handle_service (inlined)", "handle_service"]),
    ("HTTP server (libevent: accept, read, parse, reply)", ["evbuffer_read", "http_server_read_body",
                                                            "bufferevent_run_readcb_", "evhttp_send_reply",
                                                            "http_server_reply_json", "reply_json (inlined)",
                                                            "on_request", "ingress_handle"]),
    ("event loop (epoll, timers)", ["epoll_wait", "event_base_loop"]),
]
SPLIT = {"JSON parse", "JSON print", "JSON free"}


def load(path):
    stacks, cur = [], None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if cur is not None:
                    stacks.append(cur)
                cur = None
            elif not line[0].isspace():
                cur = []
            elif cur is not None:
                parts = line.split(None, 1)
                cur.append(parts[1].strip() if len(parts) > 1 else "?")
    if cur:
        stacks.append(cur)
    return stacks


def main():
    marker = {name: label for label, names in STAGES for name in names}
    stacks = load(sys.argv[1])
    count = collections.Counter()
    for s in stacks:
        label = "other"
        for frame in s:            # leaf first
            if frame in marker:
                label = marker[frame]
                if label in SPLIT:
                    label += " (upstream response)" if "on_service_response" in s else " (EHR request)"
                break
        count[label] += 1
    print("%d samples" % len(stacks))
    for label, n in count.most_common():
        print("%6.1f%%  %s" % (100.0 * n / max(1, len(stacks)), label))


if __name__ == "__main__":
    main()
