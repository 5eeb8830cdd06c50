/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the PostgreSQL decoder. An input is a connection's I/Os as
 * tests/integration/pgutil.py's RecordingProxy writes them: a config byte (bits 0-3: bytes
 * captured per I/O, 64 to 1024 in steps of 64; bits 4-5: I/Os captured per run, 1 to 4), then
 * per I/O a direction byte (bit 0: from the client), a 16-bit big-endian length and the bytes.
 * The target plays the kernel and the core: runs, captured prefixes, counted tails and
 * gaps, run ends, close. Properties: every op is well-formed (strings terminated, end after
 * start, no batch of one, the core's part of its head zero, the OS thread of the I/O its actor
 * came from) and makes a well-formed span, there are never more ops than the client could have
 * asked for, each framing loss went to the sink once, and nothing is waiting after the close.
 * A broken property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"
#include "decoders/postgres.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

struct counts {
	uint64_t ops;
	uint64_t lost;
	struct sonde_config cfg;
	struct conn_info info;
};

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
static void check_span(const struct db_op *op, const struct counts *c)
{
	struct span sp;

	memset(&sp, 0, offsetof(struct span, attrs));
	postgres_decoder.build_span(&op->head, &sp, &c->info, &c->cfg);
	REQUIRE(sp.name[0] && memchr(sp.name, 0, sizeof(sp.name)));
	REQUIRE(sp.n_attrs <= SPAN_MAX_ATTRS && sp.str_used <= SPAN_STR_BYTES);
	REQUIRE(span__find_attr(&sp, "db.system.name"));
	REQUIRE((sp.status == SPAN_STATUS_ERROR) == op->error);
	if (c->cfg.db.query_mode == DB_QUERY_OFF)
		REQUIRE(!span__find_attr(&sp, "db.query.text"));
}

static void on_op(void *ctx, struct op_head *h)
{
	const struct db_op *op = (const struct db_op *)h;
	struct counts *c = ctx;

	check_head(h);
	REQUIRE(op->system == DB_POSTGRESQL);
	REQUIRE(op->head.end_ns >= op->head.start_ns);
	REQUIRE(op->batch_size != 1);
	REQUIRE(memchr(op->operation, 0, sizeof(op->operation)));
	REQUIRE(memchr(op->collection, 0, sizeof(op->collection)));
	REQUIRE(memchr(op->namespace_, 0, sizeof(op->namespace_)));
	REQUIRE(memchr(op->status_code, 0, sizeof(op->status_code)));
	REQUIRE(memchr(op->error_type, 0, sizeof(op->error_type)));
	REQUIRE(memchr(op->query, 0, sizeof(op->query)));
	REQUIRE(memchr(op->summary, 0, sizeof(op->summary)));
	REQUIRE(!(op->error && op->head.incomplete));
	check_span(op, c);
	c->ops++;
}

static void on_lost(void *ctx, bool from_client)
{
	struct counts *c = ctx;

	c->lost++;
}

/* The run of one direction ended at ts. */
static void run_end(const struct decoder *d, void *st, bool client, uint64_t ts,
		    const struct decoder_sink *out)
{
	struct sonde_run_summary run = {.last_ts_ns = ts};

	d->run_end(st, client, &run, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct decoder *d = &postgres_decoder;
	static struct counts cnt;
	struct decoder_env env = {.cfg = &cnt.cfg, .conn = &cnt.info};
	struct decoder_sink out = {.done = on_op, .lost = on_lost, .ctx = &cnt};
	struct postgres_counts pc;
	size_t cap, per_run, i = 1, in_run = 0;
	uint64_t ts = 1000, gap = 0, client_bytes = 0;
	int dir = -1;
	void *st;

	if (size < 1)
		return 0;
	memset(&cnt, 0, sizeof(cnt));
	cnt.info.have_tuple = true;
	cnt.info.sport = 40000;
	cnt.info.dport = 5432;
	cap = 64 * (1 + (data[0] & 15));
	per_run = 1 + ((data[0] >> 4) & 3);
	cnt.cfg.db.query_mode = (enum db_query_mode)((data[0] >> 6) % 3);
	st = d->create(&env);
	REQUIRE(st);
	while (i + 3 <= size) {
		bool client = data[i] & 1;
		size_t n = (size_t)data[i + 1] << 8 | data[i + 2];
		struct decoder_chunk f = {0};
		uint8_t *copy;

		i += 3;
		if (n > size - i)
			n = size - i;
		ts += 7;
		if (client)
			client_bytes += n;
		if ((int)client != dir) {
			if (dir >= 0) {
				if (gap) {
					struct decoder_chunk g = {.gap = gap, .ts = ts};

					d->feed(st, dir == 1, &g, &out);
				}
				run_end(d, st, dir == 1, ts, &out);
			}
			dir = client;
			in_run = 0;
			gap = 0;
			f.run_start = true;
			d->detect(data + i, n < cap ? n : cap, &cnt.info);
		}
		if (in_run++ >= per_run) {
			gap += n; /* the kernel only counts it */
			i += n;
			continue;
		}
		f.len = n < cap ? n : cap;
		copy = malloc(f.len ? f.len : 1); /* exact size: ASan sees a read past it */
		memcpy(copy, data + i, f.len);
		f.data = copy;
		f.gap = gap;
		f.tail = n - f.len;
		f.ts = ts;
		f.actor = client ? 1 : 2;
		f.tid = client ? 101 : 102;
		gap = 0;
		d->feed(st, client, &f, &out);
		free(copy);
		i += n;
	}
	if (dir >= 0) {
		if (gap) {
			struct decoder_chunk g = {.gap = gap, .ts = ts};

			d->feed(st, dir == 1, &g, &out);
		}
		run_end(d, st, dir == 1, ts, &out);
	}
	d->waiting(st);
	d->close(st, ts + 1, &out);
	REQUIRE(!d->waiting(st));
	/* every op answers a client message of 5 bytes at least */
	REQUIRE(cnt.ops <= client_bytes / 5);
	postgres_get_counts(st, &pc);
	REQUIRE(pc.lost == cnt.lost);
	REQUIRE(pc.pending == 0);
	d->destroy(st);
	return 0;
}
