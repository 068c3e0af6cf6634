/* conform_ehr — the simulated EHR's loopback server: it publishes the EHR's JWK Set (at the
 * profile's path), a rogue JWK Set at /attacker/jwks.json (for the foreign-jku forgery), and a
 * FHIR R4 API over the fixture patients at the profile's FHIR path. Every FHIR call is checked
 * against the access tokens the harness issued in fhirAuthorization (CDS Hooks 2.0 §FHIR
 * Resource Access) — unknown token: 401; data of another patient: 403 — and recorded in the
 * run with the request id of the hook call the token belongs to.
 */
#ifndef EHRGATE_CONFORM_EHR_H
#define EHRGATE_CONFORM_EHR_H

#include <stddef.h>

#include <event2/event.h>

#include "conformance/conform_fhir.h"
#include "conformance/conform_jwt.h"
#include "conformance/conform_run.h"
#include "lib/err.h"

struct conform_ehr;

/* Listen on `listen` (host:port, port 0 = any) on base. run receives the call records. */
struct conform_ehr *conform_ehr_new(struct event_base *base, const char *listen, const struct conform_profile *p,
				    const struct conform_fhir *store, const struct conform_keys *keys,
				    struct conform_run *run, struct err *e);
void conform_ehr_free(struct conform_ehr *x);

/* Also publish the JWK Set at this path (the path of a configured jku). */
void conform_ehr_set_jwks_alias(struct conform_ehr *x, const char *path);

/* The hook call in progress (sync calls): FHIR calls without a valid token are charged to it. */
void conform_ehr_set_current(struct conform_ehr *x, const char *rid);

/* "http://127.0.0.1:PORT" */
const char *conform_ehr_base(const struct conform_ehr *x);

/* Issue an access token for the hook call rid, valid for ttl_s seconds and for `patient` only.
 * out receives 64 hex characters. */
void conform_ehr_issue_token(struct conform_ehr *x, const char *rid, const char *patient, unsigned ttl_s, char out[65]);

/* FHIR calls recorded so far for hook call rid; *bad counts calls without a valid token or out
 * of the patient's scope. */
size_t conform_ehr_calls_for(const struct conform_run *run, const char *rid, size_t *bad, size_t *paged);

#endif
