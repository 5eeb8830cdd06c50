/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every program of the object shares: the kernel constants vmlinux.h lacks (macros do not
 * reach BTF), the per-CPU counters, the ring a record goes to (reserve, fill the common head,
 * submit with or without waking the agent), and the clamped user-memory copy.
 */
#ifndef SONDE_COMMON_BPF_H
#define SONDE_COMMON_BPF_H

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

/* This CPU's ring. */
static __always_inline void *ring_of_cpu(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&rings, &cpu);
}

/* Reserve a record in this CPU's ring, or count the loss. */
static __always_inline void *ring_reserve(void **ring, __u64 size)
{
	void *rb = ring_of_cpu();
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
static __always_inline __u64 ring_wake_flags(void *ring)
{
	if (agent_quiet) {
		agent_quiet = 0;
		return BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void ring_submit(void *ring, void *rec)
{
	bpf_ringbuf_submit(rec, ring_wake_flags(ring));
	count(SONDE_CNT_RECORDS);
}

/*
 * Submit a record the agent must act on at once (a program start: its uprobes are a race with
 * its first calls), waking it whatever its poll period.
 */
static __always_inline void ring_submit_now(void *rec)
{
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
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

#endif /* SONDE_COMMON_BPF_H */
