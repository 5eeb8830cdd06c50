/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the Redis decoder. The input is a conversation: a flags byte, then
 * records, each one I/O of one direction (see below). The target feeds it to two decoders, one
 * I/O at a time and with every I/O split in two at a point drawn from the input, and requires
 * the same operations from both: the tokenizer must not depend on where reads end. It also
 * checks each operation (strings terminated, a start before the end, no more operations than
 * commands) and that closing leaves nothing waiting. With the capture flag, the kernel's limits
 * are applied as sonde's defaults do (4 I/Os per run, 512 bytes each, the rest only counted).
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

struct tally {
	uint64_t n;
	uint64_t hash;
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

static void on_op(void *ctx, const struct db_op *op)
{
	struct tally *t = ctx;

	REQUIRE(op->system == DB_REDIS);
	REQUIRE(op->end_ns >= op->start_ns);
	check_str(op->operation, sizeof(op->operation));
	check_str(op->namespace_, sizeof(op->namespace_));
	check_str(op->status_code, sizeof(op->status_code));
	check_str(op->error_type, sizeof(op->error_type));
	check_str(op->query, sizeof(op->query));
	check_str(op->summary, sizeof(op->summary));
	REQUIRE(!op->error || op->status_code[0]);
	t->n++;
	mix(t, &op->start_ns, sizeof(op->start_ns));
	mix(t, &op->end_ns, sizeof(op->end_ns));
	mix(t, &op->tid, sizeof(op->tid));
	mix(t, &op->returned_rows, sizeof(op->returned_rows));
	mix(t, &op->error, sizeof(op->error));
	mix(t, &op->incomplete, sizeof(op->incomplete));
	mix(t, op->operation, strlen(op->operation));
	mix(t, op->namespace_, strlen(op->namespace_));
	mix(t, op->status_code, strlen(op->status_code));
	mix(t, op->query, strlen(op->query));
}

/* Where each direction's run stands, to apply the kernel's capture limits. */
struct dir_run {
	int ios;
	uint64_t skipped; /* bytes of this run not captured, not yet reported */
};

static void feed_one(void *a, void *b, bool cli, const uint8_t *p, size_t n, uint64_t gap,
		     uint64_t tail, uint64_t ts, bool start, size_t split, const struct db_sink *oa,
		     const struct db_sink *ob)
{
	struct db_feed f = { 0 };

	/* a: the I/O as one piece */
	f.data = p;
	f.len = n;
	f.gap = gap;
	f.tail = tail;
	f.ts = ts;
	f.tid = cli ? 1 : 2;
	f.run_start = start;
	redis_decoder.feed(a, cli, &f, oa);
	/* b: the same I/O in two pieces */
	if (split > n)
		split = n;
	f.len = split;
	f.tail = 0;
	redis_decoder.feed(b, cli, &f, ob);
	f.data = p + split;
	f.len = n - split;
	f.gap = 0;
	f.tail = tail;
	f.run_start = false;
	redis_decoder.feed(b, cli, &f, ob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tally ta = { 0, 1469598103934665603ULL }, tb = ta;
	struct db_sink oa = { on_op, &ta }, ob = { on_op, &tb };
	struct dir_run runs[2] = { { 0, 0 }, { 0, 0 } };
	struct db_options opt;
	struct redis_counts ca, cb;
	void *a, *b;
	uint8_t flags;
	size_t off = 1;
	uint64_t ts = 1000;
	bool capture;

	if (size < 1)
		return 0;
	flags = data[0];
	opt.query_mode = (flags & 3) == 3 ? DB_QUERY_SANITIZED : (enum db_query_mode)(flags & 3);
	capture = flags & 8;
	a = redis_decoder.create(&opt);
	b = redis_decoder.create(&opt);
	REQUIRE(a && b);

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
			/* the other direction's run ends: what it skipped goes by first */
			struct dir_run *o = &runs[!cli];
			struct db_feed f = { 0 };

			if (o->skipped) {
				f.gap = o->skipped;
				f.ts = ts;
				redis_decoder.feed(a, !cli, &f, &oa);
				redis_decoder.feed(b, !cli, &f, &ob);
				o->skipped = 0;
			}
			redis_decoder.run_end(a, !cli, ts, &oa);
			redis_decoder.run_end(b, !cli, ts, &ob);
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
				feed_one(a, b, cli, data + off, CAP_BYTES, gap, tail, ts, start,
					 split, &oa, &ob);
				off += len;
				continue;
			}
		}
		feed_one(a, b, cli, data + off, len, gap, tail, ts, start, split, &oa, &ob);
		off += len;
	}

	/* detection never reads past what it is given */
	redis_decoder.detect(data, size, (flags & 4) ? 6379 : 40000, 50000);

	REQUIRE(ta.n == tb.n);
	REQUIRE(ta.hash == tb.hash);
	redis_get_counts(a, &ca);
	redis_get_counts(b, &cb);
	REQUIRE(ca.commands == cb.commands && ca.pushes == cb.pushes && ca.lost == cb.lost);
	REQUIRE(ta.n <= ca.commands);
	REQUIRE(ca.pending <= 256);
	redis_decoder.close(a, ts + 1, &oa);
	redis_decoder.close(b, ts + 1, &ob);
	REQUIRE(!redis_decoder.waiting(a) && !redis_decoder.waiting(b));
	REQUIRE(ta.n == tb.n && ta.hash == tb.hash);
	REQUIRE(ta.n <= ca.commands);
	redis_decoder.destroy(a);
	redis_decoder.destroy(b);
	return 0;
}
