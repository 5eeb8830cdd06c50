// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The counters table (agent/counters.c): every field of every source has a row, names are
 * unique, each metric has one HELP, and the two outputs keep the form that tests and tools
 * parse. The sources' fields are read from their headers, so a counter added to a stats struct
 * or to enum sonde_counter without a row fails here.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "counters.h"
#include "unit.h"

#define MAX_FIELDS 64

struct field_list {
	char name[MAX_FIELDS][64];
	int n;
};

/* The repository's root, from this file's path as the compiler saw it. */
static void repo_path(char *out, size_t len, const char *rel)
{
	const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_counters.c");

	snprintf(out, len, "%.*s%s", tail ? (int)(tail - me) : 0, me, rel);
}

static char *read_text(const char *rel)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	repo_path(path, sizeof(path), rel);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s (run from the repository's root)\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n)
		buf[0] = 0;
	fclose(f);
	return buf;
}

/* Comments become blanks, so that what is left splits on ';' and ','. */
static void blank_comments(char *t)
{
	char *end;

	while ((t = strchr(t, '/'))) {
		if (t[1] == '*') {
			end = strstr(t + 2, "*/");
			end = end ? end + 2 : t + strlen(t);
		} else if (t[1] == '/') {
			end = strchr(t, '\n');
			end = end ? end : t + strlen(t);
		} else {
			t++;
			continue;
		}
		memset(t, ' ', end - t);
		t = end;
	}
}

/* The member named in piece: its last identifier (struct), or its first (enum). */
static void member_name(const char *p, const char *end, bool is_enum, struct field_list *out)
{
	const char *name = NULL, *q;
	size_t len = 0;

	for (q = p; q < end; q++) {
		if (*q == '[' || *q == ':' || (is_enum && *q == '='))
			break;
		if ((isalpha((unsigned char)*q) || *q == '_') &&
		    (q == p || !(isalnum((unsigned char)q[-1]) || q[-1] == '_'))) {
			name = q;
			for (len = 0; q + len < end && (isalnum((unsigned char)q[len]) || q[len] == '_');)
				len++;
			if (is_enum)
				break;
		}
	}
	if (!name || len >= sizeof(out->name[0]) || out->n >= MAX_FIELDS)
		return;
	if (is_enum && len > 4 && !strncmp(name + len - 4, "_MAX", 4))
		return; /* the array's size, not a counter */
	memcpy(out->name[out->n], name, len);
	out->name[out->n++][len] = 0;
}

/* The members of decl ("struct assembler_stats", "enum sonde_counter") in the header rel. */
static int members(const char *rel, const char *decl, struct field_list *out)
{
	char *text = read_text(rel), *p, *body = NULL, *end, *piece;
	bool is_enum = !strncmp(decl, "enum ", 5);

	out->n = 0;
	if (!text)
		return -1;
	blank_comments(text);
	for (p = text; (p = strstr(p, decl)); p++) {
		char *q = p + strlen(decl);

		while (isspace((unsigned char)*q))
			q++;
		if (*q == '{' && !(isalnum((unsigned char)p[strlen(decl)]) || p[strlen(decl)] == '_')) {
			body = q + 1;
			break;
		}
	}
	end = body ? strchr(body, '}') : NULL;
	if (!end) {
		free(text);
		return -1;
	}
	for (piece = body; piece < end;) {
		char *stop = piece;

		while (stop < end && *stop != (is_enum ? ',' : ';'))
			stop++;
		member_name(piece, stop, is_enum, out);
		piece = stop + 1;
	}
	free(text);
	return 0;
}

/* Where each field of the snapshot is declared; its members' names are prefixed in src. */
static const struct {
	const char *prefix, *header, *decl;
} sources[] = {
	{"bpf", "include/sonde_event.h", "enum sonde_counter"},
	{"as", "agent/assembler.h", "struct assembler_stats"},
	{"guard", "agent/cpu_guard.h", "struct cpu_guard_stats"},
	{"drain", "agent/counters.h", "struct drain_stats"},
	{"paths", "agent/counters.h", "struct tcpopt_path_stats"},
	{"exp", "agent/export/exporter.h", "struct exporter_stats"},
	{"up", "agent/counters.h", "struct uprobe_counts"},
};
#define N_SOURCES (sizeof(sources) / sizeof(sources[0]))

/* Members of the snapshot that are not counters. */
static const char *const snapshot_other[] = {"exp_name", "n_exporters", "up_name", "n_uprobes",
					     "propagation"};

/* The source a repeated line's rows read, for each instance; NULL for the others. */
static const char *instance_source(enum counters_line line)
{
	return line == COUNTERS_LINE_EXPORTER ? "exp" : line == COUNTERS_LINE_UPROBE ? "up" : NULL;
}

/* Does the row read prefix.name? */
static bool reads(const struct counter *c, const char *prefix, const char *name)
{
	char want[160];
	const char *p = c->src;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "%s.%s", prefix, name);
	while (p && (p = strstr(p, want))) {
		if ((p == c->src || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

TEST(every_snapshot_member_is_a_known_source)
{
	struct field_list snap;
	size_t i, j;
	int k;

	CHECK(members("agent/counters.h", "struct counters_snapshot", &snap) == 0);
	CHECK_EQ_INT(snap.n, N_SOURCES + sizeof(snapshot_other) / sizeof(snapshot_other[0]));
	for (k = 0; k < snap.n; k++) {
		bool known = false;

		for (i = 0; i < N_SOURCES; i++)
			known |= !strcmp(snap.name[k], sources[i].prefix);
		for (j = 0; j < sizeof(snapshot_other) / sizeof(snapshot_other[0]); j++)
			known |= !strcmp(snap.name[k], snapshot_other[j]);
		if (!known)
			fprintf(stderr, "  counters_snapshot.%s: add it to sources[] here\n",
				snap.name[k]);
		CHECK(known);
	}
}

TEST(every_source_field_has_a_row)
{
	struct field_list f;
	size_t i, r;
	int k;

	for (i = 0; i < N_SOURCES; i++) {
		CHECK(members(sources[i].header, sources[i].decl, &f) == 0);
		CHECK(f.n > 1);
		for (k = 0; k < f.n; k++) {
			bool found = false;

			for (r = 0; r < counters_n && !found; r++)
				found = reads(&counters[r], sources[i].prefix, f.name[k]);
			if (!found)
				fprintf(stderr, "  %s.%s (%s) has no row in agent/counters.c\n",
					sources[i].prefix, f.name[k], sources[i].decl);
			CHECK(found);
		}
	}
}

/* And the other way: every name a row reads is a field (a typo in a computed row's src). */
TEST(every_row_reads_real_fields)
{
	struct field_list f[N_SOURCES];
	char src[256], *tok, *save, *dot;
	size_t i, r;
	int k;

	for (i = 0; i < N_SOURCES; i++)
		CHECK(members(sources[i].header, sources[i].decl, &f[i]) == 0);
	for (r = 0; r < counters_n; r++) {
		const struct counter *c = &counters[r];

		CHECK(c->src && c->src[0]);
		snprintf(src, sizeof(src), "%s", c->src ? c->src : "");
		for (tok = strtok_r(src, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			bool found = false;

			dot = strchr(tok, '.');
			CHECK(dot != NULL);
			if (!dot)
				continue;
			*dot = 0;
			for (i = 0; i < N_SOURCES; i++) {
				if (strcmp(tok, sources[i].prefix))
					continue;
				for (k = 0; k < f[i].n; k++)
					found |= !strcmp(dot + 1, f[i].name[k]);
				/* an instance's fields only on its repeated line, and only there */
				CHECK(instance_source(c->line) ? !strcmp(tok, instance_source(c->line))
							       : strcmp(tok, "exp") && strcmp(tok, "up"));
			}
			if (!found)
				fprintf(stderr, "  row %zu reads %s.%s: no such field\n", r, tok, dot + 1);
			CHECK(found);
		}
	}
}

TEST(rows_are_well_formed)
{
	size_t r;

	for (r = 0; r < counters_n; r++) {
		const struct counter *c = &counters[r];
		size_t limit = c->line == COUNTERS_LINE_EXPORTER ? sizeof(struct exporter_stats)
			       : c->line == COUNTERS_LINE_UPROBE ? sizeof(struct uprobe_counts)
								 : sizeof(struct counters_snapshot);
		const char *p;

		CHECK(c->line < COUNTERS_LINE_MAX);
		CHECK(c->key || c->metric);
		CHECK(!c->text || (!c->value && !c->metric && c->key));
		CHECK(!c->metric == (c->type == COUNTER_NO_METRIC));
		CHECK(c->metric || !c->labels);
		CHECK(c->metric || c->help); /* a key-only row says what it counts */
		/* the text format would need them escaped; --list-counters splits on tabs */
		CHECK(!c->help || !strpbrk(c->help, "\\\n\t"));
		if (!c->value && !c->text)
			CHECK(c->off % sizeof(uint64_t) == 0 && c->off + sizeof(uint64_t) <= limit);
		for (p = c->key; p && *p; p++)
			CHECK(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
		if (c->metric) {
			size_t n = strlen(c->metric);
			bool total = n > 6 && !strcmp(c->metric + n - 6, "_total");

			CHECK(!strncmp(c->metric, "sonde_", 6));
			for (p = c->metric; *p; p++)
				CHECK(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
				      *p == '_');
			/* Prometheus' naming rule: counters, and only they, end in _total */
			CHECK(total == (c->type == COUNTER_TOTAL));
		}
		if (c->labels)
			CHECK(strstr(c->labels, "=\"") && !strchr(c->labels, '{') &&
			      !strchr(c->labels, '}') && !strstr(c->labels, "exporter=") &&
			      !strstr(c->labels, "target="));
		/* the repeated lines' rows come last: their metrics repeat for each instance */
		if (r && counters__line_repeats(counters[r - 1].line))
			CHECK(counters__line_repeats(c->line));
	}
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

TEST(names_are_unique_and_help_comes_once)
{
	size_t r, q;

	for (r = 0; r < counters_n; r++) {
		const struct counter *c = &counters[r];
		bool first = true;

		for (q = 0; q < r; q++) {
			const struct counter *o = &counters[q];

			if (c->key && o->key && c->line == o->line && !strcmp(c->key, o->key)) {
				fprintf(stderr, "  key %s twice in line %s\n", c->key,
					counters__line_name(c->line));
				CHECK(0);
			}
			if (!c->metric || !o->metric || strcmp(c->metric, o->metric))
				continue;
			first = false;
			if (same(c->labels, o->labels)) {
				fprintf(stderr, "  %s{%s} declared twice\n", c->metric,
					c->labels ? c->labels : "");
				CHECK(0);
			}
			CHECK(c->type == o->type);
			CHECK(c->line == o->line || (!counters__line_repeats(c->line) &&
						     !counters__line_repeats(o->line)));
		}
		if (!c->metric)
			continue;
		/* HELP on the first row of a name only, and its rows next to each other */
		CHECK(first ? c->help != NULL : c->help == NULL);
		if (!first)
			CHECK(counters[r - 1].metric && !strcmp(counters[r - 1].metric, c->metric));
	}
}

/* Distinct values in every source, set by name (the order of the fields does not matter). */
static void fill(struct counters_snapshot *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < SONDE_CNT_MAX; i++)
		s->bpf[i] = 100 + i;
	s->bpf[SONDE_CNT_SERVER_IDS] = 500;
	s->as.records = 201, s->as.conns_open = 202, s->as.conns_total = 203;
	s->as.conns_not_http = 204, s->as.conns_db = 205, s->as.conns_evicted = 206;
	s->as.conns_joined_late = 235;
	s->as.conns_upgraded = 236;
	s->as.conns_ignored = 207, s->as.conns_dropped = 208, s->as.spans = 209;
	s->as.spans_incomplete = 210, s->as.spans_db = 211, s->as.spans_unsampled = 212;
	s->as.parse_errors = 213, s->as.framing_lost = 214, s->as.orphan_responses = 215;
	s->as.pipeline_full = 216, s->as.links_thread = 217, s->as.links_tuple = 218;
	s->as.links_kernel = 219, s->as.links_ambiguous = 220, s->as.threads_taken_on = 221;
	s->as.links_unguessed = 222, s->as.responses_pipelined = 223, s->as.thread_pools = 234;
	s->as.links_batch = 227, s->as.links_batch_unsure = 228;
	s->as.red_series = 229, s->as.red_overflows = 230;
	s->as.go_streams_served = 231, s->as.go_streams_opened = 232, s->as.go_streams_unread = 233;
	s->as.conns_summarized = 224, s->as.conns_full_responses = 225, s->as.ctx_behind = 226;
	s->guard.yielding = true, s->guard.raises = 301, s->guard.raised_ms = 302500;
	s->drain.holds = 401, s->drain.holds_expired = 402, s->drain.wakeups = 403;
	s->paths.tallied = 501, s->paths.off = 502;
	for (i = 0; i < 2; i++) {
		struct exporter_stats *e = &s->exp[i];
		uint64_t b = 600 + 100 * i;

		e->spans_in = b + 1, e->spans_exported = b + 2, e->spans_dropped_full = b + 3;
		e->spans_dropped_failed = b + 4, e->spans_rejected = b + 5, e->spans_queued = b + 6;
		e->requests = b + 7, e->retries = b + 8, e->errors_http = b + 9;
		e->errors_transport = b + 10;
	}
	s->exp_name[0] = "otlp", s->exp_name[1] = "console", s->n_exporters = 2;
	s->up[0] = (struct uprobe_counts){801, 802, 803, 804};
	s->up_name[0] = "go-net/http", s->n_uprobes = 1;
	s->propagation = PROPAGATION_LINK | PROPAGATION_HEADER | PROPAGATION_TCP;
}

static char *stats_text(const struct counters_snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	counters__print_stats(f, s, "exit");
	fclose(f);
	return buf;
}

/* Byte for byte what the agent printed before the table: tests and bench/bench.py parse it. */
static const char golden_stats[] =
	"sonde: stats (exit): cpu=yield raises=301 raised_ms=302500 held=401 held_expired=402 "
	"wakeups=403\n"
	"sonde: stats (exit): uprobes=go-net/http uprobe_attached=801 uprobe_failed=802 "
	"uprobe_detached=803 uprobe_active=804\n"
	"sonde: stats (exit): io=100 records=101 ring_full=102 copy_fail=103 conns=203 open=202 "
	"not_http=204 joined_late=235 upgraded=236 spans=209 incomplete=210 parse_errors=213 "
	"framing_lost=214 orphans=215 ignored=207 db_conns=205 db_spans=211 links_thread=217 "
	"links_tuple=218 links_kernel=219 "
	"links_ambiguous=220 links_unguessed=222 go_streams_served=231 go_streams_opened=232 "
	"go_streams_unread=233 links_batch=227 links_batch_unsure=228 "
	"threads_taken_on=221 thread_pools=234 responses_summarized=118 "
	"responses_recorded=119 conns_summarized=224 conns_full_again=225 responses_pipelined=223 "
	"h2_conns=125 h2_walk_cut=126 h2_walk_lost=127 tls_conns=128 tls_io=129 tls_untied=130 head_finds=131 ctx_behind=226 red_series=229 red_overflows=230 unsampled=212\n"
	"sonde: stats (exit): server_ids=500 traceparent_in=108 traceparent_bad=109 injected=110 "
	"skip_untraced=111 skip_not_start=112 skip_not_http=113 skip_has_context=114 "
	"skip_split=115 skip_failed=116 skip_unsure=137 inject_unmerged=117\n"
	"sonde: stats (exit): tcpopt_requests=120 tcpopt_written=121 tcpopt_nospace=122 "
	"tcpopt_parsed=123 tcpopt_joined=124 tcpopt_lost=132 tcpopt_path_off=133 tcpopt_bare=134 "
	"tcpopt_missing=135 tcpopt_unsure=136 tcpopt_dests=501 tcpopt_dests_off=502\n"
	"sonde: stats (exit): exporter=otlp in=601 exported=602 dropped_full=603 dropped_failed=604 "
	"rejected=605 queued=606 requests=607 retries=608 http_errors=609 transport_errors=610\n"
	"sonde: stats (exit): exporter=console in=701 exported=702 dropped_full=703 "
	"dropped_failed=704 rejected=705 queued=706 requests=707 retries=708 http_errors=709 "
	"transport_errors=710\n";

TEST(stats_lines_keep_their_form)
{
	struct counters_snapshot s;
	char *text;

	fill(&s);
	text = stats_text(&s);
	CHECK_STR(text, golden_stats);
	free(text);

	/* Without header or TCP propagation their lines are left out; one exporter, one line. */
	s.propagation = PROPAGATION_LINK;
	s.n_exporters = 1;
	s.guard.raised = true;
	text = stats_text(&s);
	CHECK(strstr(text, "cpu=yield(raised) ") != NULL);
	CHECK(strstr(text, "server_ids=") == NULL && strstr(text, "tcpopt_") == NULL);
	CHECK(strstr(text, "exporter=otlp") && !strstr(text, "exporter=console"));
	free(text);
}

/* The longest values still fit the line buffer: nothing is cut. */
TEST(stats_lines_fit_the_largest_values)
{
	struct counters_snapshot s;
	char *text, *line;
	int lines = 0;

	memset(&s, 0xff, sizeof(s));
	s.guard.yielding = s.guard.raised = true; /* bools: 0xff is no value of theirs */
	s.exp_name[0] = s.exp_name[1] = "otlp";
	s.n_exporters = 2;
	s.up_name[0] = "go-net/http";
	s.n_uprobes = 1;
	s.propagation = PROPAGATION_HEADER | PROPAGATION_TCP;
	text = stats_text(&s);
	for (line = text; line && *line; line = strchr(line, '\n') + 1, lines++)
		CHECK(strchr(line, '\n') != NULL);
	CHECK_EQ_INT(lines, 7);
	CHECK(strstr(text, " unsampled=18446744073709551615\n") != NULL);
	CHECK(strstr(text, " transport_errors=18446744073709551615\n") != NULL);
	free(text);
}

/* A sample's name, cut at '{' or ' '. */
static void sample_name(const char *line, char *out, size_t len)
{
	size_t n = strcspn(line, "{ \n");

	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), line);
}

TEST(metrics_help_once_and_grouped)
{
	struct counters_snapshot s;
	char *buf = NULL, *line, *next, name[128], seen[4096] = " ", cur[128] = "", key[140];
	size_t len = 0, samples = 0, want = 0, r;
	FILE *f = open_memstream(&buf, &len);

	fill(&s);
	counters__render_metrics(f, &s, false);
	fclose(f);
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		CHECK(next != NULL);
		if (!next)
			break;
		*next++ = 0;
		if (!strncmp(line, "# HELP ", 7)) {
			sample_name(line + 7, name, sizeof(name));
			snprintf(key, sizeof(key), " %s ", name);
			CHECK(strstr(seen, key) == NULL); /* one HELP a name, one group a name */
			if (strlen(seen) + strlen(key) < sizeof(seen))
				strcat(seen, key + 1);
			snprintf(cur, sizeof(cur), "%s", name);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			sample_name(line + 7, name, sizeof(name));
			CHECK_STR(name, cur);
			continue;
		}
		sample_name(line, name, sizeof(name));
		CHECK_STR(name, cur); /* a sample follows its own metric's HELP */
		samples++;
	}
	for (r = 0; r < counters_n; r++)
		if (counters[r].metric)
			want += counters[r].line == COUNTERS_LINE_EXPORTER ? 2
				: counters[r].line == COUNTERS_LINE_UPROBE ? 1 : 1;
	CHECK_EQ_INT(samples, want);
	free(buf);
}

TEST(metrics_values_and_labels)
{
	struct counters_snapshot s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fill(&s);
	s.guard.raised = false;
	counters__render_metrics(f, &s, false);
	fclose(f);
	CHECK(strstr(buf, "\nsonde_links_total{via=\"connection\"} 218\n") != NULL);
	/* computed: the heads without a traceparent, the seconds raised, yielding now */
	CHECK(strstr(buf, "\nsonde_kernel_server_ids_total{traceparent=\"none\"} 283\n") != NULL);
	CHECK(strstr(buf, "\nsonde_cpu_raised_seconds_total 302\n") != NULL);
	CHECK(strstr(buf, "\nsonde_cpu_yielding 1\n") != NULL);
	CHECK(strstr(buf, "\nsonde_export_spans_dropped_total{exporter=\"console\","
			  "reason=\"failed\"} 704\n") != NULL);
	CHECK(strstr(buf, "\nsonde_uprobes_files{target=\"go-net/http\"} 804\n") != NULL);
	CHECK(strstr(buf, "# HELP sonde_connections_not_http_total Connections given up as no "
			  "protocol sonde decodes.\n# TYPE sonde_connections_not_http_total "
			  "counter\n") != NULL);
	free(buf);
}

TEST(list_has_a_line_per_row)
{
	char *buf = NULL, *p;
	size_t len = 0, lines = 0, tabs = 0;
	FILE *f = open_memstream(&buf, &len);

	counters__list(f);
	fclose(f);
	for (p = buf; *p; p++) {
		lines += *p == '\n';
		tabs += *p == '\t';
	}
	CHECK_EQ_INT(lines, counters_n);
	CHECK_EQ_INT(tabs, 5 * counters_n);
	CHECK(strstr(buf, "exporter\tdropped_full\tsonde_export_spans_dropped_total\t"
			  "reason=\"queue_full\"\tcounter\tSpans dropped, by reason.\n") != NULL);
	/* a later row of a metric shows its HELP too */
	CHECK(strstr(buf, "main\tlinks_kernel\tsonde_links_total\tvia=\"kernel\"\tcounter\tSpans "
			  "given a parent") != NULL);
	free(buf);
}

int main(void)
{
	RUN(every_snapshot_member_is_a_known_source);
	RUN(every_source_field_has_a_row);
	RUN(every_row_reads_real_fields);
	RUN(rows_are_well_formed);
	RUN(names_are_unique_and_help_comes_once);
	RUN(stats_lines_keep_their_form);
	RUN(stats_lines_fit_the_largest_values);
	RUN(metrics_help_once_and_grouped);
	RUN(metrics_values_and_labels);
	RUN(list_has_a_line_per_row);
	UNIT_DONE();
}
