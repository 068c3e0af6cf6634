/* phi_names_test — the detector for names and cities of people who are not the patient in
 * context (sidecar/phi_names.c): every rule with positives, every deny-list class with
 * negatives (eponyms, months, word-names, drug brands, providers, organisations, terms named
 * after cities), JSON escapes and diacritics, segment boundaries, empty and one-byte input,
 * the word table itself, and the call from phi_scan. All names are synthetic.
 *
 * The detector is tested directly (phi_decode + phi_dec_bitmaps + phi_names_scan, hits in
 * decoded offsets) and through phi_scan (findings in raw offsets), so removing either the
 * detector or its call fails the tests. */
#include "sidecar/phi.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sidecar/phi_int.h"

#define MAXH 64

static struct phi_dec D;
static struct phi_hit H[MAXH];
static size_t NH;
static int stop_after; /* emit returns 1 after this many hits (0 = never) */

static int collect(void *arg, const struct phi_hit *h)
{
	(void)arg;
	if (NH < MAXH)
		H[NH] = *h;
	NH++;
	return stop_after && (int)NH >= stop_after ? 1 : 0;
}

/* Decode body as kind and run the detector alone. Returns its return value. */
static int run(const char *body, size_t len, enum phi_body kind)
{
	struct phi_vctx vc;

	NH = 0;
	assert_int_equal(phi_decode(&D, body, len, kind), 0);
	phi_dec_bitmaps(&D);
	memset(&vc, 0, sizeof(vc));
	vc.d = &D;
	return phi_names_scan(&vc, collect, NULL);
}

static void scan_text(const char *text)
{
	assert_int_equal(run(text, strlen(text), PHI_BODY_TEXT), 0);
}

static void dump(const char *text)
{
	fprintf(stderr, "  in: %s\n", text);
	for (size_t i = 0; i < NH && i < MAXH; i++)
		fprintf(stderr, "  hit %s [%.*s]\n", phi_type_name((enum phi_type)H[i].type), (int)(H[i].e - H[i].s),
			D.t + H[i].s);
}

/* Is there a hit of type t covering exactly the first occurrence of want in the decoded text? */
static bool hit_is(const char *want, enum phi_type t)
{
	const char *p = memmem(D.t, D.n, want, strlen(want));

	if (!p)
		return false;
	size_t s = (size_t)(p - D.t), e = s + strlen(want);
	for (size_t i = 0; i < NH && i < MAXH; i++)
		if (H[i].s == s && H[i].e == e && H[i].type == t && H[i].source == PHI_SRC_PATTERN)
			return true;
	return false;
}

struct pos_case {
	const char *text, *want;
	enum phi_type type;
};

static void check_positives(const struct pos_case *v, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		scan_text(v[i].text);
		if (!hit_is(v[i].want, v[i].type)) {
			fprintf(stderr, "MISSED %s [%s]\n", phi_type_name(v[i].type), v[i].want);
			dump(v[i].text);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void check_negatives(const char *const *v, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		scan_text(v[i]);
		if (NH) {
			fprintf(stderr, "FALSE POSITIVE\n");
			dump(v[i]);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- N1 "First Last" ------------------------------------------------------------------------ */

static void t_first_last(void **state)
{
	static const struct pos_case v[] = {
		{"Neighbor Maria Garcia drove the patient home.", "Maria Garcia", PHI_T_NAME},
		{"Yesterday Maria Garcia came by with soup.", "Maria Garcia", PHI_T_NAME},
		{"The note was dictated for Kwame Mensah last week.", "Kwame Mensah", PHI_T_NAME},
		{"Seen with Priya Patel in the waiting room.", "Priya Patel", PHI_T_NAME},
		{"Visitor: Wei Zhang.", "Wei Zhang", PHI_T_NAME},
		/* an unambiguous given name before a capitalised word that is not in the dictionary */
		{"Her friend Maria Xiuhtecuhtli called.", "Maria Xiuhtecuhtli", PHI_T_NAME},
		{"Roommate Ahmed Qwertzuiop will visit.", "Ahmed Qwertzuiop", PHI_T_NAME},
		/* an ambiguous given name before an unambiguous surname */
		{"Will Schmidt brought the forms.", "Will Schmidt", PHI_T_NAME},
		{"Hope Garcia is the emergency contact.", "Hope Garcia", PHI_T_NAME},
		/* middle initial, particles, second surname, suffix */
		{"Contact John Q. Public at home.", "John Q. Public", PHI_T_NAME},
		{"Contact John Q Public at home.", "John Q Public", PHI_T_NAME},
		{"Her aunt Maria de la Cruz lives nearby.", "Maria de la Cruz", PHI_T_NAME},
		{"Visited by Ludwig van Beethoven today.", "Ludwig van Beethoven", PHI_T_NAME},
		{"Then Maria Garcia Lopez signed the consent.", "Maria Garcia Lopez", PHI_T_NAME},
		{"Then Robert Downey Jr. arrived.", "Robert Downey Jr.", PHI_T_NAME},
		{"His brother Sean O'Brien called.", "Sean O'Brien", PHI_T_NAME},
		{"His sister Anna Garcia-Lopez called.", "Anna Garcia-Lopez", PHI_T_NAME},
		{"Her son Ji-hoon Park called.", "Ji-hoon Park", PHI_T_NAME},
		/* capitals in a header */
		{"PATIENT: MARIA GARCIA", "MARIA GARCIA", PHI_T_NAME},
		{"Known to us: Mrs. Ana Ruiz.", "Ana Ruiz", PHI_T_NAME},
	};

	(void)state;
	check_positives(v, N(v));
}

/* --- N2 "Last, First" ----------------------------------------------------------------------- */

static void t_last_first(void **state)
{
	static const struct pos_case v[] = {
		{"Ordered for Garcia, Maria today.", "Garcia, Maria", PHI_T_NAME},
		{"GARCIA, MARIA", "GARCIA, MARIA", PHI_T_NAME},
		{"SMITH, JOHN A", "SMITH, JOHN A", PHI_T_NAME},
		{"Nguyen, Thanh Q. was called.", "Nguyen, Thanh Q.", PHI_T_NAME},
		{"Referral for Okafor, Chinedu; see notes.", "Okafor, Chinedu", PHI_T_NAME},
	};

	(void)state;
	check_positives(v, N(v));
}

/* --- N3 a name after a cue, N4 an initial and a surname -------------------------------------- */

static void t_cues(void **state)
{
	static const struct pos_case v[] = {
		{"Her daughter, Xiomara, is at the bedside.", "Xiomara", PHI_T_NAME},
		{"Daughter Hope visited this morning.", "Hope", PHI_T_NAME},
		{"Wife: Ana at bedside.", "Ana", PHI_T_NAME},
		{"neighbor Zbigniew Qwyrtz drove her home.", "Zbigniew Qwyrtz", PHI_T_NAME},
		{"neighbor Xyloph Qwyrtz drove her home.", "Xyloph Qwyrtz", PHI_T_NAME},
		{"Dear Xiomara, thank you for the update.", "Xiomara", PHI_T_NAME},
		{"Signed, Lucinda Prewitt", "Lucinda Prewitt", PHI_T_NAME},
		{"Patient name: Xiomara Pzelk, 45F.", "Xiomara Pzelk", PHI_T_NAME},
		{"Name: Garcia", "Garcia", PHI_T_NAME},
		{"my name is maria lopez and I need a refill", "maria lopez", PHI_T_NAME},
		{"NAME: GARCIA, MARIA", "GARCIA, MARIA", PHI_T_NAME},
		{"Spoke with Maria about the plan.", "Maria", PHI_T_NAME},
		{"Accompanied by Garcia today.", "Garcia", PHI_T_NAME},
		{"Pt Garcia seen today.", "Garcia", PHI_T_NAME},
		{"Ana Ruiz (daughter) can be reached by phone.", "Ana Ruiz", PHI_T_NAME},
		{"Xiomara (granddaughter) will drive.", "Xiomara", PHI_T_NAME},
		{"Mrs. Maria Xyz came in.", "Maria Xyz", PHI_T_NAME},
		{"Results sent to J. Smith yesterday.", "J. Smith", PHI_T_NAME},
		{"Results sent to J. R. Okafor yesterday.", "J. R. Okafor", PHI_T_NAME},
	};

	(void)state;
	check_positives(v, N(v));
}

/* --- cities -------------------------------------------------------------------------------- */

static void t_cities(void **state)
{
	static const struct pos_case v[] = {
		/* C1 a state after the city */
		{"Previous address: 12 Oak Street, Springfield, IL 62701.", "Springfield", PHI_T_CITY},
		{"Moved here from Tulsa, OK last year.", "Tulsa", PHI_T_CITY},
		{"Mailing: 45 Elm Rd, Xyzville, OH 43004", "Xyzville", PHI_T_CITY},
		{"Mailing: 45 Elm Rd Xyzville OH 43004", "Xyzville", PHI_T_CITY},
		{"Born in Portland, Oregon.", "Portland", PHI_T_CITY},
		{"Lives in Salt Lake City, UT with her son.", "Salt Lake City", PHI_T_CITY},
		{"Address: 9 Main St, St. Louis, MO 63101", "St. Louis", PHI_T_CITY},
		{"Family in Jackson, MS 39201.", "Jackson", PHI_T_CITY},
		{"Last seen in Mobile, AL.", "Mobile", PHI_T_CITY},
		{"SPRINGFIELD, IL 62701", "SPRINGFIELD", PHI_T_CITY},
		/* C2 a cue before the city */
		{"She lives in Xyzburg with her sister.", "Xyzburg", PHI_T_CITY},
		{"Recently moved from Jackson to be near family.", "Jackson", PHI_T_CITY},
		{"He is a resident of Normal and works nights.", "Normal", PHI_T_CITY},
		{"Grew up in Tyler before the war.", "Tyler", PHI_T_CITY},
		{"Hometown: Xyzville.", "Xyzville", PHI_T_CITY},
		/* C3 an unambiguous city alone */
		{"Transferred to us from Boston yesterday.", "Boston", PHI_T_CITY},
		{"Her son flew in from San Francisco.", "San Francisco", PHI_T_CITY},
		{"She visited Albuquerque twice.", "Albuquerque", PHI_T_CITY},
		/* C4 county */
		{"Resident of Orange County since 1990.", "Orange County", PHI_T_CITY},
		{"Xyz County jail transferred him.", "Xyz County", PHI_T_CITY},
	};

	(void)state;
	check_positives(v, N(v));
}

/* --- deny lists: nothing may be reported ----------------------------------------------------- */

static void t_eponyms(void **state)
{
	static const char *const v[] = {
		"History of Parkinson's disease, stable.",
		"Parkinson disease with tremor.",
		"Down syndrome, trisomy 21.",
		"Bell's palsy on the left.",
		"Foley catheter placed at 08:00.",
		"Glasgow Coma Scale 15.",
		"Differential includes Parkinson disease, Bell's palsy and Hodgkin lymphoma.",
		"Cushing syndrome screen negative; Addison's disease unlikely; Graves disease in remission.",
		"Crohn disease, Hashimoto thyroiditis and Sjogren syndrome.",
		"Wilson disease ruled out; Raynaud phenomenon in winter.",
		"Guillain-Barre syndrome after the infection.",
		"Swan-Ganz catheter removed.",
		"Murphy's sign positive; McBurney point tender.",
		"Babinski sign absent; Kernig sign negative; Brudzinski sign negative.",
		"Apgar score 9 at five minutes.",
		"Barrett's esophagus on biopsy.",
		"Wolff-Parkinson-White pattern on ECG.",
		"Holter monitor for 48 hours; Doppler of the legs.",
		"Gram stain showed cocci.",
		"Trendelenburg position during the procedure.",
		"Kaposi sarcoma and Burkitt lymphoma.",
		"Wernicke encephalopathy; Korsakoff syndrome.",
		"Meniere disease with vertigo.",
		"Paget disease of bone.",
		"Ewing sarcoma; Wilms tumor.",
		"Lyme disease treated with doxycycline.",
		"Huntington disease in the family.",
		"Alzheimer dementia, moderate.",
		"Tourette syndrome since childhood.",
		"Marfan syndrome screening.",
		"Creutzfeldt-Jakob disease excluded.",
		"Jackson-Pratt drain output 30 mL.",
		"Mallory-Weiss tear on endoscopy.",
		"Stevens-Johnson syndrome after the antibiotic.",
		"Charcot-Marie-Tooth disease.",
		"Braden score 18; Morse fall score 45; Wells score 2.",
	};

	(void)state;
	check_negatives(v, N(v));
}

static void t_months_words(void **state)
{
	static const char *const v[] = {
		"May 2019 she fell at home.",
		"Seen on June 5 and again in April.",
		"Will continue current regimen. May increase dose if tolerated. Will recheck potassium.",
		"Hope is that she recovers. Grace period for the appointment.",
		"Family expresses hope for recovery; patient will walk with a walker and a cane.",
		"Mark the site. Bill the visit. Faith in the plan.",
		"Art therapy on Monday. Pat dry. Chase the labs.",
		"Normal saline at 100 mL/hr. Reading glasses. Mobile unit arrived.",
		"Temp 38.2 C at 22:15, 37.6 C at 02:30; cultures x2 pending.",
		"ECOG 1; NYHA class II; GCS 15; CHA2DS2-VASc 3; HAS-BLED 2.",
		"BP 142/88 mmHg, HR 88 bpm, RR 18, SpO2 97% on RA.",
		"Lives in Texas. Moved from California to Florida.",
		"Follow Up In Two Weeks With Repeat Labs.",
		"Plan: Continue Current Medications And Monitor.",
	};

	(void)state;
	check_negatives(v, N(v));
}

/* A realistic note: headings, services, scales, eponymous signs and terms, organisations. */
static void t_clinical_note(void **state)
{
	static const char *const v[] = {
		"HISTORY OF PRESENT ILLNESS: 67 yo with CHF exacerbation.",
		"ASSESSMENT AND PLAN: 1. Acute on chronic systolic heart failure.",
		"REVIEW OF SYSTEMS negative except as above. PHYSICAL EXAM: NAD.",
		"Patient seen and examined with Dr. Smith, attending.",
		"Discussed with Cardiology (Dr. Lee). Per Neurology, continue Keppra.",
		"Spoke with Pharmacy regarding Vancomycin dosing. Spoke with Case Management.",
		"Called Poison Control. Social Work consulted for placement.",
		"Family History: Mother - Diabetes, Father - MI. Mother: Breast Cancer. Father Coronary Artery Disease.",
		"Works as a teacher at Lincoln Elementary.",
		"Takes Tylenol PRN. Allergic to Penicillin and Sulfa. Started on Lasix 40 mg IV BID.",
		"Echo showed EF 35%. CT Head negative. Hemoglobin A1c 7.2%. Vitamin D deficiency.",
		"Methicillin-resistant Staphylococcus aureus. Escherichia coli in urine culture.",
		"Reviewed the Epic chart; MyChart message sent. Medicare Part B. Blue Cross Blue Shield.",
		"Kaiser Permanente member. Follows at Johns Hopkins Hospital and Mount Sinai.",
		"Treated at St. Jude Children's Research Hospital and Beth Israel Deaconess Medical Center.",
		"Brigham and Women's Hospital; Texas Children's; Cedars-Sinai.",
		"Lewy body dementia. Tinel sign and Phalen test positive. Epley maneuver done.",
		"Romberg positive. Whipple procedure. Nissen fundoplication. Roux-en-Y gastric bypass.",
		"Hickman line and PICC line. Lactated Ringer's at 125 mL/hr. Ringer's lactate bolus.",
		"Gleason 7; Breslow depth 2 mm; Karnofsky 80.",
		"Mini-Mental State Exam 24/30. Beck Depression Inventory 18.",
		"Hamilton Anxiety Scale 12. Columbia Suicide Severity Rating Scale negative.",
		"Richmond Agitation-Sedation Scale -1. Morse Fall Scale 45.",
		"New York Heart Association class III. Kansas City Cardiomyopathy Questionnaire.",
		"Seattle Heart Failure Model; Duke Activity Status Index; Charlson Comorbidity Index.",
		"San Francisco Syncope Rule negative. HEART score 3, TIMI 2, GRACE score 110.",
		"Child-Pugh class B; MELD-Na 18; Ranson criteria 2; Glasgow-Blatchford 6.",
		"Light's criteria met. Virchow's triad. Beck's triad. Cushing's triad. Kussmaul respirations.",
		"Cheyne-Stokes respirations. Bence Jones protein. Reed-Sternberg cells. Howell-Jolly bodies.",
		"Heinz bodies, Mallory bodies and Lewy bodies. Charcot joint. Osler nodes and Janeway lesions.",
		"Roth spots. Argyll Robertson pupil. Adie pupil. Horner syndrome. Marcus Gunn pupil.",
		"Austin Flint murmur. Graham Steell murmur. Kerley B lines. Hampton hump. Westermark sign.",
		"Homans sign negative. Rovsing sign. Grey Turner sign and Cullen sign absent.",
		"Lou Gehrig's disease. Tommy John surgery last year. Epstein-Barr virus. Norwalk virus.",
		"West Nile virus. Rocky Mountain spotted fever. St. Louis encephalitis.",
		"DR. SMITH reviewed. JOHN SMITH, MD.",
	};

	(void)state;
	check_negatives(v, N(v));
}

/* Names and cities of other people in realistic sentences. */
static void t_realistic_phi(void **state)
{
	static const struct pos_case v[] = {
		{"Mother, Rosa Martinez, is the health care proxy.", "Rosa Martinez", PHI_T_NAME},
		{"The patient's husband Tom brought her in.", "Tom", PHI_T_NAME},
		{"Her son (Carlos) is at bedside.", "Carlos", PHI_T_NAME},
		{"Emergency contact: Lucia Fernandez, cell phone on file.", "Lucia Fernandez", PHI_T_NAME},
		{"Lives with her partner, Sam.", "Sam", PHI_T_NAME},
		{"Next of kin: Ahmed Khan.", "Ahmed Khan", PHI_T_NAME},
		{"Patient's wife, Mei Ling Chen, provided history.", "Mei Ling Chen", PHI_T_NAME},
		{"Dr. Smith spoke with the patient's daughter, Jennifer Wu.", "Jennifer Wu", PHI_T_NAME},
		{"Kimberly Nguyen, her niece, called twice.", "Kimberly Nguyen", PHI_T_NAME},
		{"Michael and Sarah Johnson (parents) were updated.", "Sarah Johnson", PHI_T_NAME},
		{"Moved from Springfield, MO in 2015.", "Springfield", PHI_T_CITY},
		{"He grew up in Baton Rouge, Louisiana.", "Baton Rouge", PHI_T_CITY},
		{"Moved to Phoenix in 2010.", "Phoenix", PHI_T_CITY},
		{"She lives in Cedar Rapids near her son.", "Cedar Rapids", PHI_T_CITY},
		{"Resides at 10 Main St, Ames, IA 50010.", "Ames", PHI_T_CITY},
	};

	(void)state;
	check_positives(v, N(v));
}

static void t_brands_providers_orgs(void **state)
{
	static const char *const v[] = {
		"Continue Lipitor 40 mg and Allegra 180 mg daily.",
		"Started Eliquis; stopped Xarelto. Ozempic weekly.",
		"Seen by Dr. Maria Chen today.",
		"Seen by Dr. Chen today.",
		"Discussed with Maria Garcia, MD and Ana Ruiz, RN.",
		"Electronically signed by Maria Garcia, M.D.",
		"Nurse Jackson updated the chart.",
		"Transferred from Henry Ford Hospital.",
		"Records from Virginia Mason Medical Center.",
		"Device by Boston Scientific.",
		"Follows at Mayo Clinic and Cleveland Clinic.",
		"Boston criteria for amyloid angiopathy; Denver shunt placed.",
		"Philadelphia chromosome positive.",
		"Rome IV criteria met.",
		"Framingham risk score 12%.",
		"Signed Tree Head verified.",
		"Hello World program.",
	};

	(void)state;
	check_negatives(v, N(v));
}

/* --- JSON, diacritics, segments, edge inputs ------------------------------------------------- */

static void t_json_and_diacritics(void **state)
{
	static const char json[] = "{\"note\":\"Neighbor Mar\\u00eda Garc\\u00eda drove.\"}";
	static const char utf8[] = "Her sister \xc3\x89lise Dubois called. Wife Ren\xc3\xa9" "e at bedside.";
	static const char quoted[] = "Her friend \xe2\x80\x9cMaria Garcia\xe2\x80\x9d called.";

	(void)state;
	assert_int_equal(run(json, strlen(json), PHI_BODY_JSON), 0);
	assert_true(hit_is("Mar\xc3\xad" "a Garc\xc3\xad" "a", PHI_T_NAME));
	scan_text(utf8);
	assert_true(hit_is("\xc3\x89lise Dubois", PHI_T_NAME));
	assert_true(hit_is("Ren\xc3\xa9" "e", PHI_T_NAME));
	scan_text(quoted);
	assert_true(hit_is("Maria Garcia", PHI_T_NAME));
}

static void t_segments(void **state)
{
	/* two JSON strings: the name parts and the cue are in different segments */
	static const char split[] = "{\"a\":\"Neighbor\",\"b\":\"Maria\",\"c\":\"Garcia\"}";
	static const char split2[] = "{\"a\":\"lives in\",\"b\":\"Xyzburg\"}";
	static const char split3[] = "{\"a\":\"Xyzville,\",\"b\":\"IL 62701\"}";

	(void)state;
	assert_int_equal(run(split, strlen(split), PHI_BODY_JSON), 0);
	assert_int_equal(NH, 0);
	assert_int_equal(run(split2, strlen(split2), PHI_BODY_JSON), 0);
	assert_int_equal(NH, 0);
	assert_int_equal(run(split3, strlen(split3), PHI_BODY_JSON), 0);
	assert_int_equal(NH, 0);
	/* a text body with a line break between the parts */
	scan_text("Maria\nGarcia");
	assert_int_equal(NH, 0);
	/* the whole name inside one JSON string is found */
	assert_int_equal(run("{\"a\":\"Neighbor Maria Garcia\"}", strlen("{\"a\":\"Neighbor Maria Garcia\"}"), PHI_BODY_JSON), 0);
	assert_true(hit_is("Maria Garcia", PHI_T_NAME));
}

static void t_edges(void **state)
{
	static const char *const tiny[] = {"", "M", "m", "n", "N", "A.", "Ma", "Mr", "name", "Name:", "MA", ", MA",
					   "Dr. ", "\xc3", "\xc3\x89", "Maria", "Boston", "J. S"};

	(void)state;
	for (size_t i = 0; i < N(tiny); i++) {
		scan_text(tiny[i]);
		if (strcmp(tiny[i], "Boston") == 0)
			assert_true(hit_is("Boston", PHI_T_CITY));
		else
			assert_int_equal(NH, 0);
	}
	/* a body of exactly 64 and 65 bytes, the name at the very end */
	char b[80];
	memset(b, 'x', sizeof(b));
	memcpy(b, "x ", 2);
	memcpy(b + 64 - 22, " neighbor Maria Garcia", 22);
	assert_int_equal(run(b, 64, PHI_BODY_TEXT), 0);
	assert_true(hit_is("Maria Garcia", PHI_T_NAME));
	memcpy(b + 65 - 22, " neighbor Maria Garcia", 22);
	assert_int_equal(run(b, 65, PHI_BODY_TEXT), 0);
	assert_true(hit_is("Maria Garcia", PHI_T_NAME));
	/* emit asking to stop: the detector returns its value at once */
	stop_after = 1;
	assert_int_equal(run("Neighbor Maria Garcia and Tulsa, OK and Boston.", 47, PHI_BODY_TEXT), 1);
	assert_int_equal(NH, 1);
	stop_after = 0;
}

/* --- the table ------------------------------------------------------------------------------- */

static void t_table(void **state)
{
	size_t given = 0, sur = 0, city = 0;

	(void)state;
	/* every word finds its own flags (no two words collide in the hashed table) and the
	 * list is sorted and unique (the generator's contract) */
	for (size_t i = 0; i < phi_names_nwords; i++) {
		const struct phi_names_word *w = &phi_names_words[i];
		assert_int_equal(strlen(w->w), w->len);
		if (phi_names_lookup(w->w, w->len) != w->flags) {
			fprintf(stderr, "table word %s: flags %x, lookup %x\n", w->w, w->flags, phi_names_lookup(w->w, w->len));
			fail();
		}
		if (i)
			assert_true(strcmp(phi_names_words[i - 1].w, w->w) < 0);
		given += !!(w->flags & PHI_NW_GIVEN);
		sur += !!(w->flags & PHI_NW_SURNAME);
		city += (w->flags & PHI_NW_CITY) != 0;
	}
	assert_true(given >= 1000);
	assert_true(sur >= 1500);
	assert_true(city >= 800);
	assert_int_equal(phi_names_lookup("qwertzuiop", 10), 0);
	assert_int_equal(phi_names_lookup("", 0), 0);
	assert_true(phi_names_lookup("maria", 5) & PHI_NW_GIVEN);
	assert_true(phi_names_lookup("garcia", 6) & PHI_NW_SURNAME);
	assert_true(phi_names_lookup("salt lake city", 14) & PHI_NW_CITY);
	assert_true(phi_names_lookup("salt lake", 9) & PHI_NW_CITY_PFX);
	assert_true(phi_names_lookup("parkinson", 9) & PHI_NW_EPONYM);
	assert_true(phi_names_lookup("will", 4) & PHI_NW_AMBIG);
	assert_true(phi_names_lookup("mobile", 6) & PHI_NW_CAMBIG);
	assert_true(phi_names_lookup("ma", 2) & PHI_NW_STATECODE);
}

/* --- through phi_scan ------------------------------------------------------------------------ */

static void t_phi_scan(void **state)
{
	struct phi_config cfg;
	struct phi_engine *eng;
	struct phi_scratch *scr;
	struct phi_findings f;
	struct err e;
	static const char body[] =
		"{\"note\":\"Neighbor Xiomara Pzelk drove the patient home. Glasgow Coma Scale 15. Previous address: "
		"45 Oak Street, Xyzville, OH 43004.\"}";
	bool name = false, city = false;

	(void)state;
	phi_config_init(&cfg);
	assert_int_equal(phi_engine_new(&cfg, &eng, &e), 0);
	scr = phi_scratch_new(eng);
	assert_non_null(scr);
	phi_findings_init(&f, 0);
	assert_int_equal(phi_scan(eng, scr, NULL, body, strlen(body), PHI_BODY_JSON, &f, &e), 0);
	for (size_t i = 0; i < f.n; i++) {
		const char *s = body + f.v[i].start;
		size_t l = f.v[i].end - f.v[i].start;
		if (f.v[i].type == PHI_T_NAME && l == 13 && memcmp(s, "Xiomara Pzelk", 13) == 0)
			name = true;
		if (f.v[i].type == PHI_T_CITY && l == 8 && memcmp(s, "Xyzville", 8) == 0)
			city = true;
		/* nothing on the scale */
		assert_false(f.v[i].start <= (size_t)(strstr(body, "Glasgow") - body) &&
			     f.v[i].end > (size_t)(strstr(body, "Glasgow") - body));
	}
	assert_true(name);
	assert_true(city);
	/* a route that drops NAME/CITY findings keeps the rest (the type mask reaches the detector) */
	phi_findings_fini(&f);
	phi_scratch_free(scr);
	phi_engine_free(eng);
	phi_config_init(&cfg);
	cfg.types_enabled_mask = PHI_TYPES_ALL & ~(PHI_TYPE_BIT(PHI_T_NAME) | PHI_TYPE_BIT(PHI_T_CITY));
	assert_int_equal(phi_engine_new(&cfg, &eng, &e), 0);
	scr = phi_scratch_new(eng);
	phi_findings_init(&f, 0);
	assert_int_equal(phi_scan(eng, scr, NULL, body, strlen(body), PHI_BODY_JSON, &f, &e), 0);
	for (size_t i = 0; i < f.n; i++)
		assert_true(f.v[i].type != PHI_T_NAME && f.v[i].type != PHI_T_CITY);
	phi_findings_fini(&f);
	phi_scratch_free(scr);
	phi_engine_free(eng);
}

static int teardown(void **state)
{
	(void)state;
	phi_dec_fini(&D);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_first_last),
		cmocka_unit_test(t_last_first),
		cmocka_unit_test(t_cues),
		cmocka_unit_test(t_cities),
		cmocka_unit_test(t_eponyms),
		cmocka_unit_test(t_months_words),
		cmocka_unit_test(t_brands_providers_orgs),
		cmocka_unit_test(t_clinical_note),
		cmocka_unit_test(t_realistic_phi),
		cmocka_unit_test(t_json_and_diacritics),
		cmocka_unit_test(t_segments),
		cmocka_unit_test(t_edges),
		cmocka_unit_test(t_table),
		cmocka_unit_test(t_phi_scan),
	};

	return cmocka_run_group_tests_name("phi_names", tests, NULL, teardown);
}
