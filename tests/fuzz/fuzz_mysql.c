/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the MySQL/MariaDB decoder. An input is a conversation: chunks of
 * [direction byte (bit 0: 0 client, 1 server)][2-byte little-endian length][bytes], each one
 * I/O, as tests/integration/mysqlutil.py records them from real clients (other inputs are read
 * the same way, lengths cut to what is left). The conversation goes through the decoder three
 * times:
 *   - whole: every byte captured, one feed per I/O;
 *   - split: the same I/Os cut into random pieces, all captured;
 *   - as the kernel gives it: per run only the first few I/Os with a prefix each, the rest as
 *     counted gaps and tails, run ends and a close, with limits picked from the input.
 * Properties: whole and split report the same operations (framing does not depend on where a
 * read ends); every op is well formed (terminated strings, end >= start, a MySQL system, rows
 * >= -1, the core's part of its head zero, the OS thread of the I/O its actor came from) and
 * makes a well-formed span; the number of ops is bounded by the commands the client could have
 * sent; each framing loss went to the sink once; nothing is waiting after the close. A broken
 * property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"
#include "decoders/mysql.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define MAX_OPS 4096

struct rec {
	size_t n;
	struct db_op ops[64]; /* the first ones, kept to compare */
	uint64_t client_bytes;
	uint64_t lost;	      /* sink lost calls */
	struct sonde_config cfg;
	struct conn_info info;
};

static uint64_t prng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t hash(const uint8_t *d, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 1099511628211ULL;
	return h | 1;
}

static void check_str(const char *s, size_t sz)
{
	REQUIRE(memchr(s, 0, sz) != NULL);
}

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The core's part of the head is zero, and the actor and thread came from one I/O. */
static void check_head(const struct op_head *h)
{
	REQUIRE(!h->has_ctx && zero(&h->ctx, sizeof(h->ctx)));
	REQUIRE(!h->begun && !h->awaiting_peer);
	REQUIRE(zero(h->trace_id, 16) && zero(h->span_id, 8) && zero(h->parent_id, 8));
	REQUIRE(h->tid == (h->actor ? h->actor + 100 : 0));
}

/* The span of the op: named, its attributes within bounds, an error only for an error. */
static void check_span(const struct db_op *op, const struct rec *r)
{
	struct span sp;

	memset(&sp, 0, offsetof(struct span, attrs));
	mysql_decoder.build_span(&op->head, &sp, &r->info, &r->cfg);
	REQUIRE(sp.name[0] && memchr(sp.name, 0, sizeof(sp.name)));
	REQUIRE(sp.n_attrs <= SPAN_MAX_ATTRS && sp.str_used <= SPAN_STR_BYTES);
	REQUIRE(span__find_attr(&sp, "db.system.name"));
	REQUIRE((sp.status == SPAN_STATUS_ERROR) == op->error);
	if (r->cfg.db.query_mode == DB_QUERY_OFF)
		REQUIRE(!span__find_attr(&sp, "db.query.text"));
}

static void on_op(void *ctx, struct op_head *h)
{
	const struct db_op *op = (const struct db_op *)h;
	struct rec *r = ctx;

	check_head(h);
	REQUIRE(op->system == DB_MYSQL || op->system == DB_MARIADB);
	REQUIRE(op->head.end_ns >= op->head.start_ns);
	REQUIRE(op->returned_rows >= -1);
	check_str(op->operation, sizeof(op->operation));
	check_str(op->collection, sizeof(op->collection));
	check_str(op->namespace_, sizeof(op->namespace_));
	check_str(op->status_code, sizeof(op->status_code));
	check_str(op->error_type, sizeof(op->error_type));
	check_str(op->query, sizeof(op->query));
	check_str(op->summary, sizeof(op->summary));
	check_span(op, r);
	if (r->n < sizeof(r->ops) / sizeof(r->ops[0]))
		r->ops[r->n] = *op;
	r->n++;
	REQUIRE(r->n <= MAX_OPS);
}

static void on_lost(void *ctx, bool from_client)
{
	struct rec *r = ctx;

	r->lost++;
}

/* The run of one direction ended at ts. */
static void run_end(void *st, bool from_client, uint64_t ts, const struct decoder_sink *out)
{
	struct sonde_run_summary run = { .last_ts_ns = ts };

	mysql_decoder.run_end(st, from_client, &run, out);
}

/* The decoder's state goes, once what it counted agrees with what it said. */
static void destroy(void *st, const struct rec *r)
{
	struct mysql_counts n;

	REQUIRE(!mysql_decoder.waiting(st));
	mysql_get_counts(st, &n);
	REQUIRE(n.lost == r->lost);
	REQUIRE(n.pending == 0);
	mysql_decoder.destroy(st);
}

struct chunk {
	bool from_client;
	const uint8_t *p;
	size_t n;
};

static size_t parse(const uint8_t *d, size_t size, struct chunk *c, size_t max)
{
	size_t off = 0, k = 0, len;

	while (off < size && k < max) {
		c[k].from_client = !(d[off] & 1);
		if (size - off < 3) {
			c[k].p = d + off + 1;
			c[k].n = size - off - 1;
			k++;
			break;
		}
		len = (size_t)d[off + 1] | (size_t)d[off + 2] << 8;
		off += 3;
		if (len > size - off)
			len = size - off;
		c[k].p = d + off;
		c[k].n = len;
		off += len;
		k++;
	}
	return k;
}

static bool same_op(const struct db_op *a, const struct db_op *b)
{
	return a->system == b->system && a->head.start_ns == b->head.start_ns &&
	       a->head.end_ns == b->head.end_ns && a->head.actor == b->head.actor &&
	       a->head.tid == b->head.tid && a->returned_rows == b->returned_rows &&
	       a->error == b->error && a->head.incomplete == b->head.incomplete &&
	       a->batch_size == b->batch_size &&
	       !strcmp(a->operation, b->operation) && !strcmp(a->collection, b->collection) &&
	       !strcmp(a->namespace_, b->namespace_) && !strcmp(a->status_code, b->status_code) &&
	       !strcmp(a->query, b->query) && !strcmp(a->summary, b->summary);
}

/* Every byte captured; pieces of at most max_piece bytes (0: whole I/Os). */
static void run_full(const struct chunk *c, size_t nc, size_t max_piece, uint64_t *rnd,
		     struct rec *r, enum db_query_mode mode)
{
	const struct decoder *d = &mysql_decoder;
	struct decoder_env env = { .cfg = &r->cfg, .conn = &r->info };
	struct decoder_sink out = { .done = on_op, .lost = on_lost, .ctx = r };
	void *st;
	size_t i, off, k;
	bool prev_client = false;
	uint64_t ts = 1000;

	r->cfg.db.query_mode = mode;
	st = d->create(&env);
	REQUIRE(st);
	for (i = 0; i < nc; i++) {
		bool start = i == 0 || c[i].from_client != prev_client;

		if (start && i)
			run_end(st, prev_client, ts, &out);
		ts += 1000;
		if (c[i].from_client)
			r->client_bytes += c[i].n;
		for (off = 0; off < c[i].n || (off == 0 && !c[i].n); off += k) {
			struct decoder_chunk f = { 0 };

			k = c[i].n - off;
			if (max_piece && k > 1) {
				size_t m = 1 + (size_t)(prng_next(rnd) % max_piece);

				k = k < m ? k : m;
			}
			f.data = c[i].p + off;
			f.len = k;
			f.ts = ts;
			f.actor = 7;
			f.tid = 107;
			f.run_start = start && off == 0;
			d->feed(st, c[i].from_client, &f, &out);
			if (!k)
				break;
		}
		prev_client = c[i].from_client;
	}
	if (nc)
		run_end(st, prev_client, ts, &out);
	d->close(st, ts + 1, &out);
	destroy(st, r);
}

/* As the kernel captures: per run the first `captures` I/Os with `cap` bytes each. */
static void run_kernel(const struct chunk *c, size_t nc, size_t cap, unsigned int captures,
		       struct rec *r)
{
	const struct decoder *d = &mysql_decoder;
	struct decoder_env env = { .cfg = &r->cfg, .conn = &r->info };
	struct decoder_sink out = { .done = on_op, .lost = on_lost, .ctx = r };
	void *st;
	size_t i;
	bool prev_client = false;
	unsigned int in_run = 0;
	uint64_t ts = 1000, pending_gap = 0;

	r->cfg.db.query_mode = DB_QUERY_SANITIZED;
	st = d->create(&env);
	REQUIRE(st);
	for (i = 0; i < nc; i++) {
		bool start = i == 0 || c[i].from_client != prev_client;
		struct decoder_chunk f = { 0 };

		if (start) {
			if (i) {
				if (pending_gap) {
					f.gap = pending_gap;
					f.ts = ts;
					d->feed(st, prev_client, &f, &out);
					memset(&f, 0, sizeof(f));
				}
				run_end(st, prev_client, ts, &out);
			}
			in_run = 0;
			pending_gap = 0;
		}
		ts += 1000;
		if (c[i].from_client)
			r->client_bytes += c[i].n;
		if (in_run++ >= captures) {
			pending_gap += c[i].n;
		} else {
			f.gap = pending_gap;
			pending_gap = 0;
			f.data = c[i].p;
			f.len = c[i].n < cap ? c[i].n : cap;
			f.tail = c[i].n - f.len;
			f.ts = ts;
			f.actor = 9;
			f.tid = 109;
			f.run_start = start;
			d->feed(st, c[i].from_client, &f, &out);
		}
		prev_client = c[i].from_client;
	}
	if (nc) {
		if (pending_gap) {
			struct decoder_chunk f = { 0 };

			f.gap = pending_gap;
			f.ts = ts;
			d->feed(st, prev_client, &f, &out);
		}
		run_end(st, prev_client, ts, &out);
	}
	d->close(st, ts + 1, &out);
	destroy(st, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chunk c[4096];
	static struct rec whole, split, kern;
	static const size_t caps[] = { 16, 64, 512, 1024 };
	uint64_t rnd = hash(data, size);
	size_t nc, i;

	nc = parse(data, size, c, sizeof(c) / sizeof(c[0]));
	if (nc) {
		struct conn_info info = { .have_tuple = true, .sport = 3306, .dport = 40000 };

		mysql_decoder.detect(c[0].p, c[0].n, &info);
	}

	memset(&whole, 0, sizeof(whole));
	run_full(c, nc, 0, &rnd, &whole, DB_QUERY_SANITIZED);
	REQUIRE(whole.n <= whole.client_bytes / 5 + 1);

	memset(&split, 0, sizeof(split));
	run_full(c, nc, 1 + (size_t)(prng_next(&rnd) % 9), &rnd, &split, DB_QUERY_SANITIZED);
	REQUIRE(split.n == whole.n);
	for (i = 0; i < whole.n && i < sizeof(whole.ops) / sizeof(whole.ops[0]); i++)
		REQUIRE(same_op(&whole.ops[i], &split.ops[i]));

	memset(&kern, 0, sizeof(kern));
	run_kernel(c, nc, caps[prng_next(&rnd) % 4], 1 + (unsigned int)(prng_next(&rnd) % 4),
		   &kern);
	REQUIRE(kern.n <= kern.client_bytes / 5 + 1);

	memset(&kern, 0, sizeof(kern));
	run_full(c, nc, 0, &rnd, &kern, DB_QUERY_RAW);
	REQUIRE(kern.n == whole.n);
	return 0;
}
