// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The stream cursor (stream.h): runs, gaps and run ends, the same for every decoder. */
#include <string.h>

#include "stream.h"

static void feed(const struct stream_target *t, const struct decoder_chunk *ch)
{
	t->dec->feed(t->st, t->from_client, ch, t->out);
}

void stream__io(struct stream *s, const struct stream_target *t, const struct stream_io *io)
{
	struct decoder_chunk ch = {0};

	if (io->run_seq != s->run_seq) {
		/* A new run: its first byte starts a message, or goes on with one (a body sent
		 * after 100-continue, a response read while the next request went out). */
		s->run_seq = io->run_seq;
		s->pos = 0;
		s->run_ended = false;
		ch.run_start = true;
	}
	if (io->run_offset < s->pos)
		return; /* accounted already: a record delivered twice */
	ch.gap = io->run_offset - s->pos;
	ch.data = io->data;
	ch.len = io->cap;
	ch.tail = io->io_bytes > io->cap ? io->io_bytes - io->cap : 0;
	ch.ts = io->ts;
	ch.actor = io->actor;
	ch.tid = io->tid;
	ch.walk_flags = io->walk_flags;
	ch.walk_part = io->walk_part;
	ch.walk_left = io->walk_left;
	ch.ctx_lines = io->ctx_lines;
	ch.ctx_len = io->ctx_len;
	ch.io_bytes = io->io_bytes;
	ch.head_scan = io->head_scan;
	feed(t, &ch);
	s->pos = io->run_offset + io->io_bytes;
}

void stream__run_end(struct stream *s, const struct stream_target *t,
		     const struct sonde_run_summary *run)
{
	struct decoder_chunk ch = {0};

	if (run->dir == SONDE_DIR_NONE || run->seq < s->run_seq ||
	    (run->seq == s->run_seq && s->run_ended))
		return;
	if (run->seq != s->run_seq) {
		/* A run without a record: summarized by a capture policy (its bytes are what the
		 * summary says), or lost to a full ring (its bytes are a gap). */
		s->run_seq = run->seq;
		s->pos = run->http1_status ? run->bytes : 0;
		ch.run_start = !run->http1_status;
	}
	if (run->bytes > s->pos || ch.run_start) {
		ch.gap = run->bytes > s->pos ? run->bytes - s->pos : 0;
		ch.ts = run->last_ts_ns;
		ch.run_end = true;
		feed(t, &ch);
		s->pos = run->bytes;
	}
	s->run_ended = true;
	t->dec->run_end(t->st, t->from_client, run, t->out);
}

void stream__stop(struct stream *s, const struct stream_target *t, uint16_t dir, uint64_t ts)
{
	struct sonde_run_summary run = {0};

	if (!s->run_seq || s->run_ended)
		return;
	run.dir = dir;
	run.seq = s->run_seq;
	run.bytes = s->pos;
	run.first_ts_ns = run.last_ts_ns = ts;
	stream__run_end(s, t, &run);
}

void stream__set_kctx(struct stream *s, const struct sonde_trace_ctx *k, uint64_t ts)
{
	s->kctx = *k;
	s->kctx_ts = ts;
}

bool stream__take_kctx(struct stream *s, uint64_t start_ns, struct sonde_trace_ctx *out)
{
	if (s->kctx.kind == SONDE_CTX_NONE || s->kctx_ts != start_ns)
		return false;
	*out = s->kctx;
	s->kctx.kind = SONDE_CTX_NONE;
	return true;
}
