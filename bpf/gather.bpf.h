/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Capture policy STREAM (sonde_event.h): every I/O of the connection is recorded with its bytes
 * in order, gathered from all of its iovec entries, up to SONDE_STREAM_MAX.
 *
 * Why: a client that pipelines writes many commands at once, and often as one writev with a
 * command per entry (Node's redis client corks its socket: libuv then writes every command
 * buffer of an event-loop turn in one writev). A record of the first entry alone, or of the
 * first --capture-bytes, leaves the decoder a tail it cannot skip without seeing the messages in
 * it, and every command after the first is lost. The walk is h2_frames.bpf.h's (a bpf_loop over
 * the segments, into the per-CPU walk_scratch) with its frame rules off. Included by
 * capture.bpf.h after h2_frames.bpf.h.
 */
#ifndef SONDE_GATHER_BPF_H
#define SONDE_GATHER_BPF_H

_Static_assert(SONDE_STREAM_MAX <= SONDE_FRAMES_MAX, "the walk's scratch holds the record");

/*
 * A run starts on a connection still on the default policy: if it is one of the connection's
 * first two runs and starts like a Redis command array ("*<count>\r\n$"), the connection is
 * captured under STREAM from this I/O on, without waiting for the agent's decoder to ask
 * (redis-cli --pipe writes its whole pipeline in the first run). The agent's decoder asks for
 * the same policy anyway; a false match only costs records.
 */
static __always_inline void resp_detect(struct sonde_conn_state *st, int ret,
					const struct io_source *src)
{
	__u64 contig = 0;
	__u8 b[8];
	void *buf;
	int i;

	if (st->run_seq > 2 || st->policy != SONDE_CAPTURE_RUNS || ret < 8)
		return;
	buf = io_buffer(src, &contig, NULL);
	if (!buf || contig < 8 || bpf_probe_read_user(b, sizeof(b), buf) || b[0] != '*' ||
	    b[1] < '1' || b[1] > '9')
		return;
	/* "*N\r\n$" with N of one to four digits */
	for (i = 2; i < 5 && b[i] >= '0' && b[i] <= '9'; i++)
		;
	if (i + 3 > (int)sizeof(b) || b[i] != '\r' || b[i + 1] != '\n' || b[i + 2] != '$')
		return;
	st->policy = SONDE_CAPTURE_STREAM;
}

/*
 * The same for PostgreSQL: a connection's first run that starts with a startup packet of
 * protocol 3 (or the SSLRequest or GSSENCRequest before one) is under STREAM at once, so that a
 * session that pipelines as soon as it is up (psycopg's pipeline(), pgx batches) is seen
 * whole from its first query, before the agent's decoder could ask.
 */
static __always_inline void pg_detect(struct sonde_conn_state *st, int ret,
				      const struct io_source *src)
{
	__u64 contig = 0;
	__u32 len, code;
	__u8 b[8];
	void *buf;

	if (st->run_seq > 1 || st->policy != SONDE_CAPTURE_RUNS || ret < 8)
		return;
	buf = io_buffer(src, &contig, NULL);
	if (!buf || contig < 8 || bpf_probe_read_user(b, sizeof(b), buf))
		return;
	len = (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
	code = (__u32)b[4] << 24 | (__u32)b[5] << 16 | (__u32)b[6] << 8 | b[7];
	if (len < 8 || len > 10000 || len > (__u32)ret)
		return;
	if (code == 0x00030000 || (len == 8 && (code == 80877103 || code == 80877104)))
		st->policy = SONDE_CAPTURE_STREAM;
}

/*
 * Under TCP-option propagation, a server's first read of a run takes the client's ids from the
 * option that came with it, as server_ids does for any run that is not an HTTP request: the
 * decoder of the database the connection speaks gets them as the peer's.
 */
static __always_inline void gather_peer_ctx(const struct sock_io *io, struct sonde_data_event *ev)
{
	struct sonde_tcp_rx_slot opt;

	if (!tcp_mode || !io_may_propagate(&io->src) || io->dir != SONDE_DIR_INGRESS ||
	    io->offset || io->st->role == SONDE_ROLE_CLIENT || !tcp_option_read(io->sk, io->bytes, &opt))
		return;
	__builtin_memcpy(ev->ctx.trace_id, opt.trace_id, sizeof(ev->ctx.trace_id));
	__builtin_memcpy(ev->ctx.parent_id, opt.span_id, sizeof(ev->ctx.parent_id));
	ev->ctx.flags = trace_flags(ev->ctx.trace_id);
	ev->ctx.kind = SONDE_CTX_PEER;
	count(SONDE_CNT_TCPOPT_JOINED);
}

/*
 * The record of one I/O of a connection under STREAM (io_run). Returns false when the I/O's
 * first buffer holds it all within --capture-bytes, or when the walk cannot start or another
 * run on this CPU took the scratch meanwhile: the caller then writes the usual record of the
 * first buffer (emit_data, not called from here: one copy of it in the program is what the
 * verifier can take); in the last two cases the decoder sees the rest as a tail.
 */
static __always_inline bool emit_gather(const struct sock_io *io)
{
	struct sonde_walk_scratch *s;
	struct sonde_data_event *ev;
	struct walk_ctx *w;
	__u64 owner, len, plain, vec, go_g = 0, contig = 0;
	__u32 zero = 0;
	void *rb;

	/* Most commands and replies fit the usual record whole, from their first buffer: no walk,
	 * no second copy (through the scratch) for them. */
	if (io_buffer(&io->src, &contig, NULL) && contig >= io->bytes && io->bytes <= capture_bytes)
		return false;
	s = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!s)
		return false;
	owner = io->pid_tgid ^ io->ts;
	s->owner = owner;
	w = &s->w;
	__builtin_memset(w, 0, sizeof(*w));
	if (!walk_start(&io->src, &plain, &vec, &go_g))
		return false;
	w->buf = plain;
	w->n = plain ? io->bytes : 0;
	w->vec = vec;
	w->total = io->bytes;
	w->limit = SONDE_STREAM_MAX;
	w->gather = 1;
	bpf_loop(WALK_STEPS, walk_step, NULL, 0);
	if (s->owner != owner || (w->fail && !w->out))
		return false;
	ev = &s->ev;
	fill_data_fields(ev, io, w->out, go_g);
	/* Cut: the record is full, or an entry could not be read; the rest is the I/O's tail. */
	ev->walk_flags = SONDE_WALK_GATHER | (w->done < w->total ? SONDE_WALK_CUT : 0);
	gather_peer_ctx(io, ev);
	if (tcp_mode && io_may_propagate(&io->src) && io->dir == SONDE_DIR_EGRESS && !io->offset &&
	    io->st->role != SONDE_ROLE_SERVER)
		tcp_option_sent(io->sk, io->bytes, io->pid_tgid, &ev->ctx);
	rb = ring_of_cpu();
	if (!rb)
		return true;
	len = WALK_HEAD_BYTES + (w->out & (2 * SONDE_FRAMES_MAX - 1));
	if (len > WALK_REC_MAX)
		return true;
	if (bpf_ringbuf_output(rb, &s->ev, len, ring_wake_flags(rb))) {
		count(SONDE_CNT_RING_FULL);
		return true;
	}
	count(SONDE_CNT_RECORDS);
	return true;
}

#endif /* SONDE_GATHER_BPF_H */
