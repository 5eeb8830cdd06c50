// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sonde's socket capture. Every TCP send and receive of every process passes through
 * sock_sendmsg/sock_recvmsg, where the sock_send_length/sock_recv_length tracepoints fire with
 * the socket and the byte count; the user buffer is found through the syscall's saved registers.
 * Per I/O the kernel only updates the connection's run counters; it copies payload and writes a
 * ring-buffer record when a run (I/O in one direction) starts, and for its first few I/O, so a
 * request/response exchange costs one record per message, not one per syscall.
 *
 * Kernels without those tracepoints (before 6.3) get the same per-I/O logic from the socket I/O
 * syscalls (raw_tp/sys_enter + raw_tp/sys_exit) and the lifecycle from raw_tp/inet_sock_set_state;
 * the agent's probe table loads one set or the other, never both.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sonde_event.h"
#include "syscall_args.bpf.h"
#include "http_head.bpf.h"
#include "maps/conns.bpf.h"
#include "maps/filters.bpf.h"
#include "maps/go.bpf.h"
#include "maps/propagation.bpf.h"
#include "maps/responses.bpf.h"
#include "maps/rings.bpf.h"
#include "maps/syscall_io.bpf.h"
#include "maps/tcp_option.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define PF_KTHREAD 0x00200000
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SK_PASS 1
#define TCPHDR_SYN 0x02
#define TCPHDR_RST 0x04
#define EEXIST 17

/* Settings, written by the agent between open and load. */
const volatile __u32 self_tgid = 0;			/* the agent: never traced */
const volatile __u32 capture_bytes = SONDE_PAYLOAD_DEFAULT; /* payload copied per record */
const volatile __u32 run_captures = SONDE_RUN_CAPTURES_DEFAULT; /* records per run at most */
const volatile __u8 filter_pids = 0;			/* trace only tgids in pid_filter */
const volatile __u8 filter_ports = 0;			/* trace only ports in port_filter */
const volatile __u64 wakeup_bytes = SONDE_RING_BYTES / 4; /* wake the agent past this much data */
/* Which directions the syscall fallback captures: the probe table picks per capability. */
const volatile __u8 sys_send = 0;			/* sends through raw_tp/sys_enter+exit */
const volatile __u8 sys_recv = 0;			/* receives through raw_tp/sys_enter+exit */
/* --propagation header: ids decided here, traceparent injected (socket tracepoints only). */
const volatile __u8 header_mode = 0;
/* --propagation tcp: ids decided here, carried in a TCP option (socket tracepoints only). */
const volatile __u8 tcp_mode = 0;
/* --http-responses status: final HTTP/1.x responses summarized, not recorded (sonde_event.h). */
const volatile __u8 http1_summaries = 0;
/* Both directions on the socket tracepoints: a thread's response notes live in its task storage
 * (resp_notes_task), not in the fallback's hash, which both directions must share otherwise. */
const volatile __u8 task_notes = 0;
/* --sample-ratio: a trace is sampled when its id's last 56 bits, big-endian, are at least this;
 * 0 samples all. Only the W3C sampled flag of a trace the kernel starts or joins by TCP option
 * depends on it: the agent drops the spans. */
const volatile __u64 sample_threshold = 0;

/* Connection ids: unique for the life of this BPF object (the agent's life). */
__u64 next_conn_id = 0;
/* The port of the agent's own TCP-option self-test listener while it runs: the one connection of
 * the agent's that carries the option. */
__u16 selftest_port = 0;
/* Bumped by the agent after each write to conn_policy: a connection looks there only when it
 * changed since it last looked (maps/responses.bpf.h), not at every response. */
__u32 conn_policy_gen = 0;
/* Set by the agent once it attached the Go net/http uprobes to some program (maps/go.bpf.h). */
__u8 go_uprobes = 0;
/* Set by the agent when its drains found nothing for a while and it polls rarely (agent/main.c):
 * the next record wakes it, and clears this, so traffic after a quiet stretch is not left
 * waiting for the slow poll nor taken in one burst. */
__u32 agent_quiet = 0;

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

/* The W3C trace-flags of a trace this host starts (or joins with no flags of its own): sampled
 * or not by the agent's rule. */
static __always_inline __u8 trace_flags(const __u8 *trace_id)
{
	return sonde_trace_sampled(trace_id, sample_threshold);
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

/*
 * Submit without waking the agent, unless the ring is filling up (it polls on a timer) or the
 * agent went quiet: then this is the first record after the quiet stretch.
 */
static __always_inline void ring_submit(void *ring, void *rec)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (agent_quiet) {
		agent_quiet = 0;
		flags = BPF_RB_FORCE_WAKEUP;
	} else if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
	}
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
 * go_g, when not NULL, gets the register Go keeps its goroutine in.
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

#define DATA_HEAD_BYTES offsetof(struct sonde_data_event, payload)

/*
 * Scan the head copied in scr (scr->len bytes) into *r; 0, or -1 for no buffer. A global
 * function: the verifier checks it once, on its own, instead of once for every path that
 * reaches it, and its callers then see the results as values it cannot bound, so that their
 * own paths do not multiply with the scan's (inlined, the scan and the injection after it did
 * not fit in the verifier's million instructions). Programs of the syscall fallback never call
 * it (kernels before 5.12 do not take pointer arguments to global functions).
 */
/* The word at off of the head copy in scr, the bytes past len (stale) zeroed (see SCAN_HEAD). */
#define SCRATCH_WORD(off)                                                                      \
	(*(__u64 *)(scr->buf + ((off) & (SONDE_HEAD_SCAN_MAX - 1))) & LOW_BYTES(len - (off)))

__noinline int sonde_scan_head(struct sonde_head_scratch *scr, struct head_scan *r)
{
	__u32 len;

	if (!scr || !r)
		return -1;
	len = scr->len;
	if (len < 16 || len > SONDE_HEAD_SCAN_MAX)
		return -1;
	SCAN_HEAD(SCRATCH_WORD, len, r);
	return 0;
}

/*
 * Server side of header and TCP-option propagation. This record starts a run of bytes a
 * connection that is not ours as a client received: when they start with a request line, the
 * server span gets its ids here (the caller's trace and span as parent from a valid incoming
 * traceparent, else from the TCP option that came with the run's first byte (opt), else a new
 * trace) and the thread remembers them as the request it serves, so that the calls it makes
 * before answering carry them at once. The record already holds the payload: the head is scanned
 * from a per-CPU copy of it (a kernel-to-kernel copy, no second read of user memory). A run that
 * is no HTTP/1.x request but came with an option reports the client span as PEER: the agent's
 * decoders of other protocols take it.
 */
static __always_inline void server_ids(const __u8 *payload, __u64 n, __u64 sock, __u64 pid_tgid,
				       struct sonde_trace_ctx *ctx,
				       const struct sonde_tcp_rx_slot *opt)
{
	__u8 line[TRACEPARENT_PARSE_BYTES] = {};
	struct sonde_head_scratch *scr;
	struct sonde_serving sv = {};
	struct head_scan hs;
	__u32 slot = SCRATCH_RECV, len;
	bool joined = false;

	if (n < 16 || !request_method_len(*(const __u64 *)payload)) {
		if (opt) {
			__builtin_memcpy(ctx->trace_id, opt->trace_id, sizeof(ctx->trace_id));
			__builtin_memcpy(ctx->parent_id, opt->span_id, sizeof(ctx->parent_id));
			ctx->flags = trace_flags(ctx->trace_id);
			ctx->kind = SONDE_CTX_PEER;
			count(SONDE_CNT_TCPOPT_JOINED);
		}
		return;
	}
	scr = bpf_map_lookup_elem(&head_scratch, &slot);
	if (!scr)
		return;
	asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t"
		     : [n] "+r"(n)
		     : [m] "i"(SONDE_HEAD_SCAN_MAX));
	if (bpf_probe_read_kernel(scr->buf, n, payload))
		return;
	scr->len = n;
	len = n;
	if (sonde_scan_head(scr, &hs))
		return;
	if (hs.has_tp) {
		/* The line, from a plain number: no data-dependent address for the verifier. */
		unsigned long at = (unsigned long)scr->buf + hs.tp;
		__u32 real = len - hs.tp;

		if (!bpf_probe_read_kernel(line, sizeof(line), (const void *)at))
			joined = parse_traceparent(line, real, ctx->trace_id, ctx->parent_id,
						   &ctx->flags);
	}
	if (joined) {
		random_ids(NULL, ctx->span_id);
		count(SONDE_CNT_SERVER_TP_IN);
	} else if (opt) {
		if (hs.has_tp)
			count(SONDE_CNT_SERVER_TP_BAD);
		__builtin_memcpy(ctx->trace_id, opt->trace_id, sizeof(ctx->trace_id));
		__builtin_memcpy(ctx->parent_id, opt->span_id, sizeof(ctx->parent_id));
		random_ids(NULL, ctx->span_id);
		ctx->flags = trace_flags(ctx->trace_id);
		count(SONDE_CNT_TCPOPT_JOINED);
	} else {
		if (hs.has_tp)
			count(SONDE_CNT_SERVER_TP_BAD);
		random_ids(ctx->trace_id, ctx->span_id);
		__builtin_memset(ctx->parent_id, 0, sizeof(ctx->parent_id));
		ctx->flags = trace_flags(ctx->trace_id);
	}
	ctx->kind = SONDE_CTX_SERVER;
	count(SONDE_CNT_SERVER_IDS);
	sv.sock = sock;
	__builtin_memcpy(sv.trace_id, ctx->trace_id, sizeof(sv.trace_id));
	__builtin_memcpy(sv.span_id, ctx->span_id, sizeof(sv.span_id));
	sv.flags = ctx->flags;
	bpf_map_update_elem(&serving, &pid_tgid, &sv, BPF_ANY);
}

/*
 * TCP-option propagation, the parts on the I/O path (the sockops program below writes and
 * parses the option). An outgoing request's ids are decided once, by whichever sees the request
 * first: the sockops program at its first segment (inside the send, nearly always) or the send
 * tracepoint when no segment went out during the send (held by Nagle or a full window). The
 * request belongs to the thread that sends it: the current one when it is of the connection's
 * process (the send's own context), else the last one that started a request on it (a
 * transmit from softirq).
 */
static __always_inline void tcp_decide(struct sonde_tcp_tx *tx, __u32 start_seq, __u64 rcv_mark,
				       __u64 pid_tgid)
{
	struct sonde_serving *sv;

	if (pid_tgid >> 32 != tx->owner >> 32)
		pid_tgid = tx->owner;
	sv = bpf_map_lookup_elem(&serving, &pid_tgid);
	if (sv) {
		__builtin_memcpy(tx->trace_id, sv->trace_id, sizeof(tx->trace_id));
		random_ids(NULL, tx->span_id);
	} else {
		random_ids(tx->trace_id, tx->span_id);
	}
	tx->start_seq = start_seq;
	tx->rcv_mark = rcv_mark;
	tx->decided = 1;
	count(SONDE_CNT_TCPOPT_RUNS);
}

/* A send that starts a request on an outgoing connection: the ids its record carries. */
static __always_inline void tcp_option_sent(struct sock *sk, __u32 ret, __u64 pid_tgid,
					    struct sonde_trace_ctx *ctx)
{
	struct sonde_tcp_tx *tx = bpf_sk_storage_get(&tcp_tx, sk, 0, 0);
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 start;

	if (!tx || ctx->kind != SONDE_CTX_NONE)
		return; /* not ours, or a traceparent was injected: the header's ids are the ones */
	start = BPF_CORE_READ(tp, write_seq) - ret;
	tx->owner = pid_tgid;
	if (!tx->decided || tx->start_seq != start)
		tcp_decide(tx, start, BPF_CORE_READ(tp, bytes_received), pid_tgid);
	__builtin_memcpy(ctx->trace_id, tx->trace_id, sizeof(ctx->trace_id));
	__builtin_memcpy(ctx->span_id, tx->span_id, sizeof(ctx->span_id));
	__builtin_memset(ctx->parent_id, 0, sizeof(ctx->parent_id));
	ctx->flags = trace_flags(ctx->trace_id);
	ctx->kind = SONDE_CTX_INJECTED;
}

/* The context that came with the first byte of the ret bytes just read on sk, if any. */
static __always_inline bool tcp_option_read(struct sock *sk, __u32 ret,
					    struct sonde_tcp_rx_slot *out)
{
	struct sonde_tcp_rx *rx = bpf_sk_storage_get(&tcp_rx, sk, 0, 0);
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 first;
	int i;

	if (!rx)
		return false;
	first = BPF_CORE_READ(tp, copied_seq) - ret;
#pragma unroll
	for (i = 0; i < SONDE_TCP_RX_SLOTS; i++) {
		struct sonde_tcp_rx_slot *sl = &rx->slot[i];

		if (sl->seq != sl->end && (__s32)(first - sl->seq) >= 0 &&
		    (__s32)(sl->end - first) > 0) {
			*out = *sl;
			return true;
		}
	}
	return false;
}

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
 * socket tracepoints (sys is NULL on them), else from the fallback's hash; created when create
 * is set.
 */
static __always_inline struct sonde_thread_notes *thread_notes(__u64 pid_tgid, bool create,
							       const struct sonde_syscall_io *sys)
{
	struct sonde_thread_notes *tn, fresh = {};

	if (!sys && task_notes)
		return bpf_task_storage_get(&resp_notes_task, bpf_get_current_task_btf(), 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	tn = bpf_map_lookup_elem(&resp_notes, &pid_tgid);
	if (!tn && create) {
		bpf_map_update_elem(&resp_notes, &pid_tgid, &fresh, BPF_ANY);
		tn = bpf_map_lookup_elem(&resp_notes, &pid_tgid);
	}
	return tn;
}

/*
 * A data record for this I/O, with as much payload as the settings allow. The user buffer comes
 * from the syscall's arguments saved at entry (sys), or, from inside the socket layer (sys is
 * NULL), from the syscall's registers.
 */
static __always_inline void emit_data(struct sock *sk, struct sonde_conn_state *st,
				      struct sonde_run_summary *prev, __u64 offset, __u32 io_bytes,
				      __u64 ts, __u64 pid_tgid, __u16 dir,
				      const struct sonde_syscall_io *sys, __u64 key,
				      const struct sonde_trace_ctx *injected)
{
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct sonde_data_event *ev;
	__u64 contig = 0, n = 0, go_g = 0;
	void *ring, *buf;

	if (sys) {
		buf = user_buffer_of(sys->kind, (void *)sys->arg, &contig);
		go_g = sys->go_g;
	} else {
		buf = user_buffer(&contig, &go_g);
	}
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
	if (go_uprobes && dir == SONDE_DIR_EGRESS && go_g) {
		/* A writeLoop goroutine writes the request of the goroutine that asked for it. */
		struct sonde_go_owner *w = bpf_map_lookup_elem(&go_writers, &go_g);

		if (w && w->ts_ns <= ts)
			go_g = w->g;
	}
	ev->go_g = go_g;
	if (header_mode && injected->kind)
		ev->ctx = *injected;
	else
		__builtin_memset(&ev->ctx, 0, sizeof(ev->ctx));
	__builtin_memset(ev->http1_notes, 0, sizeof(ev->http1_notes));
	if (http1_summaries) {
		/* The thread's response starts summarized since its last record go with it, once. */
		struct sonde_thread_notes *tn = thread_notes(pid_tgid, false, sys);

		if (tn && tn->n[0].conn_id) {
			__builtin_memcpy(ev->http1_notes, tn->n, sizeof(ev->http1_notes));
			__builtin_memset(tn->n, 0, sizeof(tn->n));
		}
	}
	/* !sys: the syscall fallback never propagates (and must not reference the scan, nor use
	 * its sock, a plain address, as the BTF pointer socket storage wants). */
	if ((header_mode || tcp_mode) && !sys && dir == SONDE_DIR_INGRESS && !offset &&
	    st->role != SONDE_ROLE_CLIENT) {
		struct sonde_tcp_rx_slot opt;
		bool have = tcp_mode && tcp_option_read(sk, io_bytes, &opt);

		server_ids(ev->payload, n, key, pid_tgid, &ev->ctx, have ? &opt : NULL);
	}
	if (tcp_mode && !sys && dir == SONDE_DIR_EGRESS && !offset && st->role != SONDE_ROLE_SERVER)
		tcp_option_sent(sk, io_bytes, pid_tgid, &ev->ctx);
	ring_submit(ring, ev);
}

/*
 * A run in the connection's response direction starts: unless the agent asked for summaries,
 * or when the bytes are not a final HTTP/1.x status line, it is recorded as any other run.
 * Otherwise the status goes into the connection's state, the run writes no record (its
 * captures are used up), and the thread notes where a response started.
 */
static __always_inline void summarize_response(struct sonde_conn_state *st, __u64 key, int ret,
					       __u64 ts, __u64 pid_tgid,
					       const struct sonde_syscall_io *sys)
{
	struct sonde_thread_notes *tn;
	__u64 contig = 0;
	__u32 gen = *(volatile __u32 *)&conn_policy_gen;
	__u8 head[16], *mode;
	__u16 status;
	void *buf;

	if (st->policy_seen != gen) {
		st->policy_seen = gen;
		mode = bpf_map_lookup_elem(&conn_policy, &key);
		if (mode) {
			st->policy = *mode;
			bpf_map_delete_elem(&conn_policy, &key);
		}
	}
	if (st->policy != SONDE_CAPTURE_HTTP1_STATUS)
		return;
	if (ret < 13)
		goto full;
	if (sys)
		buf = user_buffer_of(sys->kind, (void *)sys->arg, &contig);
	else
		buf = user_buffer(&contig, NULL);
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
	tn = thread_notes(pid_tgid, true, sys);
	if (!tn)
		return;
	/* Both slots taken: the oldest note goes (the run summary still reports it, later). */
	if (tn->n[1].conn_id)
		tn->n[0] = tn->n[1];
	else if (!tn->n[0].conn_id)
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

/*
 * One send or receive of ret bytes on sk, the same for every hook: the caller has checked that
 * sk is an AF_INET/AF_INET6 TCP socket (each hook reads it its own cheapest way), and passes the
 * syscall's saved arguments (sys) when it has them, NULL to find them in the registers.
 */
static __always_inline int on_socket_io(struct sock *sk, int ret, int flags, __u16 dir,
					const struct sonde_syscall_io *sys)
{
	struct sonde_trace_ctx injected = {};
	struct sonde_run_summary prev = {};
	struct sonde_conn_state *st, fresh = {};
	__u64 key = (__u64)sk, ts, offset, pid_tgid;
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
		prev.http1_status = st->run_http1_status;
		st->run_http1_status = 0;
		if (http1_summaries && st->role != SONDE_ROLE_UNKNOWN &&
		    (dir == SONDE_DIR_EGRESS) == (st->role == SONDE_ROLE_SERVER))
			summarize_response(st, key, ret, ts, pid_tgid, sys);
		if ((header_mode || tcp_mode) && dir == SONDE_DIR_EGRESS) {
			/* The connection answers: its request is no longer what this thread serves. */
			struct sonde_serving *sv = bpf_map_lookup_elem(&serving, &pid_tgid);

			if (sv && sv->sock == key)
				bpf_map_delete_elem(&serving, &pid_tgid);
		}
	}
	offset = st->run_bytes;
	st->run_bytes += ret;
	st->run_last_ts = ts;
	if (st->run_captures >= run_captures)
		return 0;
	st->run_captures++;
	emit_data(sk, st, &prev, offset, ret, ts, pid_tgid, dir, sys, key, &injected);
	return 0;
}

/* tp_btf: sk is a BTF pointer, read directly (no helper call on this per-I/O path). */
static __always_inline bool is_inet_tcp_btf(struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return (family == AF_INET || family == AF_INET6) && sk->sk_protocol == IPPROTO_TCP;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_sock_send, struct sock *sk, int ret, int flags)
{
	if (!is_inet_tcp_btf(sk))
		return 0;
	return on_socket_io(sk, ret, flags, SONDE_DIR_EGRESS, NULL);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_sock_recv, struct sock *sk, int ret, int flags)
{
	if (!is_inet_tcp_btf(sk))
		return 0;
	return on_socket_io(sk, ret, flags, SONDE_DIR_INGRESS, NULL);
}

/*
 * The fallback for kernels without the socket tracepoints: the socket I/O syscalls.
 *
 * Why raw_tp/sys_enter + raw_tp/sys_exit filtered by number rather than the per-syscall
 * tracepoints (syscalls/sys_enter_write, ...): both make every syscall of every task take the
 * slow tracing path, and measured here cost the same when empty (+13% vs +13-15% CPU per request,
 * ../shared/KERNEL.md). The per-syscall events then build a perf record of the arguments before
 * the program runs, where a raw tracepoint hands over the registers; they need tracefs mounted to
 * attach (it is not, here and in many containers), while raw tracepoints attach by name; and one
 * pair of programs serves all eight syscalls. Raw tracepoints exist since 4.17, before anything
 * else sonde needs (ring buffers: 5.8).
 *
 * Entry resolves the fd to a TCP socket at once, so that only socket I/O costs a map write: a
 * read of a file or a pipe ends at entry with a few reads, and its exit with one failed lookup.
 * The syscall holds its file reference from just after entry to just before exit, so the sock
 * found at entry is the one the I/O used.
 */

/* The sock behind fd in the current task, if fd is an AF_INET/AF_INET6 TCP socket; else NULL. */
static __always_inline struct sock *tcp_sock_of_fd(struct task_struct *task, long fd)
{
	struct file **fds, *file = NULL;
	struct socket *sock;
	struct fdtable *fdt;
	struct sock *sk;
	unsigned int max;
	__u16 family, proto;
	umode_t mode;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	/*
	 * A socket's file: its inode is a socket inode, and the struct socket in private_data points
	 * back to the file. (sock_from_file() compares f_op with socket_file_ops, a static symbol
	 * only kallsyms with CONFIG_KALLSYMS_ALL can resolve; this test needs nothing of the kind.)
	 */
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	/* A bitfield before 5.6 ("sock: Make sk_protocol a 16-bit value"): the probed read takes both. */
	proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	return proto == IPPROTO_TCP ? sk : NULL;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sonde_sys_enter, struct pt_regs *regs, long nr)
{
	struct sonde_syscall_io io = {};
	struct task_struct *task;
	__u64 pid_tgid;
	__u16 dir;

	dir = sonde_sys_dir(nr);
	if (dir == SONDE_DIR_NONE || (dir == SONDE_DIR_EGRESS && !sys_send) ||
	    (dir == SONDE_DIR_INGRESS && !sys_recv))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (pid_tgid >> 32 == self_tgid)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	/* A 32-bit task's numbers are another table's: nr 3 there is read, nr 20 getpid. */
	if (SYS_IS_COMPAT(task))
		return 0;
	io.sk = (__u64)tcp_sock_of_fd(task, (long)SYS_ARG1_CORE(regs));
	if (!io.sk)
		return 0;
	io.arg = SYS_ARG2_CORE(regs);
	io.go_g = SYS_GO_G_CORE(regs);
	io.kind = sonde_buf_kind(nr);
	io.dir = dir;
	if (nr == SONDE_NR_recvfrom)
		io.flags = SYS_ARG4_CORE(regs);
	else if (nr == SONDE_NR_recvmsg)
		io.flags = SYS_ARG3_CORE(regs);
	bpf_map_update_elem(&syscall_io, &pid_tgid, &io, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sonde_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sonde_syscall_io *saved, io;

	saved = bpf_map_lookup_elem(&syscall_io, &pid_tgid);
	if (!saved)
		return 0;
	io = *saved;
	bpf_map_delete_elem(&syscall_io, &pid_tgid);
	/* One read or write moves at most MAX_RW_COUNT (INT_MAX rounded down to a page). */
	if (ret <= 0 || ret > 0x7ffff000)
		return 0;
	return on_socket_io((struct sock *)io.sk, (int)ret, io.flags, io.dir, &io);
}

/*
 * Connection lifecycle from TCP state changes. At open (SYN_SENT: we connected; SYN_RECV: the
 * child socket of an accept) the entry starts afresh, so a socket at a reused address never
 * inherits another connection's runs; it notes the role, which the OPEN record reports. The
 * close ends the last run.
 */
static __always_inline int on_state_change(__u64 key, int newstate)
{
	struct sonde_conn_state *st, fresh = {};
	struct sonde_close_event *ev;
	void *ring;

	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		fresh.role = newstate == TCP_SYN_SENT ? SONDE_ROLE_CLIENT : SONDE_ROLE_SERVER;
		fresh.open_ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY);
		if (http1_summaries)
			bpf_map_delete_elem(&conn_policy, &key); /* a closed socket's, at its address */
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
			ev->last.http1_status = st->run_http1_status;
			ring_submit(ring, ev);
		}
		count(SONDE_CNT_CONN_CLOSE);
	}
	bpf_map_delete_elem(&conns, &key);
	if (http1_summaries)
		bpf_map_delete_elem(&conn_policy, &key);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_sock_state, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_state_change((__u64)sk, newstate);
}

/*
 * The lifecycle fallback: the raw tracepoint under the same event (4.17+). Preferred to the
 * classic tracepoint/sock/inet_sock_set_state (4.16+), which needs tracefs mounted to attach and
 * builds a perf record before the program runs; no kernel sonde can run on lacks raw tracepoints.
 */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(sonde_raw_state, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return on_state_change((__u64)sk, newstate);
}

/*
 * Thread hand-off. A request's thread may hand its work to a thread it creates (a handler that
 * starts a worker and waits for it); the worker's calls belong to that request. The kernel sees
 * the creation: one small record when a thread of a process sonde traces (one whose identity it
 * sent: procs_seen) creates another thread of the same process. A new process (fork) is not a
 * hand-off. Both hooks fire in the creator's context; neither is on an I/O path.
 */
static __always_inline int on_thread_created(__u32 tgid, __u32 creator, __u32 child_tgid,
					     __u32 child)
{
	struct sonde_thread_event *ev;
	void *ring;

	if (child_tgid != tgid || tgid == self_tgid || !bpf_map_lookup_elem(&procs_seen, &tgid))
		return 0;
	ev = ring_reserve(&ring, sizeof(*ev));
	if (!ev)
		return 0;
	fill_head(&ev->head, 0, bpf_ktime_get_ns(), tgid, creator, SONDE_EV_THREAD,
		  SONDE_DIR_NONE);
	ev->child_tid = child;
	ev->pad0 = 0;
	ring_submit(ring, ev);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sonde_thr_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_thread_created(parent->tgid, parent->pid, child->tgid, child->pid);
}

/* The same for kernels whose fallback set is chosen (--hooks syscalls): CO-RE reads. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(sonde_raw_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_thread_created(BPF_CORE_READ(parent, tgid), BPF_CORE_READ(parent, pid),
				 BPF_CORE_READ(child, tgid), BPF_CORE_READ(child, pid));
}

/*
 * Header injection, client side (--propagation header). A sockops program on the cgroup v2 root
 * puts every outgoing TCP connection, once established, into the sockhash out_socks; the sk_msg
 * program attached to that map then sees every send on those connections before TCP does, and
 * may add one traceparent line at the end of a request head with bpf_msg_push_data.
 *
 * It injects only when it is certain to be right, and counts every other case: the send starts a
 * request run on a connection sonde traces (not the body of a request already sent: a new run
 * in the kernel's run state), the bytes start with a request line of a known method that ends
 * in " HTTP/1.0" or " HTTP/1.1" and CRLF, the whole head with its empty line is in the send's
 * first buffer segment (the only bytes the program can read without copying the message), and
 * no traceparent, b3 or X-B3-* header is there already. A large send reaches the program in
 * pieces: the first piece is judged, the later ones pass untouched (sending map).
 *
 * The trace is the one of the request the thread is serving, if any (server side above), else a
 * new one; the span is a new id, the client span's. The verdict goes to the send tracepoint of
 * the same syscall through the sending map, and from there to the agent in the DATA record.
 */

/* Write "traceparent: 00-<trace>-<span>-<flags>\r\n" at p (SONDE_TRACEPARENT_LINE bytes). */
static __always_inline void write_traceparent(__u8 *p, const struct sonde_trace_ctx *c)
{
	const char name[] = "traceparent: 00-";
	int i;

#pragma unroll
	for (i = 0; i < 16; i++)
		p[i] = name[i];
#pragma unroll
	for (i = 0; i < 16; i++) {
		p[16 + 2 * i] = hex_digit(c->trace_id[i] >> 4);
		p[17 + 2 * i] = hex_digit(c->trace_id[i] & 15);
	}
	p[48] = '-';
#pragma unroll
	for (i = 0; i < 8; i++) {
		p[49 + 2 * i] = hex_digit(c->span_id[i] >> 4);
		p[50 + 2 * i] = hex_digit(c->span_id[i] & 15);
	}
	p[65] = '-';
	p[66] = hex_digit(c->flags >> 4);
	p[67] = hex_digit(c->flags & 15);
	p[68] = '\r';
	p[69] = '\n';
}

/* Judge the first piece of a send; inject when safe. Returns the counter of what happened. */
static __always_inline __u32 inject(struct sk_msg_md *msg, __u64 key, __u64 pid_tgid,
				    struct sonde_trace_ctx *ctx)
{
	void *data = (void *)(long)msg->data, *data_end = (void *)(long)msg->data_end;
	struct sonde_conn_state *st = bpf_map_lookup_elem(&conns, &key);
	__u32 tgid = pid_tgid >> 32, slot = SCRATCH_SEND, at;
	struct sonde_head_scratch *scr;
	struct sonde_serving *sv;
	struct head_scan hs;
	__u64 owner, n;

	if ((st && st->ignored) || (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)))
		return SONDE_CNT_SKIP_UNTRACED;
	if (st && st->conn_id && st->run_dir == SONDE_DIR_EGRESS)
		return SONDE_CNT_SKIP_NOT_START;
	if (data + 16 > data_end)
		return msg->size < 16 ? SONDE_CNT_SKIP_NOT_HTTP : SONDE_CNT_SKIP_SPLIT;
	if (!request_method_len(*(__u64 *)data))
		return SONDE_CNT_SKIP_NOT_HTTP;
	/*
	 * Scan a copy: in place, every read needs a bounds check against data_end, whose failing
	 * branch gives the verifier constant words and paths it cannot merge (see SCAN_HEAD).
	 */
	scr = bpf_map_lookup_elem(&head_scratch, &slot);
	if (!scr)
		return SONDE_CNT_SKIP_FAILED;
	owner = pid_tgid ^ bpf_ktime_get_ns();
	scr->owner = owner;
	n = data_end - data;
	asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t"
		     : [n] "+r"(n)
		     : [m] "i"(SONDE_HEAD_SCAN_MAX));
	if (bpf_probe_read_kernel(scr->buf, n, data))
		return SONDE_CNT_SKIP_FAILED;
	scr->len = n;
	if (sonde_scan_head(scr, &hs))
		return SONDE_CNT_SKIP_FAILED;
	/* Another send on this CPU took the copy while this one was preempted: trust nothing. */
	asm volatile("" ::: "memory");
	if (scr->owner != owner)
		return SONDE_CNT_SKIP_FAILED;
	if (!hs.line1)
		return SONDE_CNT_SKIP_SPLIT;
	if (!hs.http1)
		return SONDE_CNT_SKIP_NOT_HTTP;
	if (hs.has_tp || hs.b3)
		return SONDE_CNT_SKIP_HAS_CTX;
	if (hs.bare_lf)
		return SONDE_CNT_SKIP_NOT_HTTP;
	if (!hs.has_end)
		return SONDE_CNT_SKIP_SPLIT;

	sv = bpf_map_lookup_elem(&serving, &pid_tgid);
	if (sv) {
		__builtin_memcpy(ctx->trace_id, sv->trace_id, sizeof(ctx->trace_id));
		ctx->flags = sv->flags;
		random_ids(NULL, ctx->span_id);
	} else {
		random_ids(ctx->trace_id, ctx->span_id);
		ctx->flags = trace_flags(ctx->trace_id);
	}
	/* The line goes before the empty line: the head's last CRLF stays last. */
	at = hs.head_end;
	if (bpf_msg_push_data(msg, at, SONDE_TRACEPARENT_LINE, 0))
		return SONDE_CNT_SKIP_FAILED;
	/* The pushed bytes are a segment of their own: pulling exactly them copies nothing. */
	if (bpf_msg_pull_data(msg, at, at + SONDE_TRACEPARENT_LINE, 0))
		goto undo;
	data = (void *)(long)msg->data;
	data_end = (void *)(long)msg->data_end;
	if (data + SONDE_TRACEPARENT_LINE > data_end)
		goto undo;
	write_traceparent(data, ctx);
	ctx->kind = SONDE_CTX_INJECTED;
	/*
	 * Make the head one segment again. The push split the message's first scatterlist entry
	 * in three (head, our line, the rest), and TCP sends each entry with its own
	 * tcp_sendmsg_locked() call without MSG_MORE: the first goes out at once, and on a socket
	 * without TCP_NODELAY Nagle holds the other two until it is acknowledged, which the peer,
	 * waiting for the end of the head, delays (40 ms on Linux). That is what collapsed nginx's
	 * proxied throughput (its upstream connections keep Nagle on; curl, Python and Node set
	 * TCP_NODELAY and did not notice). Pulling the head's bytes copies the three entries into
	 * one. If it fails the bytes are still right, only slower: counted.
	 */
	if (bpf_msg_pull_data(msg, 0, at + SONDE_TRACEPARENT_LINE + 2, 0))
		count(SONDE_CNT_INJECT_UNMERGED);
	return SONDE_CNT_INJECTED;
undo:
	/* Never leave unwritten bytes in the stream. */
	bpf_msg_pop_data(msg, at, SONDE_TRACEPARENT_LINE, 0);
	return SONDE_CNT_SKIP_FAILED;
}

SEC("sk_msg")
int sonde_inject(struct sk_msg_md *msg)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sonde_sending snd = {}, *prev;
	struct bpf_sock *sk = msg->sk;

	if (!sk || pid_tgid >> 32 == self_tgid)
		return SK_PASS;
	snd.sock = (__u64)sk;
	prev = bpf_map_lookup_elem(&sending, &pid_tgid);
	if (prev && prev->sock == snd.sock)
		return SK_PASS; /* a later piece of a send already judged */
	count(inject(msg, snd.sock, pid_tgid, &snd.ctx));
	bpf_map_update_elem(&sending, &pid_tgid, &snd, BPF_ANY);
	return SK_PASS;
}

SEC("sockops")
int sonde_sockops(struct bpf_sock_ops *skops)
{
	__u16 lport, rport;
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    (skops->family != AF_INET && skops->family != AF_INET6))
		return 1;
	if (filter_ports) {
		lport = skops->local_port;
		rport = bpf_ntohl(skops->remote_port);
		if (!bpf_map_lookup_elem(&port_filter, &lport) &&
		    !bpf_map_lookup_elem(&port_filter, &rport))
			return 1;
	}
	cookie = bpf_get_socket_cookie(skops);
	/* A full map or a socket another map's sk_msg already owns: no injection, no harm. */
	bpf_sock_hash_update(skops, &out_socks, &cookie, BPF_NOEXIST);
	return 1;
}

/*
 * TCP-option propagation (--propagation tcp), on the wire. A sockops program on the cgroup v2
 * root: a connection that a process sonde traces makes (its connect, in the process's context)
 * gets socket storage and the callbacks that write header options; every accepted connection
 * gets the callback that parses options the kernel does not know. Per outgoing segment with
 * data: its request's ids are decided at the request's first segment (tcp_decide), and every
 * segment sent while the request's first byte is not acknowledged yet (the first one, and a
 * resend of it) carries them. The option's room is reserved in the MSS the kernel computes, so
 * segments always fit. Per received segment with a sonde option: its sequence range is noted
 * under its context. No payload is read or changed: only the header.
 */
struct sonde_tcp_opt_wire {
	__u8 kind;
	__u8 len;
	__u8 exid[2];
	__u8 trace_id[16];
	__u8 span_id[8];
};

static __always_inline bool port_chosen(__u16 a, __u16 b)
{
	return bpf_map_lookup_elem(&port_filter, &a) || bpf_map_lookup_elem(&port_filter, &b);
}

static __always_inline int tcp_opt_connect(struct bpf_sock_ops *skops)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u16 lport = skops->local_port, rport = bpf_ntohl(skops->remote_port);
	struct sonde_tcp_tx *tx;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return 1;
	if (tgid == self_tgid) {
		if (!selftest_port || rport != selftest_port)
			return 1; /* sonde's own connections (exports) carry nothing */
	} else if ((filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)) ||
		   (filter_ports && !port_chosen(lport, rport))) {
		return 1;
	}
	tx = bpf_sk_storage_get(&tcp_tx, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!tx)
		return 1;
	tx->owner = pid_tgid;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
	return 1;
}

static __always_inline int tcp_opt_accepted(struct bpf_sock_ops *skops)
{
	__u16 lport = skops->local_port;

	if (filter_ports && !port_chosen(lport, lport) && !(selftest_port && lport == selftest_port))
		return 1;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG);
	return 1;
}

/* The request's first byte is not acknowledged yet: this segment may hold it, or resend it. */
static __always_inline bool tcp_start_unacked(const struct sonde_tcp_tx *tx,
					      const struct bpf_sock_ops *skops)
{
	return tx->decided && (__s32)(tx->start_seq - skops->snd_una) >= 0;
}

static __always_inline int tcp_opt_len(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sonde_tcp_tx *tx;

	if (skops->args[0] == BPF_WRITE_HDR_TCP_CURRENT_MSS) {
		/* The MSS the kernel sizes segments with leaves room for the option. */
		bpf_reserve_hdr_opt(skops, SONDE_TCPOPT_LEN, 0);
		return 1;
	}
	if (!sk || !skops->skb_len || (skops->skb_tcp_flags & (TCPHDR_SYN | TCPHDR_RST)))
		return 1;
	tx = bpf_sk_storage_get(&tcp_tx, sk, 0, 0);
	if (!tx)
		return 1;
	/* Data goes out after data came in (or for the first time): a new request, whose first
	 * byte is this segment's (new data starts at snd_nxt). */
	if (!tx->decided || skops->bytes_received != tx->rcv_mark)
		tcp_decide(tx, skops->snd_nxt, skops->bytes_received, bpf_get_current_pid_tgid());
	if (tcp_start_unacked(tx, skops) && bpf_reserve_hdr_opt(skops, SONDE_TCPOPT_LEN, 0))
		count(SONDE_CNT_TCPOPT_NOSPACE);
	return 1;
}

static __always_inline int tcp_opt_write(struct bpf_sock_ops *skops)
{
	struct sonde_tcp_opt_wire opt;
	struct bpf_sock *sk = skops->sk;
	struct sonde_tcp_tx *tx;
	long err;

	if (!sk || !skops->skb_len || (skops->skb_tcp_flags & (TCPHDR_SYN | TCPHDR_RST)))
		return 1;
	tx = bpf_sk_storage_get(&tcp_tx, sk, 0, 0);
	if (!tx || !tcp_start_unacked(tx, skops))
		return 1; /* space another program reserved: not for us */
	opt.kind = SONDE_TCPOPT_KIND;
	opt.len = SONDE_TCPOPT_LEN;
	opt.exid[0] = SONDE_TCPOPT_EXID >> 8;
	opt.exid[1] = SONDE_TCPOPT_EXID & 0xff;
	__builtin_memcpy(opt.trace_id, tx->trace_id, sizeof(opt.trace_id));
	__builtin_memcpy(opt.span_id, tx->span_id, sizeof(opt.span_id));
	err = bpf_store_hdr_opt(skops, &opt, sizeof(opt), 0);
	if (!err)
		count(SONDE_CNT_TCPOPT_WRITTEN);
	else if (err != -EEXIST) /* EEXIST: a second sonde on this host wrote it already */
		count(SONDE_CNT_TCPOPT_NOSPACE);
	return 1;
}

static __always_inline int tcp_opt_parse(struct bpf_sock_ops *skops)
{
	void *data = (void *)(long)skops->skb_data, *end = (void *)(long)skops->skb_data_end;
	struct sonde_tcp_opt_wire opt = {.kind = SONDE_TCPOPT_KIND, .len = 4,
					 .exid = {SONDE_TCPOPT_EXID >> 8, SONDE_TCPOPT_EXID & 0xff}};
	struct bpf_sock *sk = skops->sk;
	struct sonde_tcp_rx *rx;
	struct tcphdr *th = data;
	__u32 seq, stop, hdr;
	__u64 ids[3]; /* trace id, span id: aligned for the compare */
	int i;

	if (!sk || data + sizeof(*th) > end)
		return 1;
	if (bpf_load_hdr_opt(skops, &opt, sizeof(opt), 0) != SONDE_TCPOPT_LEN ||
	    opt.len != SONDE_TCPOPT_LEN)
		return 1;
	count(SONDE_CNT_TCPOPT_PARSED);
	hdr = th->doff * 4;
	if (skops->skb_len <= hdr)
		return 1; /* no data: nothing to give a context */
	__builtin_memcpy(ids, opt.trace_id, sizeof(ids));
	seq = bpf_ntohl(th->seq);
	stop = seq + (skops->skb_len - hdr);
	rx = bpf_sk_storage_get(&tcp_rx, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!rx)
		return 1;
#pragma unroll
	for (i = 0; i < SONDE_TCP_RX_SLOTS; i++) {
		struct sonde_tcp_rx_slot *sl = &rx->slot[i];

		if (sl->seq == sl->end || *(__u64 *)sl->span_id != ids[2] ||
		    *(__u64 *)sl->trace_id != ids[0] || *(__u64 *)&sl->trace_id[8] != ids[1])
			continue;
		/* more of a request already noted (a later segment, a resend) */
		if ((__s32)(seq - sl->seq) < 0)
			sl->seq = seq;
		if ((__s32)(stop - sl->end) > 0)
			sl->end = stop;
		return 1;
	}
	i = rx->next & (SONDE_TCP_RX_SLOTS - 1);
	rx->next++;
	rx->slot[i].seq = seq;
	rx->slot[i].end = stop;
	__builtin_memcpy(rx->slot[i].trace_id, opt.trace_id, sizeof(opt.trace_id));
	__builtin_memcpy(rx->slot[i].span_id, opt.span_id, sizeof(opt.span_id));
	return 1;
}

SEC("sockops")
int sonde_tcpopt(struct bpf_sock_ops *skops)
{
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		return tcp_opt_connect(skops);
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		return tcp_opt_accepted(skops);
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		return tcp_opt_len(skops);
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		return tcp_opt_write(skops);
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		return tcp_opt_parse(skops);
	default:
		return 1;
	}
}

/*
 * Go net/http client (maps/go.bpf.h), attached by the agent by symbol to the executables of
 * Go programs it traces. Entry probes only: a uretprobe breaks Go's moving stacks.
 */
/* net/http.(*persistConn).roundTrip(pc, req *transportRequest): req's first field is the
 * *Request (an embedded pointer) that writeLoop will write. */
SEC("uprobe")
int sonde_go_round_trip(struct pt_regs *ctx)
{
	struct sonde_go_owner o = { .g = GO_UPROBE_G(ctx), .ts_ns = bpf_ktime_get_ns() };
	__u64 treq = GO_UPROBE_ARG1(ctx), req = 0;

	if (!o.g || !treq || bpf_probe_read_user(&req, sizeof(req), (void *)treq) || !req)
		return 0;
	bpf_map_update_elem(&go_requests, &req, &o, BPF_ANY);
	return 0;
}

/* net/http.(*Request).write(r, ...), on the writing goroutine. */
SEC("uprobe")
int sonde_go_request_write(struct pt_regs *ctx)
{
	__u64 g = GO_UPROBE_G(ctx), r = GO_UPROBE_ARG0(ctx);
	struct sonde_go_owner *o;

	if (!g || !r)
		return 0;
	o = bpf_map_lookup_elem(&go_requests, &r);
	if (o)
		bpf_map_update_elem(&go_writers, &g, o, BPF_ANY);
	else
		bpf_map_delete_elem(&go_writers, &g); /* a request of nobody we know */
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
