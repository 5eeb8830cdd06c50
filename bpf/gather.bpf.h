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

/* Whether a run's first 8 bytes start like a Redis command array: "*<count>\r\n$", the count
 * of one to four digits. */
static __always_inline bool resp_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

static __always_inline bool resp_count_end(const __u8 *p)
{
	return p[0] == '\r' && p[1] == '\n' && p[2] == '$';
}

/* (The places spelled out: with a variable index clang may build the address with an OR,
 * which the verifier refuses on a stack pointer.) */
static __always_inline bool resp_start(const __u8 *b)
{
	if (b[0] != '*' || b[1] < '1' || b[1] > '9')
		return false;
	return resp_count_end(b + 2) ||
	       (resp_digit(b[2]) &&
		(resp_count_end(b + 3) ||
		 (resp_digit(b[3]) &&
		  (resp_count_end(b + 4) || (resp_digit(b[4]) && resp_count_end(b + 5))))));
}

/* Whether a run's first 8 bytes (of ret) are a PostgreSQL startup packet of protocol 3, or the
 * SSLRequest or GSSENCRequest sent before one. */
static __always_inline bool pg_startup(const __u8 *b, int ret)
{
	__u32 len = (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
	__u32 code = (__u32)b[4] << 24 | (__u32)b[5] << 16 | (__u32)b[6] << 8 | b[7];

	if (len < 8 || len > 10000 || len > (__u32)ret)
		return false;
	return code == 0x00030000 || (len == 8 && (code == 80877103 || code == 80877104));
}

/*
 * A run starts on a connection still on the default policy, one of its first two, or the one
 * after an HTTP/1.1 101 (h2_upgrade; HTTP/1.x's policies): the kernel takes a policy by itself
 * from the run's first bytes, read once here. The HTTP/2 client preface: H2_FRAMES
 * (h2_frames.bpf.h), which after a 101 is the upgrade to h2c, the client's first bytes once it
 * has the answer. A Redis command array, or (in the first run) a PostgreSQL startup: STREAM at
 * once, without waiting for the agent's decoder to ask, so that a session that pipelines as
 * soon as it is up (redis-cli --pipe, psycopg's pipeline()) is seen whole from its first byte.
 * The decoders ask for STREAM anyway; a false match only costs records.
 */
static __always_inline void policy_detect(struct sonde_conn_state *st, __u16 dir, int ret,
					  const struct io_source *src)
{
	__u8 b[H2_PREFACE_LEN];
	__u64 contig = 0;
	bool whole;
	void *buf;

	if (st->h2_upgrade) {
		/* the run after a 101: the preface or nothing (no store at other run starts) */
		st->h2_upgrade = 0;
		if (ret < H2_PREFACE_LEN || (st->policy != SONDE_CAPTURE_RUNS &&
					     st->policy != SONDE_CAPTURE_HTTP1_STATUS))
			return;
		buf = io_buffer(src, &contig, NULL);
		if (buf && contig >= H2_PREFACE_LEN &&
		    !bpf_probe_read_user(b, H2_PREFACE_LEN, buf) && h2_preface(b))
			h2_start(st, dir);
		return;
	}
	if (st->run_seq > 2 || st->policy != SONDE_CAPTURE_RUNS || ret < 8)
		return;
	buf = io_buffer(src, &contig, NULL);
	if (!buf || contig < 8)
		return;
	__builtin_memset(b, 0, sizeof(b));
	whole = ret >= H2_PREFACE_LEN && contig >= H2_PREFACE_LEN;
	if (bpf_probe_read_user(b, whole ? H2_PREFACE_LEN : 8, buf))
		return;
	if (whole && h2_preface(b))
		h2_start(st, dir);
	else if (resp_start(b) || (st->run_seq <= 1 && pg_startup(b, ret)))
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
	    io->offset || io->st->role == SONDE_ROLE_CLIENT ||
	    !tcp_option_read(io->sk, io->bytes, &opt, true))
		return;
	__builtin_memcpy(ev->ctx.trace_id, opt.trace_id, sizeof(ev->ctx.trace_id));
	__builtin_memcpy(ev->ctx.parent_id, opt.span_id, sizeof(ev->ctx.parent_id));
	ev->ctx.flags = trace_flags(ev->ctx.trace_id);
	ev->ctx.kind = SONDE_CTX_PEER;
	count(SONDE_CNT_TCPOPT_JOINED);
}

/*
 * The record of one I/O of a connection under STREAM (io_run), whose first buffer, of contig
 * bytes, io_run found at buf. Returns false when that buffer holds the I/O all within
 * --capture-bytes, or when the walk cannot start or another run on this CPU took the scratch
 * meanwhile: the caller then writes the usual record of the first buffer (emit_data, not called
 * from here: one copy of it in the program is what the verifier can take); in the last two
 * cases the decoder sees the rest as a tail.
 */
static __always_inline bool emit_gather(const struct sock_io *io, const void *buf, __u64 contig)
{
	struct sonde_walk_scratch *s;
	struct sonde_data_event *ev;
	struct walk_ctx *w;
	__u64 owner, plain, vec, go_g = 0;
	__u32 zero = 0;

	/* Most commands and replies fit the usual record whole, from their first buffer: no walk,
	 * no second copy (through the scratch) for them. */
	if (buf && contig >= io->bytes && io->bytes <= capture_bytes)
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
	walk_submit(s);
	return true;
}

#endif /* SONDE_GATHER_BPF_H */
