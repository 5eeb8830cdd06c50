// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Detection: which protocol a connection speaks, from the first bytes of a run, asking every
 * row of the registry in order (decoder.h). The first detector that claims the bytes says which
 * end sent them, so which end this process is. An answer seen first (sonde joined an exchange
 * half-way) makes the connection wait for a later run, a few times; bytes of a protocol whose
 * decoder cannot start past a connection's first bytes (HTTP/2) give it up, counted apart. A
 * run whose first I/O is too short to tell (a client reading a 4-byte packet header alone) is
 * kept, and tried again with the next I/O of the run joined to it.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define DETECT_MIN 16	/* first bytes of a run too few to classify below this */
#define DETECT_BUF 64	/* bytes of a run kept to classify it */
#define MIDWAY_LIMIT 4	/* runs that start mid-exchange before a connection is given up */

struct detect_keep {
	uint8_t buf[DETECT_BUF];
	uint32_t len;
	uint32_t run_seq;
	uint32_t tid;
	uint16_t dir;
	uint64_t ts;
};

void classify__free(struct conn *c)
{
	free(c->keep);
	c->keep = NULL;
}

/* The first row that claims the bytes, and what it says; NULL and NO (or MIDWAY, or LATE)
 * else. */
static const struct decoder *detect(const struct conn *c, const uint8_t *p, size_t n,
				    enum detect_result *res)
{
	const struct decoder *const *d;
	bool midway = false, late = false;

	for (d = decoders; *d; d++) {
		*res = (*d)->detect(p, n, &c->info);
		if (*res == DETECT_CLIENT || *res == DETECT_SERVER)
			return *d;
		midway = midway || *res == DETECT_MIDWAY;
		late = late || *res == DETECT_LATE;
	}
	*res = midway ? DETECT_MIDWAY : late ? DETECT_LATE : DETECT_NO;
	return NULL;
}

/* Bytes no decoder can follow: a protocol joined too late, or none sonde decodes. */
static void give_up_bytes(struct assembler *a, struct conn *c, enum detect_result res)
{
	if (res == DETECT_LATE)
		a->st.conns_joined_late++;
	else
		a->st.conns_not_http++;
	core__conn_off(a, c, false);
}

/* A decoder claimed the bytes a run of dir starts with: this process's end, and its state. */
static void start(struct assembler *a, struct conn *c, const struct decoder *d,
		  enum detect_result res, uint16_t dir)
{
	struct decoder_env env = {.cfg = a->cfg, .conn = &c->info};

	c->info.role = (res == DETECT_CLIENT) == (dir == SONDE_DIR_EGRESS) ? SONDE_ROLE_CLIENT
									   : SONDE_ROLE_SERVER;
	if (d->db && c->info.role == SONDE_ROLE_SERVER && !a->cfg->db_server_spans) {
		core__conn_off(a, c, false);
		return;
	}
	c->dec_st = d->create(&env);
	if (!c->dec_st) {
		core__conn_off(a, c, false);
		return;
	}
	c->dec = d;
	c->phase = CONN_DECODING;
	if (d->db)
		a->st.conns_db++;
}

/* The kept first bytes of the run go to the decoder first: it reads the run from its start. */
static void feed_kept(struct assembler *a, struct conn *c, const struct sonde_data_event *ev)
{
	bool from_client = core__from_client(c, c->keep->dir);
	struct stream_io io = {
		.run_seq = ev->run_seq,
		.io_bytes = c->keep->len,
		.data = c->keep->buf,
		.cap = c->keep->len,
		.ts = c->keep->ts,
		/* the run's next I/O: the same goroutine */
		.actor = c->info.link_go ? ev->go_g : c->keep->tid,
		.tid = c->keep->tid,
	};
	struct stream_target t;

	core__target(a, c, from_client, &t);
	stream__io(from_client ? &c->req : &c->resp, &t, &io);
	core__after(a, c);
}

/* The next I/O of a run whose first bytes were too few: classify the bytes joined. */
static bool classify_more(struct assembler *a, struct conn *c, const struct sonde_data_event *ev,
			  uint32_t cap)
{
	struct detect_keep *k = c->keep;
	uint32_t old, add;
	enum detect_result res;
	const struct decoder *d;

	if (!k || ev->run_seq != k->run_seq || ev->head.dir != k->dir || ev->run_offset != k->len)
		return false;
	old = k->len;
	add = cap < DETECT_BUF - old ? cap : DETECT_BUF - old;
	memcpy(k->buf + old, ev->payload, add);
	k->len = old + add;
	d = detect(c, k->buf, k->len, &res);
	if (d) {
		k->len = old;
		start(a, c, d, res, k->dir);
		if (c->phase == CONN_DECODING)
			feed_kept(a, c, ev);
		classify__free(c);
		return c->phase == CONN_DECODING;
	}
	if (k->len < DETECT_MIN && add == cap && cap == ev->io_bytes)
		return false; /* still too few: wait for the next one */
	classify__free(c);
	give_up_bytes(a, c, res);
	return false;
}

bool classify__data(struct assembler *a, struct conn *c, const struct sonde_data_event *ev,
		    uint32_t cap)
{
	enum detect_result res;
	const struct decoder *d;

	if (!cap)
		return false;
	if (ev->run_offset != 0)
		return classify_more(a, c, ev, cap);
	classify__free(c); /* a new run: what was kept of the last one is moot */
	d = detect(c, ev->payload, cap, &res);
	if (d) {
		start(a, c, d, res, ev->head.dir);
		return c->phase == CONN_DECODING;
	}
	if (cap < DETECT_MIN && cap == ev->io_bytes && (c->keep = malloc(sizeof(*c->keep)))) {
		memcpy(c->keep->buf, ev->payload, cap);
		c->keep->len = cap;
		c->keep->run_seq = ev->run_seq;
		c->keep->dir = ev->head.dir;
		c->keep->ts = ev->head.ts_ns;
		c->keep->tid = ev->head.tid;
		return false;
	}
	/* An answer first means sonde started mid-exchange: wait for the next request, a few
	 * times. Anything else is no protocol sonde decodes. */
	if (res != DETECT_MIDWAY || ++c->midway >= MIDWAY_LIMIT)
		give_up_bytes(a, c, res);
	return false;
}
