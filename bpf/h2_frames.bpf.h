/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Capture policy H2_FRAMES (sonde_event.h): an HTTP/2 connection's I/O walked frame by frame.
 * The kernel follows each direction's frame boundaries from the connection's first byte in
 * struct sonde_frame_cursor, and an I/O's record holds its bytes with the payloads a decoder
 * does not need left out: header blocks and control frames in, DATA out. The walk is a
 * bpf_loop (5.17+), two steps a frame, so that the verifier checks one step and not a
 * frame count; the record is built in a per-CPU scratch (maps/walk_scratch.bpf.h) and copied
 * into the ring at its real size. Included by capture.bpf.h, whose sock_io it walks.
 */
#ifndef SONDE_H2_FRAMES_BPF_H
#define SONDE_H2_FRAMES_BPF_H

#define H2_PREFACE_LEN 24
#define H2_FRAME_HEAD 9
#define WALK_STEPS 1024	 /* per I/O: two per frame, one per iovec entry */
#define WALK_SEGMENTS 512 /* iovec entries of one I/O walked */

/* The frame types whose payload a record keeps (RFC 9113 section 6). */
static __always_inline bool h2_keeps_payload(__u8 type)
{
	return type == 0x1 /* HEADERS */ || type == 0x3 /* RST_STREAM */ ||
	       type == 0x4 /* SETTINGS */ || type == 0x5 /* PUSH_PROMISE */ ||
	       type == 0x7 /* GOAWAY */ || type == 0x9 /* CONTINUATION */;
}

/* Whether a run's first H2_PREFACE_LEN bytes are the client connection preface. */
static __always_inline bool h2_preface(const __u8 *got)
{
	static const char want[H2_PREFACE_LEN] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	int i;

	for (i = 0; i < H2_PREFACE_LEN; i++)
		if (got[i] != (__u8)want[i])
			return false;
	return true;
}

/*
 * One of a connection's first two runs (the server may write its SETTINGS before it reads the
 * preface) started with the client preface (policy_detect, gather.bpf.h): the connection is
 * HTTP/2 from here on. The preface's direction walks on from the preface's end; the other from
 * a frame boundary (nothing or whole frames went by).
 */
static __always_inline void h2_start(struct sonde_conn_state *st, __u16 dir)
{
	struct sonde_frame_cursor *c;

	__builtin_memset(st->walk, 0, sizeof(st->walk));
	c = &st->walk[(dir - 1) & 1];
	c->left = H2_PREFACE_LEN; /* as if a payload the record keeps */
	st->policy = SONDE_CAPTURE_H2_FRAMES;
	count(SONDE_CNT_H2_CONNS);
}


/* v clamped to max in the register itself: the verifier then sees the bound clang proved. */
#define WALK_CLAMP(v, max)                                                                     \
	asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t" : [n] "+r"(v) : [m] "i"(max))

/* n bytes of the segment at off go into the record, as far as it has room. */
static __always_inline void walk_put(struct walk_ctx *w, struct sonde_walk_scratch *s, __u32 n)
{
	__u64 take = n;

	if (w->out >= w->limit) {
		w->cut = 1;
		return;
	}
	if (take > w->limit - w->out) {
		take = w->limit - w->out;
		w->cut = 1;
	}
	WALK_CLAMP(take, SONDE_FRAMES_MAX);
	if (bpf_probe_read_user((__u8 *)&s->ev + WALK_HEAD_BYTES + (w->out & (SONDE_FRAMES_MAX - 1)),
				take, (const void *)(w->buf + w->off))) {
		w->fail = 1;
		return;
	}
	w->out += take;
}

/* One step: (the rest of) a frame header, or (the rest of) a frame's payload. */
static int walk_step(__u32 i, void *arg)
{
	struct sonde_walk_scratch *s;
	struct walk_ctx *w;
	__u32 zero = 0, len;
	__u64 take, at;

	s = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!s)
		return 1;
	w = &s->w;
	if (w->fail || w->done >= w->total)
		return 1;
	if (w->off >= w->n) {
		/* The segment is walked: the I/O goes on in the next iovec entry. */
		struct iovec iov;

		if (!w->vec || w->seg >= WALK_SEGMENTS ||
		    bpf_probe_read_user(&iov, sizeof(iov),
					(const void *)(w->vec + (__u64)w->seg * sizeof(iov)))) {
			w->fail = 1;
			return 1;
		}
		w->seg++;
		w->buf = (__u64)iov.iov_base;
		w->n = iov.iov_len < w->total - w->done ? iov.iov_len : w->total - w->done;
		w->off = 0;
		return 0;
	}
	if (w->gather) {
		/* Policy STREAM (gather.bpf.h): the segment whole, until the record is full. */
		take = w->n - w->off;
		walk_put(w, s, take);
		if (w->cut)
			return 1;
		w->off += take;
		w->done += take;
		return 0;
	}
	if (w->part || !w->left) {
		at = w->part;
		WALK_CLAMP(at, H2_FRAME_HEAD - 1); /* 0..8 bytes of it read already */
		take = H2_FRAME_HEAD - at;
		if (take > w->n - w->off)
			take = w->n - w->off;
		WALK_CLAMP(take, H2_FRAME_HEAD);
		if (bpf_probe_read_user(s->hdr + at, take, (const void *)(w->buf + w->off))) {
			w->fail = 1;
			return 1;
		}
		walk_put(w, s, take);
		w->off += take;
		w->done += take;
		w->part += take;
		if (w->part < H2_FRAME_HEAD)
			return 0; /* the segment ends inside the header: on in the next one */
		len = (__u32)s->hdr[0] << 16 | (__u32)s->hdr[1] << 8 | s->hdr[2];
		w->left = len;
		w->elided = !h2_keeps_payload(s->hdr[3]);
		w->part = 0;
		return 0;
	}
	take = w->left;
	if (take > w->n - w->off)
		take = w->n - w->off;
	if (!w->elided)
		walk_put(w, s, take);
	w->off += take;
	w->done += take;
	w->left -= take;
	return 0;
}

/*
 * Where the I/O's bytes are: one plain buffer (*vec 0), or an iovec array (*plain NULL); and
 * the register Go keeps its goroutine in (as io_buffer's go_g), read on the way.
 */
static __always_inline bool walk_start(const struct io_source *src, __u64 *plain, __u64 *vec,
				       __u64 *go_g)
{
	struct user_msghdr mh;
	void *arg;
	int kind;

	if (src->from != IO_FROM_SOCKET_REGS) {
		kind = src->buf_kind;
		arg = (void *)src->arg;
		*go_g = src->go_g;
	} else {
		struct task_struct *task = bpf_get_current_task_btf();
		struct pt_regs *regs;

		if (task->flags & PF_KTHREAD)
			return false;
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (!regs)
			return false;
		kind = sonde_buf_kind(SYS_NR(regs));
		arg = (void *)SYS_ARG2(regs);
		*go_g = SYS_GO_G(regs);
	}
	*plain = 0;
	*vec = 0;
	switch (kind) {
	case SONDE_BUF_PLAIN:
		*plain = (__u64)arg;
		return true;
	case SONDE_BUF_MSGHDR:
		if (bpf_probe_read_user(&mh, sizeof(mh), arg))
			return false;
		*vec = (__u64)mh.msg_iov;
		return true;
	case SONDE_BUF_IOVEC:
		*vec = (__u64)arg;
		return true;
	default:
		return false;
	}
}

/* The record the walk built in the scratch into this CPU's ring, at its real size. */
static __always_inline void walk_submit(struct sonde_walk_scratch *s)
{
	__u64 len = WALK_HEAD_BYTES + (s->w.out & (2 * SONDE_FRAMES_MAX - 1));
	void *rb = ring_of_cpu();

	if (!rb || len > WALK_REC_MAX)
		return;
	if (bpf_ringbuf_output(rb, &s->ev, len, ring_wake_flags(rb))) {
		count(SONDE_CNT_RING_FULL);
		return;
	}
	count(SONDE_CNT_RECORDS);
}

/* The record of one I/O of a connection under H2_FRAMES (on_socket_io). */
static __always_inline void emit_frames(const struct sock_io *io)
{
	struct sonde_frame_cursor *c = &io->st->walk[(io->dir - 1) & 1];
	struct sonde_walk_scratch *s;
	struct walk_ctx *w;
	struct sonde_data_event *ev;
	__u32 zero = 0, left0 = c->left;
	__u8 part0 = c->part, elided0 = c->elided;
	__u64 owner, plain, vec, go_g = 0;

	if (c->lost)
		goto lost;
	s = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!s)
		goto lost;
	owner = io->pid_tgid ^ io->ts;
	s->owner = owner;
	w = &s->w;
	__builtin_memset(w, 0, sizeof(*w));
	w->left = c->left;
	w->part = c->part;
	w->elided = c->elided;
	__builtin_memcpy(s->hdr, c->hdr, sizeof(c->hdr));
	if (!walk_start(&io->src, &plain, &vec, &go_g))
		goto lost;
	w->buf = plain;
	w->n = plain ? io->bytes : 0;
	w->vec = vec;
	w->total = io->bytes;
	w->limit = SONDE_FRAMES_MAX;
	bpf_loop(WALK_STEPS, walk_step, NULL, 0);
	/* Only the entries the I/O's bytes filled are read: no iovec count is needed. */
	if (w->fail || w->done < w->total || s->owner != owner)
		goto lost;
	c->left = w->left;
	c->part = w->part;
	c->elided = w->elided;
	__builtin_memcpy(c->hdr, s->hdr, sizeof(c->hdr));
	if (!w->out && io->offset)
		return; /* only left-out bytes, inside a run */
	ev = &s->ev;
	fill_data_fields(ev, io, w->out, go_g);
	ev->walk_left = left0;
	ev->walk_part = part0;
	ev->walk_flags = SONDE_WALK_ON | (elided0 ? SONDE_WALK_ELIDED : 0) |
			 (w->cut ? SONDE_WALK_CUT : 0);
	if (w->cut)
		count(SONDE_CNT_WALK_CUT);
	if (tcp_mode && io_may_propagate(&io->src) && io->dir == SONDE_DIR_EGRESS && !io->offset &&
	    io->st->role != SONDE_ROLE_SERVER)
		tcp_option_sent(io->sk, io->bytes, io->pid_tgid, &ev->ctx);
	walk_submit(s);
	return;
lost:
	/* The boundaries are gone for good: one record says so, then the I/O is only counted. */
	if (c->lost)
		return;
	c->lost = 1;
	count(SONDE_CNT_WALK_LOST);
	{
		void *ring;

		ev = ring_reserve(&ring, WALK_HEAD_BYTES);
		if (!ev)
			return;
		fill_data_fields(ev, io, 0, 0);
		ev->walk_flags = SONDE_WALK_ON | SONDE_WALK_LOST;
		ring_submit(ring, ev);
	}
}

#endif /* SONDE_H2_FRAMES_BPF_H */
