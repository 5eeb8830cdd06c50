// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sonde's socket capture. Every TCP send and receive of every process passes through
 * sock_sendmsg/sock_recvmsg, where the sock_send_length/sock_recv_length tracepoints fire with
 * the socket and the byte count; the user buffer is found through the syscall's saved registers.
 * Per I/O the kernel only updates the connection's run counters; it copies payload and writes a
 * ring-buffer record when a run (I/O in one direction) starts, and for its first few I/O, so a
 * request/response exchange costs one record per message, not one per syscall.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sonde_event.h"
#include "syscall_args.bpf.h"
#include "maps/conns.bpf.h"
#include "maps/filters.bpf.h"
#include "maps/rings.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define PF_KTHREAD 0x00200000
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7

/* Settings, written by the agent between open and load. */
const volatile __u32 self_tgid = 0;			/* the agent: never traced */
const volatile __u32 capture_bytes = SONDE_PAYLOAD_DEFAULT; /* payload copied per record */
const volatile __u32 run_captures = SONDE_RUN_CAPTURES_DEFAULT; /* records per run at most */
const volatile __u8 filter_pids = 0;			/* trace only tgids in pid_filter */
const volatile __u8 filter_ports = 0;			/* trace only ports in port_filter */
const volatile __u64 wakeup_bytes = SONDE_RING_BYTES / 4; /* wake the agent past this much data */

/* Connection ids: unique for the life of this BPF object (the agent's life). */
__u64 next_conn_id = 0;

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

/* Reserve a record in this CPU's ring, or count the loss. */
static __always_inline void *ring_reserve(void **ring, __u64 size)
{
	__u32 cpu = bpf_get_smp_processor_id();
	void *rb = bpf_map_lookup_elem(&rings, &cpu);
	void *rec;

	if (!rb)
		return NULL;
	rec = bpf_ringbuf_reserve(rb, size, 0);
	if (!rec) {
		count(SONDE_CNT_RING_FULL);
		return NULL;
	}
	*ring = rb;
	return rec;
}

/* Submit without waking the agent, unless the ring is filling up: it polls on a timer. */
static __always_inline void ring_submit(void *ring, void *rec)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
	count(SONDE_CNT_RECORDS);
}

static __always_inline void fill_head(struct sonde_event_head *h, __u64 conn_id, __u64 ts,
				      __u32 tgid, __u32 tid, __u16 kind, __u16 dir)
{
	h->conn_id = conn_id;
	h->ts_ns = ts;
	h->tgid = tgid;
	h->tid = tid;
	h->kind = kind;
	h->dir = dir;
	h->pad0 = 0;
}

static __always_inline bool port_selected(struct sock *sk)
{
	__u16 sport = sk->__sk_common.skc_num;
	__u16 dport = bpf_ntohs(sk->__sk_common.skc_dport);

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
	ev->family = sk->__sk_common.skc_family;
	if (ev->family == AF_INET) {
		__builtin_memset(ev->saddr, 0, sizeof(ev->saddr));
		__builtin_memset(ev->daddr, 0, sizeof(ev->daddr));
		*(__u32 *)ev->saddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)ev->daddr = sk->__sk_common.skc_daddr;
	} else {
		BPF_CORE_READ_INTO(&ev->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ev->daddr, sk, __sk_common.skc_v6_daddr);
	}
	ev->sport = sk->__sk_common.skc_num;
	ev->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	ev->role = st->role;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ring_submit(ring, ev);
}

/* Copy len bytes of the current process's memory at src, len clamped to max in the register. */
#define COPY_USER_CLAMPED(dst, len, src, max)                                                  \
	({                                                                                     \
		__u64 __n = (len);                                                             \
		asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t"                       \
			     : [n] "+r"(__n)                                                   \
			     : [m] "i"(max));                                                  \
		if (__n && bpf_probe_read_user((dst), __n, (const void *)(src)))              \
			__n = 0;                                                               \
		__n;                                                                           \
	})

/*
 * Send the identity of the current process once (per pid and start time): its command line and
 * environment, read from its own memory while it certainly still exists.
 */
static __always_inline void emit_proc_once(__u32 tgid, __u64 ts)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sonde_proc_event *ev;
	__u64 start = task->group_leader->start_boottime, *seen;
	unsigned long a0, a1, e0, e1;
	struct mm_struct *mm;
	void *ring;

	seen = bpf_map_lookup_elem(&procs_seen, &tgid);
	if (seen && *seen == start)
		return;
	bpf_map_update_elem(&procs_seen, &tgid, &start, BPF_ANY);
	mm = task->mm;
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

/* The user buffer of the syscall under way, and how many of its bytes are contiguous there. */
static __always_inline void *user_buffer(__u64 *contig)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct user_msghdr mh;
	struct iovec iov;
	void *arg;
	long nr;

	if (task->flags & PF_KTHREAD)
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return NULL;
	nr = SYS_NR(regs);
	arg = (void *)SYS_ARG2(regs);
	*contig = ~0ULL;
	switch (sonde_buf_kind(nr)) {
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

/* A data record for this I/O, with as much payload as the settings allow. */
static __always_inline void emit_data(struct sonde_conn_state *st, struct sonde_run_summary *prev,
				      __u64 offset, __u32 io_bytes, __u64 ts, __u32 tgid, __u32 tid,
				      __u16 dir)
{
	struct sonde_data_event *ev;
	__u64 contig = 0, n = 0;
	void *ring, *buf;

	buf = user_buffer(&contig);
	if (buf) {
		n = io_bytes;
		if (n > contig)
			n = contig;
		if (n > capture_bytes)
			n = capture_bytes;
	} else {
		count(SONDE_CNT_NO_USER_BUF);
	}
	if (n <= 64)
		RESERVE_AND_COPY(64);
	else if (n <= 256)
		RESERVE_AND_COPY(256);
	else
		RESERVE_AND_COPY(SONDE_PAYLOAD_MAX);
	if (!ev)
		return;
	fill_head(&ev->head, st->conn_id, ts, tgid, tid, SONDE_EV_DATA, dir);
	ev->prev = *prev;
	ev->run_offset = offset;
	ev->run_seq = st->run_seq;
	ev->io_bytes = io_bytes;
	ev->cap_len = n;
	ev->pad0 = 0;
	ring_submit(ring, ev);
}

static __always_inline int on_socket_io(struct sock *sk, int ret, int flags, __u16 dir)
{
	struct sonde_run_summary prev = {};
	struct sonde_conn_state *st, fresh = {};
	__u64 key = (__u64)sk, ts, offset, pid_tgid;
	__u32 tgid, tid;
	__u16 family;

	if (ret <= 0 || (dir == SONDE_DIR_INGRESS && (flags & MSG_PEEK)))
		return 0;
	family = sk->__sk_common.skc_family;
	if ((family != AF_INET && family != AF_INET6) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tgid = pid_tgid >> 32;
	tid = (__u32)pid_tgid;
	if (tgid == self_tgid)
		return 0;

	st = bpf_map_lookup_elem(&conns, &key);
	if (!st) {
		bpf_map_update_elem(&conns, &key, &fresh, BPF_NOEXIST);
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

	if (st->run_dir != dir) {
		prev.first_ts_ns = st->run_first_ts;
		prev.last_ts_ns = st->run_last_ts;
		prev.bytes = st->run_bytes;
		prev.seq = st->run_seq;
		prev.dir = st->run_dir;
		st->run_seq++;
		st->run_dir = dir;
		st->run_first_ts = ts;
		st->run_bytes = 0;
		st->run_captures = 0;
	}
	offset = st->run_bytes;
	st->run_bytes += ret;
	st->run_last_ts = ts;
	if (st->run_captures >= run_captures)
		return 0;
	st->run_captures++;
	emit_data(st, &prev, offset, ret, ts, tgid, tid, dir);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_sock_send, struct sock *sk, int ret, int flags)
{
	return on_socket_io(sk, ret, flags, SONDE_DIR_EGRESS);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_sock_recv, struct sock *sk, int ret, int flags)
{
	return on_socket_io(sk, ret, flags, SONDE_DIR_INGRESS);
}

/*
 * Connection lifecycle from TCP state changes: the role at open (SYN_SENT: we connected;
 * SYN_RECV: the child socket of an accept) and the close, which ends the last run.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_sock_state, struct sock *sk, int oldstate, int newstate)
{
	struct sonde_conn_state *st, fresh = {};
	struct sonde_close_event *ev;
	__u64 key = (__u64)sk;
	void *ring;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		fresh.role = newstate == TCP_SYN_SENT ? SONDE_ROLE_CLIENT : SONDE_ROLE_SERVER;
		bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return 0;
	if (st->conn_id && !st->ignored) {
		ev = ring_reserve(&ring, sizeof(*ev));
		if (ev) {
			fill_head(&ev->head, st->conn_id, bpf_ktime_get_ns(), st->tgid, 0,
				  SONDE_EV_CLOSE, st->run_dir);
			ev->last.first_ts_ns = st->run_first_ts;
			ev->last.last_ts_ns = st->run_last_ts;
			ev->last.bytes = st->run_bytes;
			ev->last.seq = st->run_seq;
			ev->last.dir = st->run_dir;
			ev->last.pad0 = 0;
			ring_submit(ring, ev);
		}
		count(SONDE_CNT_CONN_CLOSE);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
