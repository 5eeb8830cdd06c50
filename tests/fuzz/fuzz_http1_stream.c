/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the HTTP/1.x decoder (http1_decoder.c) behind the decoder interface, as
 * the stream cursor drives it: a conversation of I/Os in both directions, with gaps, cut I/Os,
 * run starts and run ends. The input goes to two decoders, one I/O at a time and with every I/O
 * split in two at a point drawn from the input, and the same operations must come out of both:
 * the framing must not depend on where reads end. It also checks what the core relies on:
 * every operation is begun before it is answered or done, done once, its start before its end,
 * its span builds with terminated strings; each framing loss goes to the sink once; nothing is
 * reported after a give-up; closing leaves nothing waiting.
 *
 * Input: byte 0 = flags: bit 0 this process is the server (else the client), bit 1 the kernel's
 * capture limits (the first 4 I/Os of a run, 512 bytes each; the rest only counted). Then
 * records: a header byte (bit 7 the client sent it, bit 6 the run's first I/O; bits 4-5: 0
 * data, 1 data after a 16-bit gap, 2 data then a 16-bit tail, 3 the run of that direction ends),
 * a 16-bit little-endian length and that many bytes (at most 1024, the record's room).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/decoder.h"

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
#define MAX_OPS 64 /* begun and not done at once: the decoder's bound is lower */

static struct sonde_config cfg;

struct tally {
	const struct decoder *dec;
	void *st;
	struct conn_info info;
	const struct op_head *open[MAX_OPS]; /* begun, not done */
	int n_open;
	uint64_t begun, done, lost, hash, ids;
	uint32_t give_up;
	bool is_lost[2]; /* a direction lost its framing, and no run started since */
};

static void mix(struct tally *t, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		t->hash = (t->hash ^ b[i]) * 1099511628211ULL;
}

static int find_open(struct tally *t, const struct op_head *op)
{
	int i;

	for (i = 0; i < t->n_open; i++)
		if (t->open[i] == op)
			return i;
	return -1;
}

static void on_begin(void *ctx, struct op_head *op)
{
	struct tally *t = ctx;

	REQUIRE(!t->give_up && find_open(t, op) < 0 && t->n_open < MAX_OPS);
	REQUIRE(!op->begun && !op->awaiting_peer);
	/* what the core does: ids, distinct per operation */
	op->begun = true;
	t->ids++;
	memcpy(op->trace_id, &t->ids, sizeof(t->ids));
	memcpy(op->span_id, &t->ids, sizeof(t->ids));
	t->open[t->n_open++] = op;
	t->begun++;
}

static void on_answered(void *ctx, struct op_head *op, uint64_t ts)
{
	struct tally *t = ctx;

	REQUIRE(find_open(t, op) >= 0);
}

static void on_done(void *ctx, struct op_head *op)
{
	struct tally *t = ctx;
	struct span sp;
	int i = find_open(t, op), k;

	REQUIRE(i >= 0 && op->begun);
	REQUIRE(!op->end_ns || op->end_ns >= op->start_ns);
	t->open[i] = t->open[--t->n_open];
	t->done++;
	memset(&sp, 0, sizeof(sp));
	t->dec->build_span(op, &sp, &t->info, &cfg);
	REQUIRE(memchr(sp.name, '\0', sizeof(sp.name)) != NULL);
	REQUIRE(sp.n_attrs <= SPAN_MAX_ATTRS && sp.str_used <= SPAN_STR_BYTES);
	for (k = 0; k < sp.n_attrs; k++)
		REQUIRE(sp.attrs[k].type != ATTR_STR ||
			sp.attrs[k].off + sp.attrs[k].len <= sp.str_used);
	mix(t, &op->start_ns, sizeof(op->start_ns));
	mix(t, &op->end_ns, sizeof(op->end_ns));
	mix(t, &op->incomplete, sizeof(op->incomplete));
	mix(t, sp.name, strlen(sp.name));
	mix(t, &sp.status, sizeof(sp.status));
	mix(t, &sp.n_attrs, sizeof(sp.n_attrs));
}

/* A loss is told once: the framing is not lost again before a run start picks it up. */
static void on_lost(void *ctx, bool from_client)
{
	struct tally *t = ctx;

	REQUIRE(!t->is_lost[from_client]);
	t->is_lost[from_client] = true;
	t->lost++;
}

static void on_policy(void *ctx, uint8_t policy)
{
	REQUIRE(policy == SONDE_CAPTURE_RUNS || policy == SONDE_CAPTURE_HTTP1_STATUS);
}

static void on_give_up(void *ctx, bool not_mine)
{
	((struct tally *)ctx)->give_up++;
}

/* Upgraded (h2c): the decoder reads nothing more, as after a give-up. */
static void on_upgraded(void *ctx)
{
	((struct tally *)ctx)->give_up++;
}

static void on_count(void *ctx, enum decoder_event ev)
{
	REQUIRE(ev <= DEC_PIPELINED_SUMMARY);
}

static void feed(struct tally *t, const struct decoder_sink *out, bool from_client,
		 const struct decoder_chunk *c)
{
	if (t->give_up)
		return;
	if (c->run_start)
		t->is_lost[from_client] = false;
	t->dec->feed(t->st, from_client, c, out);
}

/* One I/O, whole or in two pieces cut at `at` (the second piece takes the tail). */
static void io(struct tally *t, const struct decoder_sink *out, bool from_client,
	       const struct decoder_chunk *c, size_t at)
{
	struct decoder_chunk a = *c, b = *c;

	if (!at || at >= c->len) {
		feed(t, out, from_client, c);
		return;
	}
	a.len = at;
	a.tail = 0;
	b.data = c->data + at;
	b.len = c->len - at;
	b.gap = 0;
	b.run_start = false;
	feed(t, out, from_client, &a);
	feed(t, out, from_client, &b);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Run the conversation through one decoder; split: cut each I/O where the input says. */
static void run(struct tally *t, const uint8_t *data, size_t size, bool split)
{
	struct decoder_sink out = {on_begin,   on_answered, on_done,  on_lost, on_policy,
				   on_give_up, on_upgraded, on_count, t};
	struct decoder_env env = {.cfg = &cfg, .conn = &t->info};
	bool limits = data[0] & 2;
	uint32_t ios[2] = {0, 0};
	uint64_t ts = 1000;
	size_t i = 1;

	t->dec = &http1_decoder;
	t->st = t->dec->create(&env);
	REQUIRE(t->st);
	while (i + 3 <= size) {
		uint8_t h = data[i];
		bool from_client = h & 0x80, start = h & 0x40;
		uint16_t len = rd16(data + i + 1) & 0x3ff, extra = 0;
		struct decoder_chunk c = {0};
		int kind = (h >> 4) & 3;

		i += 3;
		if (len > size - i)
			len = (uint16_t)(size - i);
		if ((kind == 1 || kind == 2) && i + len + 2 <= size)
			extra = rd16(data + i + len);
		ts += 10;
		if (kind == 3) {
			struct sonde_run_summary run = {.first_ts_ns = ts, .last_ts_ns = ts,
							.seq = 1, .dir = 1};

			if (!t->give_up)
				t->dec->run_end(t->st, from_client, &run, &out);
		} else {
			if (start)
				ios[from_client] = 0;
			c.data = data + i;
			c.len = len;
			c.gap = kind == 1 ? extra : 0;
			c.tail = kind == 2 ? extra : 0;
			c.ts = ts;
			c.actor = c.tid = 7;
			c.run_start = start;
			if (limits && ++ios[from_client] > CAP_IOS) {
				c.gap += c.len + c.tail; /* only counted */
				c.len = c.tail = 0;
				c.data = NULL;
			} else if (limits && c.len > CAP_BYTES) {
				c.tail += c.len - CAP_BYTES;
				c.len = CAP_BYTES;
			}
			io(t, &out, from_client, &c, split && len ? data[i] % len : 0);
		}
		i += len + (kind == 1 || kind == 2 ? 2 : 0);
	}
	if (!t->give_up) {
		t->dec->close(t->st, ts + 10, &out);
		REQUIRE(!t->dec->waiting(t->st));
		REQUIRE(t->n_open == 0 && t->begun == t->done);
	}
	t->dec->destroy(t->st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tally a = {0}, b = {0};

	if (size < 1)
		return 0;
	a.info.role = b.info.role = data[0] & 1 ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
	a.info.have_tuple = b.info.have_tuple = true;
	a.info.sport = b.info.sport = 8080;
	a.info.dport = b.info.dport = 40000;
	memcpy(a.info.peer, "127.0.0.1", 10);
	memcpy(b.info.peer, "127.0.0.1", 10);
	a.info.peer_len = b.info.peer_len = 9;
	run(&a, data, size, false);
	run(&b, data, size, true);
	REQUIRE(a.done == b.done && a.hash == b.hash && a.give_up == b.give_up &&
		a.lost == b.lost);
	return 0;
}
