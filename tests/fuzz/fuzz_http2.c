/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the HTTP/2 decoder (decoders/http2.c) as the agent drives it: the input
 * is a conversation of I/Os in both directions, each turned into the record the kernel writes
 * by a model of its frame walk (bpf/h2_frames.bpf.h: frame headers and header blocks kept,
 * left-out payloads, no record for an I/O of left-out bytes only inside a run, a record cut at
 * SONDE_FRAMES_MAX, a walk of too many frames lost for good), then handed over by the agent's
 * stream cursor (stream.c) with run ends, as the assembler does. A record may be lost on the
 * way (a full ring). The sink checks what the core relies on: an operation is begun once,
 * answered and done only while open, done once, its end not before its start, its span built
 * with terminated strings and attributes in bounds; nothing comes after the close, and the
 * close leaves nothing open or waiting.
 *
 * Input: byte 0 = flags: bit 0 this process is the server (else the client). Then I/Os: a
 * header byte (bit 7 the client's bytes, bit 6 its record is lost on the ring, bit 5 the bytes
 * are repeated (bits 0-4) + 1 times), a length byte and that many bytes. The client's first
 * 24 bytes are walked as the preface, whatever they hold.
 */
// fuzz-build: agent/stream.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/decoder.h"
#include "stream.h"
#include "../unit/h2_walk_model.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define MAX_OPEN 512	/* operations open at once: the decoder's bound is lower */

static struct sonde_config cfg;
static struct conn_info info;

struct tally {
	const struct op_head *open[MAX_OPEN]; /* begun and not done */
	bool answered[MAX_OPEN];
	int n_open;
	uint64_t begun, done, lost, ids;
	bool closed;
};

static int find_open(const struct tally *t, const struct op_head *op)
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

	REQUIRE(!t->closed && find_open(t, op) < 0 && t->n_open < MAX_OPEN);
	REQUIRE(!op->begun && !op->awaiting_peer && op->start_ns);
	/* what the core does: ids, distinct per operation */
	op->begun = true;
	t->ids++;
	memcpy(op->trace_id, &t->ids, sizeof(t->ids));
	memcpy(op->span_id, &t->ids, sizeof(t->ids));
	t->answered[t->n_open] = false;
	t->open[t->n_open++] = op;
	t->begun++;
}

static void on_answered(void *ctx, struct op_head *op, uint64_t ts)
{
	struct tally *t = ctx;
	int i = find_open(t, op);

	REQUIRE(!t->closed && i >= 0 && !t->answered[i]);
	REQUIRE(op->begun && ts >= op->start_ns);
	t->answered[i] = true;
}

static void check_span(const struct op_head *op)
{
	struct span sp;
	int k;

	memset(&sp, 0, sizeof(sp));
	http2_decoder.build_span(op, &sp, &info, &cfg);
	REQUIRE(sp.name[0] && memchr(sp.name, '\0', sizeof(sp.name)));
	REQUIRE(sp.n_attrs <= SPAN_MAX_ATTRS && sp.str_used <= SPAN_STR_BYTES);
	for (k = 0; k < sp.n_attrs; k++)
		REQUIRE(sp.attrs[k].type != ATTR_STR ||
			sp.attrs[k].off + sp.attrs[k].len <= sp.str_used);
	REQUIRE(span__find_attr(&sp, "network.protocol.version"));
	/* an error names its type */
	REQUIRE(sp.status != SPAN_STATUS_ERROR || span__find_attr(&sp, "error.type"));
}

static void on_done(void *ctx, struct op_head *op)
{
	struct tally *t = ctx;
	int i = find_open(t, op);

	REQUIRE(i >= 0 && op->begun);
	REQUIRE(op->start_ns && op->end_ns >= op->start_ns);
	check_span(op);
	t->open[i] = t->open[--t->n_open];
	t->answered[i] = t->answered[t->n_open];
	t->done++;
}

static void on_lost(void *ctx, bool from_client)
{
	struct tally *t = ctx;

	REQUIRE(!t->closed);
	t->lost++;
}

static void on_policy(void *ctx, uint8_t policy)
{
	REQUIRE(0); /* the kernel took H2_FRAMES itself */
}

static void on_give_up(void *ctx, bool not_mine)
{
	REQUIRE(0);
}

static void on_upgraded(void *ctx)
{
	REQUIRE(0);
}

static void on_count(void *ctx, enum decoder_event ev)
{
	REQUIRE(ev <= DEC_PIPELINED_SUMMARY);
}

/* --- the kernel's walk and the agent's cursor (as tests/unit/test_http2.c models them) ---- */

struct model {
	struct kcursor cur[2]; /* [1]: the client's bytes */
	uint32_t run_seq;
	int run_cli; /* -1: no run yet */
	uint64_t run_bytes, run_first, run_last;
	struct stream str[2];
	void *st;
	const struct decoder_sink *out;
	uint8_t rec[SONDE_FRAMES_MAX];
};

static uint16_t dir_of(bool cli)
{
	return cli ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
}

static void run_end(struct model *m, const struct sonde_run_summary *run)
{
	bool cli = run->dir == SONDE_DIR_EGRESS;
	struct stream_target t = {&http2_decoder, m->st, cli, m->out};

	if (run->dir != SONDE_DIR_NONE)
		stream__run_end(&m->str[cli], &t, run);
}

static void deliver(struct model *m, bool cli, const struct sonde_run_summary *prev,
		    struct stream_io *io, bool drop)
{
	struct stream_target t = {&http2_decoder, m->st, cli, m->out};
	uint8_t *copy;

	if (drop)
		return;
	if (!io->run_offset)
		run_end(m, prev);
	copy = malloc(io->cap ? io->cap : 1);
	REQUIRE(copy);
	memcpy(copy, io->data, io->cap);
	io->data = copy;
	stream__io(&m->str[cli], &t, io);
	free(copy);
}

static void kio(struct model *m, bool cli, const uint8_t *p, size_t n, uint64_t ts, bool drop)
{
	struct kcursor *c = &m->cur[cli], w = *c;
	struct sonde_run_summary prev = {0};
	struct stream_io io = {0};
	uint32_t len;
	bool cut;

	if (m->run_cli != (int)cli) {
		if (m->run_cli >= 0)
			prev = (struct sonde_run_summary){.first_ts_ns = m->run_first,
							  .last_ts_ns = m->run_last,
							  .bytes = m->run_bytes,
							  .seq = m->run_seq,
							  .dir = dir_of(m->run_cli)};
		m->run_seq++;
		m->run_cli = cli;
		m->run_first = ts;
		m->run_bytes = 0;
	}
	io.run_seq = m->run_seq;
	io.run_offset = m->run_bytes;
	io.io_bytes = (uint32_t)n;
	io.data = m->rec;
	io.ts = ts;
	io.actor = io.tid = cli ? 1 : 2;
	m->run_bytes += n;
	m->run_last = ts;
	if (c->lost)
		return;
	if (!h2m_walk(&w, p, n, m->rec, &len, &cut)) {
		c->lost = true;
		io.walk_flags = SONDE_WALK_ON | SONDE_WALK_LOST;
		deliver(m, cli, &prev, &io, drop);
		return;
	}
	io.cap = len;
	io.walk_flags = SONDE_WALK_ON | (c->elided ? SONDE_WALK_ELIDED : 0) |
			(cut ? SONDE_WALK_CUT : 0);
	io.walk_part = c->part;
	io.walk_left = c->left;
	*c = w;
	if (len || !io.run_offset)
		deliver(m, cli, &prev, &io, drop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct tally t = {0};
	struct decoder_sink out = {on_begin,   on_answered, on_done,  on_lost, on_policy,
				   on_give_up, on_upgraded, on_count, &t};
	struct decoder_env env = {.cfg = &cfg, .conn = &info};
	struct sonde_run_summary last;
	uint8_t *buf = NULL;
	uint64_t ts = 1000;
	size_t i = 1;

	if (size < 1)
		return 0;
	memset(&info, 0, sizeof(info));
	info.role = data[0] & 1 ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
	info.have_tuple = true;
	info.sport = 8080;
	info.dport = 40000;
	memcpy(info.peer, "10.0.0.2", 9);
	info.peer_len = 8;
	memset(&m, 0, sizeof(m));
	m.run_cli = -1;
	m.cur[1].left = 24; /* the preface */
	m.out = &out;
	m.st = http2_decoder.create(&env);
	REQUIRE(m.st);
	while (i + 2 <= size) {
		uint8_t h = data[i];
		size_t len = data[i + 1], reps = h & 0x20 ? (size_t)(h & 0x1f) + 1 : 1, r;

		i += 2;
		if (len > size - i)
			len = size - i;
		/* each I/O from an exact-size buffer: the model must not read past it either */
		buf = malloc(len * reps ? len * reps : 1);
		REQUIRE(buf);
		for (r = 0; r < reps; r++)
			memcpy(buf + r * len, data + i, len);
		ts += 10;
		kio(&m, h & 0x80, buf, len * reps, ts, h & 0x40);
		free(buf);
		i += len;
	}
	last = (struct sonde_run_summary){
		.first_ts_ns = m.run_first, .last_ts_ns = m.run_last, .bytes = m.run_bytes,
		.seq = m.run_seq, .dir = m.run_cli >= 0 ? dir_of(m.run_cli) : SONDE_DIR_NONE};
	run_end(&m, &last);
	http2_decoder.close(m.st, ts + 10, &out);
	t.closed = true;
	REQUIRE(t.n_open == 0 && t.begun == t.done);
	REQUIRE(!http2_decoder.waiting(m.st));
	/* nothing after the close */
	kio(&m, true, data, size < 64 ? size : 64, ts + 20, false);
	kio(&m, false, data, size < 64 ? size : 64, ts + 30, false);
	http2_decoder.destroy(m.st);
	/* detection never reads past what it is given */
	http2_decoder.detect(data, size, &info);
	return 0;
}
