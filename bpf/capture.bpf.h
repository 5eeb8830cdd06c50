/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket I/O path. Every TCP send and receive of every process passes through
 * sock_sendmsg/sock_recvmsg, where the sock_send_length/sock_recv_length tracepoints fire with
 * the socket and the byte count; the user buffer is found through the syscall's saved registers.
 * Per I/O the kernel only updates the connection's run counters; it copies payload and writes a
 * ring-buffer record when a run (I/O in one direction) starts, and for its first few I/O, so a
 * request/response exchange costs one record per message, not one per syscall. The first I/O
 * of a connection announces it (OPEN) and its process (PROC); a response run the agent asked
 * summaries of writes no record (HTTP/1.x status only).
 */
#ifndef SONDE_CAPTURE_BPF_H
#define SONDE_CAPTURE_BPF_H

/*
 * Helpers below read the sock with BPF_CORE_READ: the syscall fallback holds it as a plain
 * kernel address, not a BTF pointer. They run once per connection, so the cost does not matter.
 */
static __always_inline bool port_selected(struct sock *sk)
{
	__u16 sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));

	return bpf_map_lookup_elem(&port_filter, &sport) || bpf_map_lookup_elem(&port_filter, &dport);
}

/* Announce a connection to the agent: its tuple, once. */
static __always_inline void emit_open(struct sock *sk, __u64 key, struct sonde_conn_state *st,
				      __u64 ts, __u32 tid)
{
	struct sonde_open_event *ev;
	void *ring;

	ev = ring_reserve(&ring, sizeof(*ev));
	if (!ev)
		return;
	fill_head(&ev->head, st->conn_id, ts, st->tgid, tid, SONDE_EV_OPEN, SONDE_DIR_NONE);
	ev->sock_key = key;
	ev->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (ev->family == AF_INET) {
		__builtin_memset(ev->saddr, 0, sizeof(ev->saddr));
		__builtin_memset(ev->daddr, 0, sizeof(ev->daddr));
		*(__u32 *)ev->saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		*(__u32 *)ev->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&ev->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ev->daddr, sk, __sk_common.skc_v6_daddr);
	}
	ev->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	ev->role = st->role;
	ev->open_ts_ns = st->open_ts;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ring_submit(ring, ev);
}


/*
 * Send the identity of the current process once (per pid and start time): its command line and
 * environment, read from its own memory while it certainly still exists. CO-RE reads of the task,
 * not BTF pointers, so that the syscall fallback needs no helper newer than the ring buffer.
 */
static __always_inline void emit_proc_once(__u32 tgid, __u64 ts)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct sonde_proc_event *ev;
	__u64 start = BPF_CORE_READ(task, group_leader, start_boottime), *seen;
	unsigned long a0, a1, e0, e1;
	struct mm_struct *mm;
	void *ring;

	seen = bpf_map_lookup_elem(&procs_seen, &tgid);
	if (seen && *seen == start)
		return;
	bpf_map_update_elem(&procs_seen, &tgid, &start, BPF_ANY);
	mm = BPF_CORE_READ(task, mm);
	if (!mm)
		return;
	a0 = BPF_CORE_READ(mm, arg_start);
	a1 = BPF_CORE_READ(mm, arg_end);
	e0 = BPF_CORE_READ(mm, env_start);
	e1 = BPF_CORE_READ(mm, env_end);
	ev = ring_reserve(&ring, sizeof(*ev));
	if (!ev)
		return;
	fill_head(&ev->head, 0, ts, tgid, (__u32)bpf_get_current_pid_tgid(), SONDE_EV_PROC,
		  SONDE_DIR_NONE);
	ev->start_boottime = start;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->cmdline_len = a1 > a0 ? COPY_USER_CLAMPED(ev->cmdline, a1 - a0, a0, SONDE_CMDLINE_MAX) : 0;
	ev->environ_len = e1 > e0 ? COPY_USER_CLAMPED(ev->environ, e1 - e0, e0, SONDE_ENVIRON_MAX) : 0;
	ring_submit(ring, ev);
}

/*
 * Where an I/O's bytes come from, as the hook that saw it knows. A socket tracepoint fires
 * inside the syscall: the user buffer is found through the syscall's saved registers, and only
 * when a record needs it. The syscall fallback saved the syscall's arguments at entry.
 */
enum io_from {
	IO_FROM_SOCKET_REGS = 1,  /* tp_btf/sock_send_length, sock_recv_length */
	IO_FROM_SYSCALL_ARGS = 2, /* raw_tp/sys_enter + sys_exit */
	IO_FROM_TLS = 3,	  /* a TLS library's plaintext, at its call's return (tls.bpf.h) */
};

struct io_source {
	__u8 from;     /* enum io_from */
	__u8 buf_kind; /* SYSCALL_ARGS, TLS: enum sonde_buf_kind of arg */
	__u8 pad[6];   /* explicit padding */
	__u64 arg;     /* SYSCALL_ARGS: the user buffer, iovec array or msghdr; TLS: the buffer */
	__u64 go_g;    /* SYSCALL_ARGS: the register Go keeps its goroutine in, at entry */
};

/*
 * Whether this I/O may carry or start trace context (header and TCP-option propagation): only
 * from the socket tracepoints. There the sk_msg verdict and the socket storage reach the record,
 * the sock is a BTF pointer as socket storage wants (the fallback's is a plain address), and the
 * programs may call the global head scanner (kernels before 5.12 do not take pointer arguments
 * to global functions).
 */
static __always_inline bool io_may_propagate(const struct io_source *src)
{
	return src->from == IO_FROM_SOCKET_REGS;
}

/*
 * Whether the thread's notes may live in its task storage (task_notes): only programs of the
 * socket tracepoints refer to that map, the fallback's kernels may not have it (5.11+).
 */
static __always_inline bool io_may_use_task_storage(const struct io_source *src)
{
	return src->from == IO_FROM_SOCKET_REGS && task_notes;
}

/*
 * The user buffer of a syscall whose data argument is arg, of a kind (enum sonde_buf_kind), and
 * how many of its bytes are contiguous there.
 */
static __always_inline void *user_buffer_of(int kind, void *arg, __u64 *contig)
{
	struct user_msghdr mh;
	struct iovec iov;

	*contig = ~0ULL;
	switch (kind) {
	case SONDE_BUF_PLAIN:
		return arg;
	case SONDE_BUF_MSGHDR:
		if (bpf_probe_read_user(&mh, sizeof(mh), arg))
			return NULL;
		if (!mh.msg_iovlen)
			return NULL;
		arg = mh.msg_iov;
		/* fall through: arg is now the iovec array */
	case SONDE_BUF_IOVEC:
		if (bpf_probe_read_user(&iov, sizeof(iov), arg))
			return NULL;
		*contig = iov.iov_len;
		return iov.iov_base;
	default:
		return NULL;
	}
}

/*
 * The user buffer of the syscall under way, found through its saved registers (tp_btf path);
 * go_g, when not NULL, gets the register Go keeps its goroutine in. bpf_task_pt_regs is 5.15+
 * (commit dd6e10fbd9fb, "bpf: Add bpf_task_pt_regs() helper"), older than the tracepoints.
 */
static __always_inline void *user_buffer(__u64 *contig, __u64 *go_g)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;

	if (task->flags & PF_KTHREAD)
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return NULL;
	if (go_g)
		*go_g = SYS_GO_G(regs);
	return user_buffer_of(sonde_buf_kind(SYS_NR(regs)), (void *)SYS_ARG2(regs), contig);
}

/* The I/O's user buffer wherever src says it is; go_g as for user_buffer. */
static __always_inline void *io_buffer(const struct io_source *src, __u64 *contig, __u64 *go_g)
{
	if (src->from != IO_FROM_SOCKET_REGS) {
		if (go_g)
			*go_g = src->go_g;
		return user_buffer_of(src->buf_kind, (void *)src->arg, contig);
	}
	return user_buffer(contig, go_g);
}

/* One traced I/O, as the capture path hands it on (on_socket_io builds it). */
struct sock_io {
	struct sock *sk;		       /* a BTF pointer only where io_may_propagate() */
	struct sonde_conn_state *st;	       /* its connection's state */
	struct io_source src;		       /* where its bytes are */
	const struct sonde_trace_ctx *injected; /* what the sk_msg program did to this send */
	struct sonde_run_summary *prev;	       /* the run it ended, when it started one; else 0 */
	__u64 key;			       /* the connection's key in conns: sk's address */
	__u64 offset;			       /* bytes of the run before this I/O */
	__u64 ts;			       /* when (bpf_ktime_get_ns) */
	__u64 pid_tgid;			       /* who */
	__u32 bytes;			       /* bytes it moved */
	__u32 run_seq;			       /* the run it belongs to */
	__u16 dir;			       /* enum sonde_direction */
};

#define DATA_HEAD_BYTES offsetof(struct sonde_data_event, payload)

/*
 * Reserve a data record in a size class and copy n payload bytes into it. Classes keep small
 * messages (most requests and response heads) from taking a full-size slot in the ring. The
 * clamp sits in the register the helper gets: clang may otherwise pass an unclamped copy, which
 * the verifier rejects as an unbounded size.
 */
#define RESERVE_AND_COPY(CLASS)                                                                \
	({                                                                                     \
		ev = ring_reserve(&ring, DATA_HEAD_BYTES + (CLASS));                           \
		if (ev && n) {                                                                 \
			asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]\n\t"         \
				     : [n] "+r"(n)                                             \
				     : [max] "i"(CLASS));                                      \
			if (bpf_probe_read_user(ev->payload, n, buf)) {                        \
				count(SONDE_CNT_COPY_FAIL);                                    \
				n = 0;                                                         \
			}                                                                      \
		}                                                                              \
	})

/*
 * The current thread's response notes: from its task storage when both directions are on the
 * socket tracepoints, else from the fallback's hash; created when create is set.
 */
static __always_inline struct sonde_thread_notes *thread_notes(__u64 pid_tgid, bool create,
							       const struct io_source *src)
{
	struct sonde_thread_notes *tn, fresh = {};

	if (io_may_use_task_storage(src))
		return bpf_task_storage_get(&resp_notes_task, bpf_get_current_task_btf(), 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	tn = bpf_map_lookup_elem(&resp_notes, &pid_tgid);
	if (!tn && create) {
		bpf_map_update_elem(&resp_notes, &pid_tgid, &fresh, BPF_ANY);
		tn = bpf_map_lookup_elem(&resp_notes, &pid_tgid);
	}
	return tn;
}

/* The fields of a data record but its payload (cap_len bytes of it), and the walk's. */
static __always_inline void fill_data_fields(struct sonde_data_event *ev, const struct sock_io *io,
					     __u32 cap_len, __u64 go_g)
{
	__u32 tgid = io->pid_tgid >> 32, tid = (__u32)io->pid_tgid;
	struct sonde_conn_state *st = io->st;

	fill_head(&ev->head, st->conn_id, io->ts, tgid, tid, SONDE_EV_DATA, io->dir);
	ev->prev = *io->prev;
	ev->run_offset = io->offset;
	ev->run_seq = io->run_seq;
	ev->io_bytes = io->bytes;
	ev->cap_len = cap_len;
	ev->walk_left = 0;
	ev->walk_flags = 0;
	ev->walk_part = 0;
	ev->tls = io->src.from == IO_FROM_TLS;
	ev->head_scan = 0;
	ev->ctx_len = 0;
	__builtin_memset(ev->pad1, 0, sizeof(ev->pad1));
	if (go_uprobes && io->dir == SONDE_DIR_EGRESS && go_g)
		go_g = go_request_owner(go_g, io->ts);
	ev->go_g = go_g;
	if ((header_mode || tcp_mode) && io->injected->kind == SONDE_CTX_INJECTED)
		ev->ctx = *io->injected; /* sk_msg's traceparent, or a TLS write's option */
	else
		__builtin_memset(&ev->ctx, 0, sizeof(ev->ctx));
	__builtin_memset(ev->http1_notes, 0, sizeof(ev->http1_notes));
	if (http1_summaries && io->src.from != IO_FROM_TLS) {
		/* The thread's response starts summarized since its last record go with it, once. */
		struct sonde_thread_notes *tn = thread_notes(io->pid_tgid, false, &io->src);

		if (tn && tn->n[0].conn_id) {
			__builtin_memcpy(ev->http1_notes, tn->n, sizeof(ev->http1_notes));
			__builtin_memset(tn->n, 0, sizeof(tn->n));
		}
	}
}

#include "head_find.bpf.h"

/*
 * A data record for this I/O, with as much payload as the settings allow, and the context
 * lines a request head's search found past it (head_find.bpf.h). buf and contig: the I/O's
 * first buffer (io_buffer, NULL when it has none), go_g as io_buffer gives it.
 */
static __always_inline void emit_data(const struct sock_io *io, void *buf, __u64 contig,
				      __u64 go_g)
{
	struct sonde_conn_state *st = io->st;
	struct sonde_data_event *ev;
	__u8 found;
	__u64 n = 0;
	void *ring;

	if (buf) {
		n = io->bytes;
		if (n > contig)
			n = contig;
		if (n > capture_bytes)
			n = capture_bytes;
	} else {
		count(SONDE_CNT_NO_USER_BUF);
	}
	found = head_find(io, buf, contig, n);
	if (found)
		RESERVE_AND_COPY(SONDE_PAYLOAD_MAX + SONDE_CTX_LINES_MAX);
	else if (n <= 64)
		RESERVE_AND_COPY(64);
	else if (n <= 256)
		RESERVE_AND_COPY(256);
	else
		RESERVE_AND_COPY(SONDE_PAYLOAD_MAX);
	if (!ev)
		return;
	fill_data_fields(ev, io, n, go_g);
	if (found)
		head_lines(ev, n, io);
	/* A 101 run: the next one may be the h2c client preface (policy_detect). */
	if (!io->offset && n >= 13 && switching_protocols(ev->payload))
		st->h2_upgrade = 1;
	if ((io_may_propagate(&io->src) ? header_mode || tcp_mode :
					  tcp_mode && io->src.from == IO_FROM_TLS) &&
	    io->dir == SONDE_DIR_INGRESS && !io->offset && st->role != SONDE_ROLE_CLIENT) {
		struct sonde_tcp_rx_slot opt;
		bool have;

		if (io->src.from == IO_FROM_TLS) {
			/* the option the ciphertext came with (tls.bpf.h) */
			have = io->injected->kind == SONDE_CTX_PEER;
			__builtin_memcpy(opt.trace_id, io->injected->trace_id, sizeof(opt.trace_id));
			__builtin_memcpy(opt.span_id, io->injected->parent_id, sizeof(opt.span_id));
		} else {
			have = tcp_mode && tcp_option_read(io->sk, io->bytes, &opt, true);
		}
		server_ids(ev->payload, n, io->key, io->pid_tgid, &ev->ctx, have ? &opt : NULL,
			   found, io->src.from == IO_FROM_TLS);
	}
	if (tcp_mode && io_may_propagate(&io->src) && io->dir == SONDE_DIR_EGRESS && !io->offset &&
	    st->role != SONDE_ROLE_SERVER)
		tcp_option_sent(io->sk, io->bytes, io->pid_tgid, &ev->ctx);
	ring_submit(ring, ev);
}

/*
 * A run starts: take the capture policy the agent asked for since the connection last looked
 * (maps/conn_policy.bpf.h). The agent bumps conn_policy_gen after each write, so that a run
 * start costs one global read and compare, and a hash look-up only after a write.
 */
static __always_inline void policy_refresh(struct sonde_conn_state *st, __u64 key)
{
	__u32 gen = *(volatile __u32 *)&conn_policy_gen;
	struct sonde_policy_ask *ask;

	if (st->policy_seen == gen)
		return;
	st->policy_seen = gen;
	ask = bpf_map_lookup_elem(&conn_policy, &key);
	if (ask) {
		/* an ask for an earlier connection at this address is not this one's */
		if (ask->conn_id == st->conn_id)
			st->policy = ask->policy;
		bpf_map_delete_elem(&conn_policy, &key);
	}
}

/*
 * The thread's notes in a NOTES record, and its slots free again. When the ring is full the
 * notes are lost like any record: the run summaries still report those responses, later.
 */
static __always_inline void notes_flush(struct sonde_thread_notes *tn, __u64 ts, __u64 pid_tgid)
{
	struct sonde_notes_event *ev;
	void *ring;

	ev = ring_reserve(&ring, sizeof(*ev));
	if (ev) {
		fill_head(&ev->head, 0, ts, pid_tgid >> 32, (__u32)pid_tgid, SONDE_EV_NOTES,
			  SONDE_DIR_NONE);
		__builtin_memcpy(ev->notes, tn->n, sizeof(ev->notes));
		ring_submit(ring, ev);
	}
	__builtin_memset(tn->n, 0, sizeof(tn->n));
}

/*
 * A run in the response direction of a connection whose policy is HTTP1_STATUS starts: when the
 * bytes are not a final HTTP/1.x status line, it is recorded as any other run. Otherwise the
 * status goes into the connection's state, the run writes no record (its captures are used
 * up), and the thread notes where a response started.
 */
static __always_inline void summarize_response(struct sonde_conn_state *st, __u64 key, int ret,
					       __u64 ts, __u64 pid_tgid,
					       const struct io_source *src)
{
	struct sonde_thread_notes *tn;
	__u64 contig = 0;
	__u8 head[16];
	__u16 status;
	void *buf;

	if (ret < 13)
		goto full;
	buf = io_buffer(src, &contig, NULL);
	if (!buf || contig < 13)
		goto full;
	__builtin_memset(head, 0, sizeof(head));
	if (bpf_probe_read_user(head, ret < 16 || contig < 16 ? 13 : 16, buf))
		goto full;
	status = final_status(head);
	if (!status)
		goto full;
	st->run_http1_status = status;
	st->run_captures = run_captures;
	count(SONDE_CNT_RESP_SUMMARIZED);
	tn = thread_notes(pid_tgid, true, src);
	if (!tn)
		return;
	/* Both slots taken: they go in a record of their own, and this one waits in the first. */
	if (tn->n[1].conn_id)
		notes_flush(tn, ts, pid_tgid);
	if (!tn->n[0].conn_id)
		goto write0;
	tn->n[1].conn_id = st->conn_id;
	tn->n[1].ts_ns = ts;
	tn->n[1].run_seq = st->run_seq;
	tn->n[1].status = status;
	tn->n[1].pad0 = 0;
	return;
write0:
	tn->n[0].conn_id = st->conn_id;
	tn->n[0].ts_ns = ts;
	tn->n[0].run_seq = st->run_seq;
	tn->n[0].status = status;
	tn->n[0].pad0 = 0;
	return;
full:
	count(SONDE_CNT_RESP_RECORDED);
}

#include "h2_frames.bpf.h"
#include "gather.bpf.h"

/*
 * The I/O starts a run (the direction changed): the one that ended goes into prev, for the
 * record's summary; the run's policy is taken, and what a run start does for it.
 */
static __always_inline void start_run(struct sonde_conn_state *st, struct sonde_run_summary *prev,
				      __u64 key, int ret, __u16 dir, __u64 ts, __u64 pid_tgid,
				      const struct io_source *src)
{
	prev->first_ts_ns = st->run_first_ts;
	prev->last_ts_ns = st->run_last_ts;
	prev->bytes = st->run_bytes;
	prev->seq = st->run_seq;
	prev->dir = st->run_dir;
	prev->http1_status = st->run_http1_status;
	st->run_seq++;
	st->run_dir = dir;
	st->run_first_ts = ts;
	st->run_bytes = 0;
	st->run_captures = 0;
	st->run_http1_status = 0;
	st->head_scan = 0;
	policy_refresh(st, key);
	policy_detect(st, dir, ret, src);
	/* Plaintext from a TLS library is recorded: its thread's notes would be in another map. */
	if (http1_summaries && st->policy == SONDE_CAPTURE_HTTP1_STATUS &&
	    src->from != IO_FROM_TLS && st->role != SONDE_ROLE_UNKNOWN &&
	    (dir == SONDE_DIR_EGRESS) == (st->role == SONDE_ROLE_SERVER))
		summarize_response(st, key, ret, ts, pid_tgid, src);
	if ((header_mode || tcp_mode) && dir == SONDE_DIR_EGRESS) {
		/* The connection answers: its request is no longer what this thread serves. */
		struct sonde_serving *sv = bpf_map_lookup_elem(&serving, &pid_tgid);

		if (sv && sv->sock == key)
			bpf_map_delete_elem(&serving, &pid_tgid);
	}
}

/*
 * The run an I/O belongs to, moved by it: whether it gets a record (*offset, *seq: where in
 * its run). A TLS write is timed at its socket I/O, before its return, where its run is
 * decided: a read of the same connection that returned meanwhile has the run before it, and
 * the write takes that read's time, so that runs and times go the same way.
 */
static __always_inline bool run_account(struct sonde_conn_state *st, struct sonde_run_summary *prev,
					__u64 key, int ret, __u16 dir, const struct io_source *src,
					__u64 pid_tgid, __u64 *tsp, __u64 *offset, __u32 *seq)
{
	__u64 ts = *tsp;

	if (src->from == IO_FROM_TLS && ts < st->run_last_ts)
		*tsp = ts = st->run_last_ts;
	if (st->run_dir != dir)
		start_run(st, prev, key, ret, dir, ts, pid_tgid, src);
	*offset = st->run_bytes;
	*seq = st->run_seq;
	st->run_bytes += ret;
	st->run_last_ts = ts;
	if (st->policy != SONDE_CAPTURE_H2_FRAMES) {
		if (st->run_captures >= run_captures)
			return false;
		/* EVERY_IO, STREAM: every I/O is recorded; the count stays 0 (checked only
		 * here). */
		if (st->policy != SONDE_CAPTURE_EVERY_IO && st->policy != SONDE_CAPTURE_STREAM)
			st->run_captures++;
	}
	return true;
}

#define RUN_LOCK_SPINS 64 /* the holder only moves the runs: a few hundred ns */

/*
 * One I/O of a traced connection's byte stream, from its socket or from a TLS library's
 * plaintext: the run it belongs to, and its record when the connection's policy asks for one.
 * TLS plaintext comes at the library calls' returns, where a reader and a writer of one
 * connection (Go's HTTP/2 and gRPC goroutines) may be on two CPUs at once: there the runs
 * move under a lock, a bounded wait (on the socket the syscalls themselves are that rare).
 */
static __always_inline void io_run(struct sock *sk, struct sonde_conn_state *st, __u64 key,
				   int ret, __u16 dir, const struct io_source *src,
				   const struct sonde_trace_ctx *injected, __u64 pid_tgid, __u64 ts)
{
	struct sonde_run_summary prev = {};
	bool locked = false, record;
	__u64 offset = 0;
	__u32 seq = 0;
	int i;

	if (src->from == IO_FROM_TLS)
		for (i = 0; i < RUN_LOCK_SPINS && !locked; i++)
			locked = !__sync_val_compare_and_swap(&st->run_lock, 0, 1);
	record = run_account(st, &prev, key, ret, dir, src, pid_tgid, &ts, &offset, &seq);
	if (locked)
		__sync_lock_test_and_set(&st->run_lock, 0);
	if (!record)
		return;
	{
		struct sock_io io = {.sk = sk, .st = st, .src = *src, .injected = injected,
				     .prev = &prev, .key = key, .offset = offset, .ts = ts,
				     .pid_tgid = pid_tgid, .bytes = ret, .run_seq = seq, .dir = dir};

		__u64 contig = 0, go_g = 0;
		void *buf;

		if (st->policy == SONDE_CAPTURE_H2_FRAMES) {
			emit_frames(&io); /* HTTP/2: every I/O walked (h2_frames.bpf.h) */
			return;
		}
		/* found once, for both: STREAM's pipelining protocols are walked (gather.bpf.h)
		 * unless their first buffer holds the I/O */
		buf = io_buffer(&io.src, &contig, &go_g);
		if (st->policy != SONDE_CAPTURE_STREAM || !emit_gather(&io, buf, contig))
			emit_data(&io, buf, contig, go_g);
	}
}

#include "tls.bpf.h"

/*
 * One send or receive of ret bytes on sk, the same for every hook: the caller has checked that
 * sk is an AF_INET/AF_INET6 TCP socket (each hook reads it its own cheapest way), and says where
 * the I/O's bytes are (src).
 */
/* A new connection's state: all zero, from memory, not built on the programs' short stack. */
static const struct sonde_conn_state conn_state_zero;

static __always_inline int on_socket_io(struct sock *sk, int ret, int flags, __u16 dir,
					const struct io_source *src)
{
	struct sonde_trace_ctx injected = {};
	struct sonde_conn_state *st;
	__u64 key = (__u64)sk, ts, pid_tgid;
	__u32 tgid, tid;

	pid_tgid = bpf_get_current_pid_tgid();
	if (header_mode && dir == SONDE_DIR_EGRESS) {
		/* What the sk_msg program did to this send, if it ran: taken at every send,
		 * failed ones too, so that no verdict outlives its syscall. */
		struct sonde_sending *snd = bpf_map_lookup_elem(&sending, &pid_tgid);

		if (snd) {
			if (snd->sock == key && ret > 0)
				injected = snd->ctx;
			bpf_map_delete_elem(&sending, &pid_tgid);
		}
	}
	if (ret <= 0 || (dir == SONDE_DIR_INGRESS && (flags & MSG_PEEK)))
		return 0;
	tgid = pid_tgid >> 32;
	tid = (__u32)pid_tgid;
	if (tgid == self_tgid)
		return 0;

	st = bpf_map_lookup_elem(&conns, &key);
	if (!st) {
		/* An I/O that returns after its socket closed (a write that the peer's reset
		 * overtook) starts nothing: the close took the connection's entry, and a new one
		 * would be a connection of no address that no close ever ends. */
		if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE)
			return 0;
		bpf_map_update_elem(&conns, &key, &conn_state_zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&conns, &key);
		if (!st)
			return 0;
	}
	if (st->ignored)
		return 0;
	ts = bpf_ktime_get_ns();
	if (!st->conn_id) {
		/* First traced I/O: decide once whether this connection is ours to follow. */
		if ((filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)) ||
		    (filter_ports && !port_selected(sk))) {
			st->ignored = 1;
			return 0;
		}
		st->conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
		st->tgid = tgid;
		count(SONDE_CNT_CONN_NEW);
		emit_proc_once(tgid, ts);
		emit_open(sk, key, st, ts, tid);
	}
	count(SONDE_CNT_IO);
	/* TLS records: their plaintext comes from the library's uprobes (tls.bpf.h). */
	if (st->tls || tls_starts(st, ret, src)) {
		tls_socket_io(st, sk, key, ret, dir, pid_tgid, src);
		return 0;
	}
	io_run(sk, st, key, ret, dir, src, &injected, pid_tgid, ts);
	return 0;
}

/*
 * tp_btf: sk is a BTF pointer, read directly (no helper call on this per-I/O path). The socket
 * tracepoints are 6.3+, so sk_protocol is the u16 of core_fixes.bpf.h's later layout here.
 */
static __always_inline bool is_inet_tcp_btf(struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return (family == AF_INET || family == AF_INET6) && sk->sk_protocol == IPPROTO_TCP;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_sock_send, struct sock *sk, int ret, int flags)
{
	struct io_source src = {.from = IO_FROM_SOCKET_REGS};

	if (!is_inet_tcp_btf(sk))
		return 0;
	return on_socket_io(sk, ret, flags, SONDE_DIR_EGRESS, &src);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_sock_recv, struct sock *sk, int ret, int flags)
{
	struct io_source src = {.from = IO_FROM_SOCKET_REGS};

	if (!is_inet_tcp_btf(sk))
		return 0;
	return on_socket_io(sk, ret, flags, SONDE_DIR_INGRESS, &src);
}

#endif /* SONDE_CAPTURE_BPF_H */
