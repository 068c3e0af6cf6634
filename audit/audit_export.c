/* audit_export — FHIR R4 AuditEvent for decrypted audit records, following IHE BALP
 * (research/audit-proxy.md §1.2; docs/audit-format.md §10).
 *
 * Owns the mapping from the sidecar's record keys (event, interaction, decision, rules, status,
 * service, hook, rid, patient, user, resource, query, purpose, site) to one AuditEvent:
 *   - R4 required elements always present: type, recorded, agent[] with requestor, source with
 *     observer (hl7.org/fhir/R4/auditevent.html).
 *   - The BALP event kind from the FHIR interaction: read/vread -> Read, search -> Query,
 *     create/update/delete; a CDS Hooks call counts as a read of the patient's data by the AI
 *     service (the EHR sends prefetch to it). type = audit-event-type#rest, subtype =
 *     restful-interaction#<interaction>, action C/R/U/D/E.
 *   - BALP profiles fix outcome = 0 ("failures are recorded differently"), so the profile is
 *     claimed in meta.profile only for successes; denials and failures carry the same codes with
 *     outcome 4 (policy refusal, HTTP 4xx) or 8 (deadline, error, HTTP 5xx) and outcomeDesc.
 *   - The policy decision has no slot in R4/BALP: an entity typed urn:ehrgate:audit#policy-decision
 *     with detail entries (decision, rules, status).
 * R4 is pinned (R5 reshaped AuditEvent).
 */
#include "audit/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/json.h"

#define BALP "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
#define DCM "http://dicom.nema.org/resources/ontology/DCM"

enum kind { K_READ, K_VREAD, K_SEARCH, K_CREATE, K_UPDATE, K_DELETE, K_OTHER, K_EXPORT };

static const struct {
	const char *interaction, *action, *profile, *patient_profile;
} kinds[] = {
	[K_READ] = {"read", "R", BALP "Read", BALP "PatientRead"},
	[K_VREAD] = {"vread", "R", BALP "Read", BALP "PatientRead"},
	[K_SEARCH] = {"search", "E", BALP "Query", BALP "PatientQuery"},
	[K_CREATE] = {"create", "C", BALP "Create", BALP "PatientCreate"},
	[K_UPDATE] = {"update", "U", BALP "Update", BALP "PatientUpdate"},
	[K_DELETE] = {"delete", "D", BALP "Delete", BALP "PatientDelete"},
	[K_OTHER] = {NULL, "E", NULL, NULL},
	[K_EXPORT] = {NULL, "R", NULL, NULL},
};

/* The sidecar's records (docs/sidecar.md "Audit records"): event cds.call (the EHR sends the
 * patient's context and prefetch to the AI service: a read by the service), cds.discovery and
 * cds.feedback (no patient data), egress (the AI service calling out: FHIR route by HTTP method,
 * any other route is a disclosure, DICOM "Export"). An explicit "interaction" wins. */
static enum kind classify(const char *interaction, const char *event, const char *method, const char *route)
{
	const char *s = event ? event : "";
	if (interaction) {
		for (int k = 0; k < K_OTHER; k++)
			if (strcmp(interaction, kinds[k].interaction) == 0)
				return (enum kind)k;
		if (strcmp(interaction, "search-type") == 0 || strcmp(interaction, "search-system") == 0)
			return K_SEARCH;
		if (strcmp(interaction, "patch") == 0)
			return K_UPDATE;
		return K_OTHER;
	}
	if (strncmp(s, "egress", 6) == 0) {
		if (route && strcmp(route, "fhir") != 0)
			return K_EXPORT;
		if (!method || !strcmp(method, "GET") || !strcmp(method, "HEAD"))
			return K_READ;
		if (!strcmp(method, "POST"))
			return K_CREATE;
		if (!strcmp(method, "PUT") || !strcmp(method, "PATCH"))
			return K_UPDATE;
		if (!strcmp(method, "DELETE"))
			return K_DELETE;
		return K_OTHER;
	}
	if (strstr(s, "discovery") || strstr(s, "feedback"))
		return K_OTHER;
	if (strstr(s, "search") || strstr(s, "query") || strstr(s, "export"))
		return K_SEARCH;
	if (strstr(s, "create") || strstr(s, "write"))
		return K_CREATE;
	if (strstr(s, "update"))
		return K_UPDATE;
	if (strstr(s, "delete"))
		return K_DELETE;
	if (strstr(s, "cds.call") || strstr(s, "hook") || strstr(s, "read") || strstr(s, "prefetch"))
		return K_READ;
	return K_OTHER;
}

static cJSON *coding(const char *system, const char *code, const char *display)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "system", system);
	cJSON_AddStringToObject(c, "code", code);
	if (display)
		cJSON_AddStringToObject(c, "display", display);
	return c;
}

static cJSON *codeable(const char *system, const char *code, const char *display)
{
	cJSON *cc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(cc, "coding");
	cJSON_AddItemToArray(arr, coding(system, code, display));
	return cc;
}

static cJSON *ident_who(const char *system, const char *value)
{
	cJSON *who = cJSON_CreateObject(), *id = cJSON_AddObjectToObject(who, "identifier");
	if (system)
		cJSON_AddStringToObject(id, "system", system);
	cJSON_AddStringToObject(id, "value", value);
	return who;
}

static cJSON *agent(const char *tsys, const char *tcode, const char *tdisp, cJSON *who, bool requestor,
		    const char *net_addr)
{
	cJSON *a = cJSON_CreateObject();
	cJSON_AddItemToObject(a, "type", codeable(tsys, tcode, tdisp));
	cJSON_AddItemToObject(a, "who", who);
	cJSON_AddBoolToObject(a, "requestor", requestor);
	if (net_addr) {
		cJSON *n = cJSON_AddObjectToObject(a, "network");
		cJSON_AddStringToObject(n, "address", net_addr);
		cJSON_AddStringToObject(n, "type", "2");   /* network-type 2: IP address */
	}
	return a;
}

static void detail(cJSON *arr, const char *type, const char *value)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "type", type);
	cJSON_AddStringToObject(d, "valueString", value);
	cJSON_AddItemToArray(arr, d);
}

static const char *jstr(const cJSON *o, const char *k)
{
	return json_str(o, k);
}

int audit_export_auditevent(const struct audit_record *rec, const char *log_id_hex, struct buf *out, struct err *e)
{
	struct json_limits lim = JSON_LIMITS_DEFAULT;
	cJSON *in = NULL, *ev = NULL, *arr, *ent;
	const char *event, *interaction, *decision, *patient, *user, *service, *rid, *hook, *resource, *query, *purpose,
		*site, *ehr, *method, *route;
	char id[64], ts[25], status_s[24] = "";
	enum kind k;
	int outcome = 0, rc = 0;
	int64_t status = 0;
	bool failure;

	in = json_parse(rec->json, rec->json_len, &lim, e);
	if (!in)
		return err_prefix(e, "record seq %llu", (unsigned long long)rec->seq);
	if (!cJSON_IsObject(in)) {
		rc = err_set(e, -EINVAL, "record seq %llu is not a JSON object", (unsigned long long)rec->seq);
		goto out;
	}
	event = jstr(in, "event");
	interaction = jstr(in, "interaction");
	decision = rec->decision ? rec->decision : jstr(in, "decision");
	patient = rec->patient ? rec->patient : jstr(in, "patient");
	user = rec->user ? rec->user : jstr(in, "user");
	service = jstr(in, "service");
	rid = jstr(in, "rid");
	hook = jstr(in, "hook");
	resource = jstr(in, "resource");
	query = jstr(in, "query");
	purpose = jstr(in, "purpose");
	site = jstr(in, "site");
	ehr = jstr(in, "ehr");
	method = jstr(in, "method");
	route = jstr(in, "route");
	if (json_i64(in, "status", &status) == 0)
		snprintf(status_s, sizeof status_s, "%lld", (long long)status);
	k = classify(interaction, event, method, route);

	/* outcome: audit-event-outcome 0 success, 4 minor failure, 8 serious failure */
	if (decision && (!strcmp(decision, "deny") || !strcmp(decision, "block")))
		outcome = 4;
	else if (decision && (!strcmp(decision, "deadline") || !strcmp(decision, "error") || !strcmp(decision, "upstream_error")))
		outcome = 8;
	if (status >= 500)
		outcome = outcome > 8 ? outcome : 8;
	else if (status >= 400 && outcome == 0)
		outcome = 4;
	failure = outcome != 0;

	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "resourceType", "AuditEvent");
	snprintf(id, sizeof id, "%s-%llu", log_id_hex, (unsigned long long)rec->seq);
	cJSON_AddStringToObject(ev, "id", id);
	if (!failure && kinds[k].profile) {
		cJSON *meta = cJSON_AddObjectToObject(ev, "meta"), *prof = cJSON_AddArrayToObject(meta, "profile");
		cJSON_AddItemToArray(prof, cJSON_CreateString(patient ? kinds[k].patient_profile : kinds[k].profile));
	}
	if (k == K_EXPORT) {
		cJSON_AddItemToObject(ev, "type", coding(DCM, "110106", "Export"));
	} else if (k == K_OTHER) {
		cJSON_AddItemToObject(ev, "type", coding(DCM, "110100", "Application Activity"));
	} else {
		cJSON_AddItemToObject(ev, "type", coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest",
							 "Restful Operation"));
		arr = cJSON_AddArrayToObject(ev, "subtype");
		cJSON_AddItemToArray(arr, coding("http://hl7.org/fhir/restful-interaction", kinds[k].interaction, kinds[k].interaction));
	}
	cJSON_AddStringToObject(ev, "action", kinds[k].action);
	clock_fmt_rfc3339(ts, rec->time_ns / 1000000);
	cJSON_AddStringToObject(ev, "recorded", ts);
	{
		char oc[4];
		snprintf(oc, sizeof oc, "%d", outcome);
		cJSON_AddStringToObject(ev, "outcome", oc);
	}
	if (failure) {
		char desc[160];
		snprintf(desc, sizeof desc, "%s%s%s%s", decision ? "policy decision: " : "", decision ? decision : "",
			 status_s[0] ? (decision ? "; HTTP status " : "HTTP status ") : "", status_s);
		cJSON_AddStringToObject(ev, "outcomeDesc", desc);
	}
	if (purpose) {
		arr = cJSON_AddArrayToObject(ev, "purposeOfEvent");
		cJSON_AddItemToArray(arr, codeable("http://terminology.hl7.org/CodeSystem/v3-ActReason", purpose, NULL));
	}

	/* agents (BALP Read/Query: client = 110152 Destination; Create/Update/Delete: client = 110153
	 * Source, the data flows from it). The AI service reaches the sidecar on loopback. */
	arr = cJSON_AddArrayToObject(ev, "agent");
	{
		bool toward_client = k == K_READ || k == K_VREAD || k == K_SEARCH || k == K_OTHER || k == K_EXPORT;
		cJSON_AddItemToArray(arr, agent(DCM, toward_client ? "110152" : "110153",
						toward_client ? "Destination Role ID" : "Source Role ID",
						ident_who("urn:ehrgate:service", service ? service : "unknown"), user == NULL,
						"127.0.0.1"));
		cJSON_AddItemToArray(arr, agent(DCM, toward_client ? "110153" : "110152",
						toward_client ? "Source Role ID" : "Destination Role ID",
						ident_who("urn:ehrgate:ehr", ehr ? ehr : "ehr"), false, ehr ? ehr : "ehr"));
		if (user) {
			bool author = k == K_CREATE || k == K_UPDATE || k == K_DELETE;
			cJSON_AddItemToArray(arr, agent("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
							author ? "AUT" : "IRCP", author ? "author" : "information recipient",
							ident_who(NULL, user), true, NULL));
		}
	}
	{
		cJSON *src = cJSON_AddObjectToObject(ev, "source"), *obs, *t;
		if (site)
			cJSON_AddStringToObject(src, "site", site);
		obs = cJSON_AddObjectToObject(src, "observer");
		cJSON_AddStringToObject(obs, "display", "ehrgate-sidecar");
		t = cJSON_AddArrayToObject(src, "type");
		cJSON_AddItemToArray(t, coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4",
					       "Application Server"));
	}

	arr = cJSON_AddArrayToObject(ev, "entity");
	if (rid) {
		ent = cJSON_CreateObject();
		cJSON_AddItemToObject(ent, "what", ident_who(NULL, rid));
		cJSON_AddItemToObject(ent, "type", coding("https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
							  "XrequestId", "X-Request-Id"));
		cJSON_AddItemToArray(arr, ent);
	}
	if (k == K_SEARCH) {
		ent = cJSON_CreateObject();
		cJSON_AddItemToObject(ent, "type", coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"));
		cJSON_AddItemToObject(ent, "role", coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"));
		{
			const char *q = query ? query : event ? event : "query";
			size_t ql = strlen(q);
			size_t bl = sodium_base64_ENCODED_LEN(ql, sodium_base64_VARIANT_ORIGINAL);
			char *b64 = malloc(bl);
			if (b64) {
				sodium_bin2base64(b64, bl, (const unsigned char *)q, ql, sodium_base64_VARIANT_ORIGINAL);
				cJSON_AddStringToObject(ent, "query", b64);
				free(b64);
			}
		}
		cJSON_AddItemToArray(arr, ent);
	} else {
		cJSON *what;
		ent = cJSON_CreateObject();
		if (resource) {
			what = cJSON_CreateObject();
			cJSON_AddStringToObject(what, "reference", resource);
		} else {
			what = ident_who("urn:ehrgate:hook", hook ? hook : event ? event : "unknown");
		}
		cJSON_AddItemToObject(ent, "what", what);
		cJSON_AddItemToObject(ent, "type", coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"));
		cJSON_AddItemToObject(ent, "role", coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"));
		cJSON_AddItemToArray(arr, ent);
	}
	if (patient) {
		cJSON *what = cJSON_CreateObject();
		ent = cJSON_CreateObject();
		if (strncmp(patient, "Patient/", 8) == 0) {
			cJSON_AddStringToObject(what, "reference", patient);
		} else {
			cJSON *id2 = cJSON_AddObjectToObject(what, "identifier");
			cJSON_AddStringToObject(id2, "value", patient);
		}
		cJSON_AddItemToObject(ent, "what", what);
		cJSON_AddItemToObject(ent, "type", coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"));
		cJSON_AddItemToObject(ent, "role", coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"));
		cJSON_AddItemToArray(arr, ent);
	}
	if (decision || status_s[0]) {
		cJSON *det, *rules = cJSON_GetObjectItemCaseSensitive(in, "rules");
		ent = cJSON_CreateObject();
		cJSON_AddItemToObject(ent, "type", coding("urn:ehrgate:audit", "policy-decision", "Policy decision"));
		det = cJSON_AddArrayToObject(ent, "detail");
		if (decision)
			detail(det, "decision", decision);
		if (cJSON_IsArray(rules)) {
			struct buf rb;
			const cJSON *r;
			int n = 0;
			buf_init(&rb, 4096);
			cJSON_ArrayForEach(r, rules)
				if (cJSON_IsString(r) && buf_printf(&rb, "%s%s", n++ ? "," : "", r->valuestring) != 0)
					break;
			if (rb.len)
				detail(det, "rules", rb.p);
			buf_fini(&rb);
		} else if (cJSON_IsString(rules)) {
			detail(det, "rules", rules->valuestring);
		}
		if (status_s[0])
			detail(det, "status", status_s);
		cJSON_AddItemToArray(arr, ent);
	}
	if ((rc = json_print(ev, out)) != 0 || (rc = buf_append(out, "\n", 1)) != 0)
		err_set(e, rc, "record seq %llu: AuditEvent larger than the output limit", (unsigned long long)rec->seq);
out:
	cJSON_Delete(ev);
	cJSON_Delete(in);
	return rc;
}
