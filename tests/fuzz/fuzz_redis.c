/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the Redis decoder. The input is a conversation: a flags byte, then
 * records, each one I/O of one direction (see below). The target feeds it to two decoders, one
 * I/O at a time and with every I/O split in two at a point drawn from the input, and requires
 * the same operations from both: the tokenizer must not depend on where reads end. It also
 * checks each operation (strings terminated, a start before the end, no more operations than
 * commands, the core's part of its head zero, the OS thread of the I/O its actor came from) and
 * its span, that each framing loss went to the sink once, that a decoder gives up at most once
 * and reports nothing after, and that closing leaves nothing waiting. With the capture flag, the
 * kernel's limits are applied as sonde's defaults do (4 I/Os per run, 512 bytes each, the rest
 * only counted).
 *
 * Input: byte 0 = flags: bits 0-1 query mode (3 = sanitized), bit 2 the Redis port for
 * detection, bit 3 capture limits. Then records: a header byte (bit 7 client, bit 6 the run's
 * first I/O; bits 4-5: 0 data, 1 data after a 16-bit gap, 2 data then a 16-bit tail, 3 the run
 * of the other direction ends), a 16-bit little-endian length and that many bytes.
 * The seeds in corpus/redis/ are real redis-cli, redis-benchmark and redis-py conversations,
 * recorded by tests/integration/redisutil.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"
#include "decoders/redis.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define CAP_BYTES 512
#define CAP_IOS 4

static struct sonde_config cfg;
static struct conn_info info;

struct tally {
	uint64_t n;
	uint64_t hash;
	uint64_t lost;	  /* sink lost calls */
	uint32_t give_up; /* sink give_up calls */
};

static void mix(struct tally *t, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		t->hash = (t->hash ^ b[i]) * 1099511628211ULL;
}

static void check_str(const char *s, size_t sz)
{
	REQUIRE(memchr(s, '\0', sz) != NULL);
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
static void check_span(const struct db_op *op)
{
	struct span sp;

	memset(&sp, 0, offsetof(struct span, attrs));
	redis_decoder.build_span(&op->head, &sp, &info, &cfg);
	REQUIRE(sp.name[0] && memchr(sp.name, 0, sizeof(sp.name)));
	REQUIRE(sp.n_attrs <= SPAN_MAX_ATTRS && sp.str_used <= SPAN_STR_BYTES);
	REQUIRE(span__find_attr(&sp, "db.system.name"));
	REQUIRE((sp.status == SPAN_STATUS_ERROR) == op->error);
	if (cfg.db.query_mode == DB_QUERY_OFF)
		REQUIRE(!span__find_attr(&sp, "db.query.text"));
}

static void on_op(void *ctx, struct op_head *h)
{
	const struct db_op *op = (const struct db_op *)h;
	struct tally *t = ctx;

	REQUIRE(!t->give_up); /* nothing after giving up */
	check_head(h);
	REQUIRE(op->system == DB_REDIS);
	REQUIRE(op->head.end_ns >= op->head.start_ns);
	check_str(op->operation, sizeof(op->operation));
	check_str(op->namespace_, sizeof(op->namespace_));
	check_str(op->status_code, sizeof(op->status_code));
	check_str(op->error_type, sizeof(op->error_type));
	check_str(op->query, sizeof(op->query));
	check_str(op->summary, sizeof(op->summary));
	REQUIRE(!op->error || op->status_code[0]);
	check_span(op);
	t->n++;
	mix(t, &op->head.start_ns, sizeof(op->head.start_ns));
	mix(t, &op->head.end_ns, sizeof(op->head.end_ns));
	mix(t, &op->head.actor, sizeof(op->head.actor));
	mix(t, &op->head.tid, sizeof(op->head.tid));
	mix(t, &op->returned_rows, sizeof(op->returned_rows));
	mix(t, &op->error, sizeof(op->error));
	mix(t, &op->head.incomplete, sizeof(op->head.incomplete));
	mix(t, op->operation, strlen(op->operation));
	mix(t, op->namespace_, strlen(op->namespace_));
	mix(t, op->status_code, strlen(op->status_code));
	mix(t, op->query, strlen(op->query));
}

static void on_lost(void *ctx, bool from_client)
{
	struct tally *t = ctx;

	t->lost++;
}

static void on_give_up(void *ctx, bool not_mine)
{
	struct tally *t = ctx;

	REQUIRE(not_mine); /* the only reason a database decoder gives up */
	t->give_up++;
}

/* The run of one direction ended at ts. */
static void run_end(void *st, bool cli, uint64_t ts, const struct decoder_sink *out)
{
	struct sonde_run_summary run = { .last_ts_ns = ts };

	redis_decoder.run_end(st, cli, &run, out);
}

/* Where each direction's run stands, to apply the kernel's capture limits. */
struct dir_run {
	int ios;
	uint64_t skipped; /* bytes of this run not captured, not yet reported */
};

/* The two decoders fed the same conversation: a with whole I/Os, b with split ones. */
struct pair {
	void *a, *b;
	struct tally ta, tb;
	struct decoder_sink oa, ob;
};

static void feed_one(struct pair *pr, bool cli, const uint8_t *p, size_t n, uint64_t gap,
		     uint64_t tail, uint64_t ts, bool start, size_t split)
{
	struct decoder_chunk f = { 0 };

	/* a: the I/O as one piece */
	f.data = p;
	f.len = n;
	f.gap = gap;
	f.tail = tail;
	f.ts = ts;
	f.actor = cli ? 1 : 2;
	f.tid = cli ? 101 : 102;
	f.run_start = start;
	redis_decoder.feed(pr->a, cli, &f, &pr->oa);
	/* b: the same I/O in two pieces */
	if (split > n)
		split = n;
	f.len = split;
	f.tail = 0;
	redis_decoder.feed(pr->b, cli, &f, &pr->ob);
	f.data = p + split;
	f.len = n - split;
	f.gap = 0;
	f.tail = tail;
	f.run_start = false;
	redis_decoder.feed(pr->b, cli, &f, &pr->ob);
}

/* The run of one direction ends: what it skipped goes by first. */
static void run_ends(struct pair *pr, bool cli, struct dir_run *r, uint64_t ts)
{
	struct decoder_chunk f = { 0 };

	if (r->skipped) {
		f.gap = r->skipped;
		f.ts = ts;
		redis_decoder.feed(pr->a, cli, &f, &pr->oa);
		redis_decoder.feed(pr->b, cli, &f, &pr->ob);
		r->skipped = 0;
	}
	run_end(pr->a, cli, ts, &pr->oa);
	run_end(pr->b, cli, ts, &pr->ob);
}

/* Both decoders said the same, within bounds; then both close with nothing left waiting. */
static void finish(struct pair *pr, uint64_t ts)
{
	struct redis_counts ca, cb;

	REQUIRE(pr->ta.n == pr->tb.n);
	REQUIRE(pr->ta.hash == pr->tb.hash);
	redis_get_counts(pr->a, &ca);
	redis_get_counts(pr->b, &cb);
	REQUIRE(ca.commands == cb.commands && ca.pushes == cb.pushes && ca.lost == cb.lost);
	REQUIRE(ca.lost == pr->ta.lost && cb.lost == pr->tb.lost);
	REQUIRE(pr->ta.give_up <= 1 && pr->ta.give_up == pr->tb.give_up);
	REQUIRE(pr->ta.n <= ca.commands);
	REQUIRE(ca.pending <= 256);
	redis_decoder.close(pr->a, ts + 1, &pr->oa);
	redis_decoder.close(pr->b, ts + 1, &pr->ob);
	REQUIRE(!redis_decoder.waiting(pr->a) && !redis_decoder.waiting(pr->b));
	REQUIRE(pr->ta.n == pr->tb.n && pr->ta.hash == pr->tb.hash);
	REQUIRE(pr->ta.n <= ca.commands);
	redis_decoder.destroy(pr->a);
	redis_decoder.destroy(pr->b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pair pr = {
		.ta = { 0, 1469598103934665603ULL, 0, 0 },
		.tb = { 0, 1469598103934665603ULL, 0, 0 },
		.oa = { .done = on_op, .lost = on_lost, .give_up = on_give_up, .ctx = &pr.ta },
		.ob = { .done = on_op, .lost = on_lost, .give_up = on_give_up, .ctx = &pr.tb },
	};
	struct dir_run runs[2] = { { 0, 0 }, { 0, 0 } };
	struct decoder_env env = { .cfg = &cfg, .conn = &info };
	uint8_t flags;
	size_t off = 1;
	uint64_t ts = 1000;
	bool capture;

	if (size < 1)
		return 0;
	flags = data[0];
	cfg.db.query_mode = (flags & 3) == 3 ? DB_QUERY_SANITIZED : (enum db_query_mode)(flags & 3);
	capture = flags & 8;
	info.have_tuple = true;
	info.sport = (flags & 4) ? 6379 : 40000;
	info.dport = 50000;
	pr.a = redis_decoder.create(&env);
	pr.b = redis_decoder.create(&env);
	REQUIRE(pr.a && pr.b);

	while (off + 3 <= size) {
		uint8_t h = data[off];
		bool cli = h & 0x80, start = h & 0x40;
		int kind = (h >> 4) & 3;
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		uint64_t gap = 0, tail = 0;
		size_t split;
		struct dir_run *r = &runs[cli];

		off += 3;
		if (kind == 1 || kind == 2 || kind == 3) {
			uint64_t v;

			if (off + 2 > size)
				break;
			v = (uint64_t)data[off] | (uint64_t)data[off + 1] << 8;
			off += 2;
			if (kind == 1)
				gap = v;
			else if (kind == 2)
				tail = v;
		}
		if (len > size - off)
			len = size - off;
		ts += 1 + (h & 15);
		if (kind == 3) {
			/* the other direction's run ends */
			run_ends(&pr, !cli, &runs[!cli], ts);
			off += len;
			continue;
		}
		if (start) {
			r->ios = 0;
			r->skipped = 0;
		}
		split = len ? (size_t)(data[off + len / 2] % (len + 1)) : 0;
		if (capture) {
			if (r->ios >= CAP_IOS) {
				r->skipped += gap + len + tail; /* only counted */
				off += len;
				continue;
			}
			r->ios++;
			gap += r->skipped;
			r->skipped = 0;
			if (len > CAP_BYTES) {
				tail += len - CAP_BYTES;
				feed_one(&pr, cli, data + off, CAP_BYTES, gap, tail, ts, start,
					 split);
				off += len;
				continue;
			}
		}
		feed_one(&pr, cli, data + off, len, gap, tail, ts, start, split);
		off += len;
	}

	/* detection never reads past what it is given */
	redis_decoder.detect(data, size, &info);
	finish(&pr, ts);
	return 0;
}
