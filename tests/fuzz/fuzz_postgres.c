/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the PostgreSQL decoder. An input is a connection's I/Os as
 * tests/integration/pgutil.py's RecordingProxy writes them: a config byte (bits 0-3: bytes
 * captured per I/O, 64 to 1024 in steps of 64; bits 4-5: I/Os captured per run, 1 to 4), then
 * per I/O a direction byte (bit 0: from the client), a 16-bit big-endian length and the bytes.
 * The target plays the kernel and the assembler: runs, captured prefixes, counted tails and
 * gaps, run ends, close. Properties: every op is well-formed (strings terminated, end after
 * start, no batch of one), there are never more ops than the client could have asked for, and
 * nothing is waiting after the close. A broken property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"

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
};

static void on_op(void *ctx, const struct db_op *op)
{
	struct counts *c = ctx;

	REQUIRE(op->system == DB_POSTGRESQL);
	REQUIRE(op->end_ns >= op->start_ns);
	REQUIRE(op->batch_size != 1);
	REQUIRE(memchr(op->operation, 0, sizeof(op->operation)));
	REQUIRE(memchr(op->collection, 0, sizeof(op->collection)));
	REQUIRE(memchr(op->namespace_, 0, sizeof(op->namespace_)));
	REQUIRE(memchr(op->status_code, 0, sizeof(op->status_code)));
	REQUIRE(memchr(op->error_type, 0, sizeof(op->error_type)));
	REQUIRE(memchr(op->query, 0, sizeof(op->query)));
	REQUIRE(memchr(op->summary, 0, sizeof(op->summary)));
	REQUIRE(!(op->error && op->incomplete));
	c->ops++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct db_decoder *d = &postgres_decoder;
	struct db_options opt = {.query_mode = DB_QUERY_SANITIZED};
	struct counts cnt = {0};
	struct db_sink out = {on_op, &cnt};
	size_t cap, per_run, i = 1, in_run = 0;
	uint64_t ts = 1000, gap = 0, client_bytes = 0;
	int dir = -1;
	void *st;

	if (size < 1)
		return 0;
	cap = 64 * (1 + (data[0] & 15));
	per_run = 1 + ((data[0] >> 4) & 3);
	opt.query_mode = (enum db_query_mode)((data[0] >> 6) % 3);
	st = d->create(&opt);
	REQUIRE(st);
	while (i + 3 <= size) {
		bool client = data[i] & 1;
		size_t n = (size_t)data[i + 1] << 8 | data[i + 2];
		struct db_feed f = {0};
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
					struct db_feed g = {.gap = gap, .ts = ts};

					d->feed(st, dir == 1, &g, &out);
				}
				d->run_end(st, dir == 1, ts, &out);
			}
			dir = client;
			in_run = 0;
			gap = 0;
			f.run_start = true;
			d->detect(data + i, n < cap ? n : cap, 40000, 5432);
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
		f.tid = client ? 1 : 2;
		gap = 0;
		d->feed(st, client, &f, &out);
		free(copy);
		i += n;
	}
	if (dir >= 0) {
		if (gap) {
			struct db_feed g = {.gap = gap, .ts = ts};

			d->feed(st, dir == 1, &g, &out);
		}
		d->run_end(st, dir == 1, ts, &out);
	}
	d->waiting(st);
	d->close(st, ts + 1, &out);
	REQUIRE(!d->waiting(st));
	/* every op answers a client message of 5 bytes at least */
	REQUIRE(cnt.ops <= client_bytes / 5);
	d->errors(st);
	d->destroy(st);
	return 0;
}
