/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TCP-option propagation (--propagation tcp): between two hosts that both run sonde, an
 * outgoing request's first segment carries the client span's ids in a TCP header option. The
 * sockops program writes and parses the option; the send and receive tracepoints take the ids
 * into their records (the parts on the I/O path, first in this file).
 */
#ifndef SONDE_TCP_OPTION_BPF_H
#define SONDE_TCP_OPTION_BPF_H

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

#endif /* SONDE_TCP_OPTION_BPF_H */
