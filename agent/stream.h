/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stream cursor: one direction of one connection, as the kernel reports it. The kernel
 * sends, per direction, "runs" of I/O: the first bytes of a run's first few I/Os, byte counts
 * for the rest, and a summary when the run ends. The cursor turns that into what every decoder
 * reads: captured bytes at their place in the run, the uncaptured bytes before and after them
 * as counted gaps, run starts (where lost framing is picked up again), run ends (with the whole
 * run's bytes accounted for: a run that came with no record at all is one gap), and records
 * delivered twice dropped. It also keeps the trace context the kernel gave the request that
 * starts a run, for the operation that starts there.
 */
#ifndef SONDE_STREAM_H
#define SONDE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "decoders/decoder.h"
#include "sonde_event.h"

struct stream {
	uint32_t run_seq;	     /* the run being followed (the kernel's run number) */
	bool run_ended;		     /* its end was handed to the decoder */
	uint64_t pos;		     /* bytes of that run accounted for */
	struct sonde_trace_ctx kctx; /* the context the kernel gave the request starting at */
	uint64_t kctx_ts;	     /* ... this I/O; kind NONE: none waiting */
};

/* Which decoder a cursor feeds, for which direction. */
struct stream_target {
	const struct decoder *dec;
	void *st;
	bool from_client;
	const struct decoder_sink *out;
};

/* One captured I/O of the stream's direction. */
struct stream_io {
	uint32_t run_seq;    /* its run */
	uint64_t run_offset; /* bytes of the run before it */
	uint32_t io_bytes;   /* bytes it moved */
	const uint8_t *data; /* the first cap of them */
	uint32_t cap;
	uint64_t ts;
	uint64_t actor; /* the thread, or in a Go program the goroutine */
	uint32_t tid;
	uint8_t walk_flags; /* as the record's (decoder_chunk) */
	uint8_t walk_part;
	uint32_t walk_left;
	const uint8_t *ctx_lines; /* as the record's (decoder_chunk) */
	uint32_t ctx_len;
	uint8_t head_scan;
};

/* Hand one I/O to the decoder (nothing for a record delivered twice). */
void stream__io(struct stream *s, const struct stream_target *t, const struct stream_io *io);
/*
 * A run of this direction ended (the summary came with the next record, the close, or the
 * kernel's state of an idle connection): what of it the decoder has not seen goes to it as a
 * gap, then the end. A run the kernel summarized by a capture policy (http1_status) has no
 * bytes to account for. Nothing when that run's end was handed over already.
 */
void stream__run_end(struct stream *s, const struct stream_target *t,
		     const struct sonde_run_summary *run);
/* The run under way ends here, at ts: the agent stops. */
void stream__stop(struct stream *s, const struct stream_target *t, uint16_t dir, uint64_t ts);
/* The kernel gave the request that starts with the I/O at ts a context (a record's ctx). */
void stream__set_kctx(struct stream *s, const struct sonde_trace_ctx *k, uint64_t ts);
/* The context of the operation whose request started at start_ns into *out, taken once. */
bool stream__take_kctx(struct stream *s, uint64_t start_ns, struct sonde_trace_ctx *out);

#endif /* SONDE_STREAM_H */
