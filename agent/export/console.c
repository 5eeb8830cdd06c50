// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The console exporter, sonde's default when no collector is configured: each span is printed
 * the moment it is submitted, under a header line the first time its trace is seen, indented
 * below its parent when that parent was printed in the last few seconds. Spans of one trace
 * arrive out of order (a server span finishes after its outgoing client calls), so this is a
 * best-effort tree; the ids on every line keep it unambiguous. Memory is bounded: a small ring of
 * recent span ids and trace ids, overwritten oldest first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exporter_impl.h"

#define RECENT_SPANS 512
#define RECENT_TRACES 128
#define RECENT_MS 10000
#define MAX_DEPTH 8
#define FLUSH_DELAY_MS 50
#define VALUE_MAX 96

struct recent_span {
	uint8_t span_id[8];
	uint8_t depth;
	uint64_t ms;
};

struct recent_trace {
	uint8_t trace_id[16];
	uint64_t ms;
};

struct console_exporter {
	struct exporter base;
	FILE *out;
	bool flush_armed;
	uint32_t next_span;
	uint32_t next_trace;
	struct recent_span spans[RECENT_SPANS];
	struct recent_trace traces[RECENT_TRACES];
};

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case SPAN_KIND_SERVER:
		return "SERVER";
	case SPAN_KIND_CLIENT:
		return "CLIENT";
	case SPAN_KIND_INTERNAL:
		return "INTERNAL";
	default:
		return "SPAN";
	}
}

static const char *status_name(uint8_t status)
{
	switch (status) {
	case SPAN_STATUS_OK:
		return "OK";
	case SPAN_STATUS_ERROR:
		return "ERROR";
	default:
		return "-";
	}
}

static void hex(char *dst, const uint8_t *id, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		dst[2 * i] = digits[id[i] >> 4];
		dst[2 * i + 1] = digits[id[i] & 15];
	}
	dst[2 * len] = '\0';
}

static void fmt_duration(char *dst, size_t size, uint64_t start, uint64_t end)
{
	uint64_t ns = end > start ? end - start : 0;

	if (ns < 1000000)
		snprintf(dst, size, "%.0fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(dst, size, "%.1fms", ns / 1e6);
	else
		snprintf(dst, size, "%.2fs", ns / 1e9);
}

/* Print a value readably on one line: control bytes escaped, long values cut. */
static void put_value(FILE *out, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < VALUE_MAX; i++) {
		unsigned char c = v[i];

		if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	if (len > VALUE_MAX)
		fputs("...", out);
}

static void put_attrs(FILE *out, const struct span_attr *attrs, uint16_t n, const char *str)
{
	uint16_t i;

	for (i = 0; i < n; i++) {
		const struct span_attr *a = &attrs[i];

		fprintf(out, "%s%s=", i ? " " : "", a->key);
		if (a->type == ATTR_STR)
			put_value(out, str + a->off, a->len);
		else if (a->type == ATTR_BOOL)
			fputs(a->i ? "true" : "false", out);
		else
			fprintf(out, "%" PRId64, a->i);
	}
}

/* Depth of a span whose parent was printed recently, 0 otherwise; -1 when parent is unseen. */
static int parent_depth(const struct console_exporter *c, const struct span *s, uint64_t now)
{
	uint32_t i;

	if (span__id_is_zero(s->parent_span_id, 8))
		return 0;
	for (i = 0; i < RECENT_SPANS; i++) {
		const struct recent_span *r = &c->spans[i];

		if (r->ms && now - r->ms < RECENT_MS && !memcmp(r->span_id, s->parent_span_id, 8))
			return r->depth + 1 > MAX_DEPTH ? MAX_DEPTH : r->depth + 1;
	}
	return -1;
}

static bool trace_seen(struct console_exporter *c, const struct span *s, uint64_t now)
{
	struct recent_trace *t;
	uint32_t i;

	for (i = 0; i < RECENT_TRACES; i++) {
		t = &c->traces[i];
		if (t->ms && now - t->ms < RECENT_MS && !memcmp(t->trace_id, s->trace_id, 16)) {
			t->ms = now;
			return true;
		}
	}
	t = &c->traces[c->next_trace++ % RECENT_TRACES];
	memcpy(t->trace_id, s->trace_id, 16);
	t->ms = now;
	return false;
}

static void on_flush(struct loop *l, void *ctx)
{
	struct console_exporter *c = ctx;

	c->flush_armed = false;
	fflush(c->out);
}

static int console_submit(struct exporter *e, const struct span *s)
{
	struct console_exporter *c = (struct console_exporter *)e;
	char trace[33], span[17], parent[17], dur[32];
	const struct span_attr *svc = NULL;
	uint64_t now = loop__now_ms();
	struct recent_span *r;
	int depth;

	e->stats.spans_in++;
	if (s->res)
		svc = resource__find_attr(s->res, "service.name");
	hex(trace, s->trace_id, 16);
	hex(span, s->span_id, 8);
	hex(parent, s->parent_span_id, 8);
	fmt_duration(dur, sizeof(dur), s->start_unix_ns, s->end_unix_ns);

	if (!trace_seen(c, s, now))
		fprintf(c->out, "trace %s\n", trace);
	depth = parent_depth(c, s, now);
	/* An unseen parent is marked, so a reader knows this is not the trace's root. */
	fprintf(c->out, "%*s%s ", 2 + 2 * (depth > 0 ? depth : 0), "", depth < 0 ? "^" : "-");
	if (svc && svc->type == ATTR_STR)
		put_value(c->out, resource__attr_str(s->res, svc), svc->len);
	else if (s->res)
		fprintf(c->out, "pid:%u", s->res->pid);
	else
		fputs("?", c->out);
	fprintf(c->out, "  %s  %.*s  %s  %s  span=%.8s parent=%.8s\n", kind_name(s->kind),
		(int)strnlen(s->name, sizeof(s->name)), s->name, status_name(s->status), dur, span,
		depth == 0 && span__id_is_zero(s->parent_span_id, 8) ? "-" : parent);
	if (s->n_attrs) {
		fprintf(c->out, "%*s", 6 + 2 * (depth > 0 ? depth : 0), "");
		uint16_t n = s->n_attrs < SPAN_MAX_ATTRS ? s->n_attrs : SPAN_MAX_ATTRS;

		put_attrs(c->out, s->attrs, n, s->str);
		fputc('\n', c->out);
	}

	r = &c->spans[c->next_span++ % RECENT_SPANS];
	memcpy(r->span_id, s->span_id, 8);
	r->depth = depth > 0 ? depth : 0;
	r->ms = now;
	e->stats.spans_exported++;

	/* One fflush per burst of spans rather than per line. */
	if (!c->flush_armed && e->loop &&
	    loop__arm_timer(e->loop, FLUSH_DELAY_MS, on_flush, c) > 0)
		c->flush_armed = true;
	else if (!e->loop)
		fflush(c->out);
	return 0;
}

static void console_flush(struct exporter *e, uint64_t deadline_ms)
{
	fflush(((struct console_exporter *)e)->out);
}

static void console_free(struct exporter *e)
{
	struct console_exporter *c = (struct console_exporter *)e;

	if (e->loop)
		loop__cancel_timer(e->loop, on_flush, c);
	fflush(c->out);
	free(c);
}

static const struct exporter_ops console_ops = {
	.name = "console",
	.submit = console_submit,
	.flush = console_flush,
	.free = console_free,
};

struct exporter *console_exporter__new(struct loop *l, FILE *out)
{
	struct console_exporter *c = calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->base.ops = &console_ops;
	c->base.loop = l;
	c->out = out ? out : stdout;
	return &c->base;
}
