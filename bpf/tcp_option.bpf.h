/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TCP-option propagation (--propagation tcp): between two hosts that both run sonde, an
 * outgoing request's first segment carries the client span's ids in a TCP header option. The
 * sockops program writes and parses the option; the send and receive tracepoints take the ids
 * into their records (the parts on the I/O path, first in this file).
 */
#ifndef SONDE_TCP_OPTION_BPF_H
#define SONDE_TCP_OPTION_BPF_H

/* a as ::ffff:ip4 (ip4 in network order) */
static __always_inline void addr_from_v4(struct sonde_addr *a, __u32 ip4)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->a[10] = 0xff;
	a->a[11] = 0xff;
	__builtin_memcpy(&a->a[12], &ip4, sizeof(ip4));
}

/* The destination's option is off for now: its option segments were lost (the safety net). */
static __always_inline bool tcp_path_off(const struct sonde_addr *dest)
{
	struct sonde_tcp_path *p = bpf_map_lookup_elem(&tcpopt_paths, dest);

	return p && p->off_until && bpf_ktime_get_ns() < p->off_until;
}

/* A received connection's other end as the socket has it: read without a branch. */
struct sonde_peer_raw {
	__u16 family;
	__u8 pad[2];
	__u32 v4;
	__u8 v6[16];
};

/*
 * A server request's first read came without an option: counted when its peer sent this host
 * one lately, for then it was stripped on the way, or turned off or not written at the other end.
 * A global function (verified once, not at every place the receive programs inline it).
 */
__noinline int tcp_option_missing(const struct sonde_peer_raw *raw)
{
	struct sonde_addr peer;
	__u64 *seen;

	if (!raw)
		return 0;
	if (raw->family == AF_INET)
		addr_from_v4(&peer, raw->v4);
	else
		__builtin_memcpy(peer.a, raw->v6, sizeof(peer.a));
	seen = bpf_map_lookup_elem(&tcpopt_peers, &peer);
	if (seen && bpf_ktime_get_ns() - *seen < SONDE_TCPOPT_PEER_TTL_NS)
		count(SONDE_CNT_TCPOPT_MISSING);
	return 0;
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
	tx->bare = sv && sv->unsure ? TCPOPT_BARE_UNSURE :
		   tcp_path_off(&tx->dest) ? TCPOPT_BARE_OFF : 0;
	count(SONDE_CNT_TCPOPT_RUNS);
	if (tx->bare == TCPOPT_BARE_OFF)
		count(SONDE_CNT_TCPOPT_BARE);
	else if (tx->bare)
		count(SONDE_CNT_TCPOPT_UNSURE);
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
	if (tx->bare == TCPOPT_BARE_UNSURE)
		return; /* no ids on the wire: the agent links the call as it would without */
	__builtin_memcpy(ctx->trace_id, tx->trace_id, sizeof(ctx->trace_id));
	__builtin_memcpy(ctx->span_id, tx->span_id, sizeof(ctx->span_id));
	__builtin_memset(ctx->parent_id, 0, sizeof(ctx->parent_id));
	ctx->flags = trace_flags(ctx->trace_id);
	ctx->kind = SONDE_CTX_INJECTED;
}

/*
 * TLS ciphertext written where no plaintext record can take its ids (outside a library call:
 * a library that encrypts into memory, Node's or asyncio's; or by Go, whose Write's record
 * goes at its entry): the connection never carries the option, which would name a client span
 * that does not exist.
 */
static __always_inline void tcp_option_tls_off(struct sock *sk)
{
	struct sonde_tcp_tx *tx = bpf_sk_storage_get(&tcp_tx, sk, 0, 0);

	if (tx)
		tx->no_opt = 1;
}

/*
 * The context that came with the first byte of the ret bytes just read on sk, if any; when
 * none did, a peer that sent one lately is counted (note_missing: the read starts a request).
 */
static __always_inline struct sonde_tcp_rx_slot *tcp_option_find(struct sock *sk, __u32 ret)
{
	struct sonde_tcp_rx *rx = bpf_sk_storage_get(&tcp_rx, sk, 0, 0);
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 first;
	int i;

	if (!rx)
		return NULL;
	first = BPF_CORE_READ(tp, copied_seq) - ret;
#pragma unroll
	for (i = 0; i < SONDE_TCP_RX_SLOTS; i++) {
		struct sonde_tcp_rx_slot *sl = &rx->slot[i];

		if (sl->seq != sl->end && (__s32)(first - sl->seq) >= 0 &&
		    (__s32)(sl->end - first) > 0)
			return sl;
	}
	return NULL;
}

static __always_inline bool tcp_option_read(struct sock *sk, __u32 ret,
					    struct sonde_tcp_rx_slot *out, bool note_missing)
{
	struct sonde_tcp_rx_slot *sl = tcp_option_find(sk, ret);
	struct sonde_peer_raw raw = {};

	if (sl) {
		*out = *sl;
		return true;
	}
	if (!note_missing || !tcpopt_peer_seen)
		return false; /* no peer ever sent one: nothing can be missing (the common case) */
	raw.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	raw.v4 = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	BPF_CORE_READ_INTO(&raw.v6, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	tcp_option_missing(&raw);
	return false;
}

/*
 * TLS: a socket I/O of ret bytes of ciphertext inside a library call (or, a read, just before
 * one). The call's plaintext record takes the ids the ciphertext carries (ctx, kind NONE until
 * then; the first I/O of the call decides). A write: the ids of the request the sockops
 * program last decided (tcp_opt_len: data sent after data came in starts a request), whose
 * first segment went out already. A read: the option its first byte came with.
 */
static __noinline int tcp_option_tls(struct sock *sk, __u32 ret, __u16 dir, __u64 pid_tgid,
				     struct sonde_trace_ctx *ctx)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct sonde_tcp_rx_slot *opt;
	struct sonde_tcp_tx *tx;
	__u64 rcvd;

	if (ctx->kind != SONDE_CTX_NONE)
		return 0;
	if (dir == SONDE_DIR_INGRESS) {
		opt = tcp_option_find(sk, ret);
		if (!opt)
			return 0;
		__builtin_memcpy(ctx->trace_id, opt->trace_id, sizeof(ctx->trace_id));
		__builtin_memcpy(ctx->parent_id, opt->span_id, sizeof(ctx->parent_id));
		ctx->kind = SONDE_CTX_PEER;
		return 0;
	}
	tx = bpf_sk_storage_get(&tcp_tx, sk, 0, 0);
	if (!tx)
		return 0;
	rcvd = BPF_CORE_READ(tp, bytes_received);
	tx->owner = pid_tgid;
	/* The segments went out already, each request's first with the ids the sockops program
	 * decided for it then: those are the ones. A decision here, after bytes came in since
	 * (a session ticket, say), would name a span no option carried. */
	if (!tx->decided)
		tcp_decide(tx, BPF_CORE_READ(tp, write_seq) - ret, rcvd, pid_tgid);
	if (tx->bare == TCPOPT_BARE_UNSURE)
		return 0; /* no ids on the wire: the agent links the call as it would without */
	__builtin_memcpy(ctx->trace_id, tx->trace_id, sizeof(ctx->trace_id));
	__builtin_memcpy(ctx->span_id, tx->span_id, sizeof(ctx->span_id));
	__builtin_memset(ctx->parent_id, 0, sizeof(ctx->parent_id));
	ctx->flags = trace_flags(ctx->trace_id);
	ctx->kind = SONDE_CTX_INJECTED;
	return 0;
}

/*
 * TCP-option propagation (--propagation tcp), on the wire. A sockops program on the cgroup v2
 * root: a connection that a process sonde traces makes (its connect, in the process's context)
 * to a destination --tcp-option-to allows gets socket storage and the callbacks that write
 * header options and report resends; every accepted connection gets the callback that parses
 * options the kernel does not know. Per outgoing segment with data: its request's ids are
 * decided at the request's first segment (tcp_decide), and the segment sent for the first time
 * that holds the request's first byte carries them; a resend never does, so that a path that
 * drops segments with unknown options delivers the resend. The option's room is reserved in
 * the MSS the kernel computes, so segments always fit. Per received segment with a sonde
 * option: its sequence range is noted under its context, and its sender as a peer that runs
 * sonde. No payload is read or changed: only the header.
 *
 * The safety net, per destination (tcpopt_paths): option segments sent and resent, against the
 * other data segments and their resends. When at least SONDE_TCPOPT_LOST_MIN option segments
 * were resent and their share is over SONDE_TCPOPT_LOST_RATIO times the others' (taken as at
 * least 1/16 where the others are too few to tell), the destination gets no option for
 * tcpopt_hold_ns: at worst a trace splits, and the traffic never waits on the option twice.
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

/* The connection's other end, IPv4 mapped. The context's fields are read one word at a time. */
static __always_inline void skops_remote_addr(const struct bpf_sock_ops *skops,
					      struct sonde_addr *a)
{
	__u32 w[4];

	if (skops->family == AF_INET) {
		addr_from_v4(a, skops->remote_ip4);
		return;
	}
	w[0] = skops->remote_ip6[0];
	w[1] = skops->remote_ip6[1];
	w[2] = skops->remote_ip6[2];
	w[3] = skops->remote_ip6[3];
	__builtin_memcpy(a->a, w, sizeof(w));
}

static __always_inline int tcp_opt_connect(struct bpf_sock_ops *skops)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u16 lport = skops->local_port, rport = bpf_ntohl(skops->remote_port);
	struct sonde_cidr_key key = {.prefixlen = 128};
	struct sonde_tcp_tx *tx;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return 1;
	if (tgid == self_tgid) {
		if (!selftest_port || rport != selftest_port)
			return 1; /* sonde's own connections (exports) carry nothing */
	} else if ((filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)) ||
		   (filter_ports && !port_chosen(lport, rport)) ||
		   bpf_map_lookup_elem(&prop_skip, &tgid)) {
		return 1; /* not traced, or a Go program (the agent's prop_skip) */
	}
	skops_remote_addr(skops, &key.addr);
	if (tcpopt_dest_filter && tgid != self_tgid && !bpf_map_lookup_elem(&tcpopt_dests, &key))
		return 1; /* a destination outside the ranges that get the option */
	tx = bpf_sk_storage_get(&tcp_tx, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!tx)
		return 1;
	tx->owner = pid_tgid;
	tx->dest = key.addr;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG |
						 BPF_SOCK_OPS_RETRANS_CB_FLAG);
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

/*
 * This segment carries the request's ids: it goes out for the first time (new data starts at
 * snd_nxt) and holds the request's first byte. A resend starts below snd_nxt and ends at or
 * before it, so it never holds a first byte at or past snd_nxt.
 */
static __always_inline bool tcp_carries(const struct sonde_tcp_tx *tx,
					const struct bpf_sock_ops *skops)
{
	__u32 into = tx->start_seq - skops->snd_nxt;

	return tx->decided && !tx->bare && !tx->no_opt && (__s32)into >= 0 &&
	       into < skops->skb_len;
}

/* The destination's tally: one more option segment, and the connection's other segments since. */
static __always_inline void tcp_tally_sent(struct sonde_tcp_tx *tx,
					   const struct bpf_sock_ops *skops)
{
	struct sonde_tcp_path *p = bpf_map_lookup_elem(&tcpopt_paths, &tx->dest);
	__u32 segs = skops->data_segs_out;

	if (!p) {
		struct sonde_tcp_path fresh = {};

		bpf_map_update_elem(&tcpopt_paths, &tx->dest, &fresh, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&tcpopt_paths, &tx->dest);
		if (!p)
			return;
	}
	__sync_fetch_and_add(&p->opt_sent, 1);
	__sync_fetch_and_add(&p->segs, segs - tx->segs_mark + 1);
	tx->segs_mark = segs + 1; /* this one is counted once it is sent */
	if (p->opt_sent >= SONDE_TCPOPT_TALLY_MAX) {
		/* halve it all: the tally follows the path's recent behaviour (races lose a count) */
		p->opt_sent >>= 1;
		p->opt_lost >>= 1;
		p->segs >>= 1;
		p->lost >>= 1;
	}
}

/* The tally says option segments are lost far more often than the others. */
static __always_inline bool tcp_path_lossy(const struct sonde_tcp_path *p)
{
	__u64 others = p->segs > p->opt_sent ? p->segs - p->opt_sent : 0;
	__u64 lost = p->opt_lost, sent = p->opt_sent ? p->opt_sent : 1;

	if (lost < SONDE_TCPOPT_LOST_MIN)
		return false;
	/* over RATIO x 1/16: the floor of the others' share */
	if (lost * 16 <= SONDE_TCPOPT_LOST_RATIO * sent)
		return false;
	return !others || lost * others > SONDE_TCPOPT_LOST_RATIO * (__u64)p->lost * sent;
}

/*
 * A segment of a connection that gets the option was resent (args: its first sequence number,
 * its segment count, the transmit's error). When it was the last one that carried the option,
 * the destination's tally counts an option segment lost, and may turn the option off.
 */
static __always_inline int tcp_opt_resent(struct bpf_sock_ops *skops)
{
	__u32 seq = skops->args[0], segs = skops->args[1], into;
	struct bpf_sock *sk = skops->sk;
	struct sonde_tcp_path *p;
	struct sonde_tcp_tx *tx;

	if (!sk || skops->args[2])
		return 1; /* not sent after all */
	tx = bpf_sk_storage_get(&tcp_tx, sk, 0, 0);
	if (!tx)
		return 1;
	p = bpf_map_lookup_elem(&tcpopt_paths, &tx->dest);
	if (!p)
		return 1;
	into = tx->opt_seq - seq;
	if (!tx->opt_out || (__s32)into < 0 || into >= segs * skops->mss_cache) {
		__sync_fetch_and_add(&p->lost, segs);
		return 1;
	}
	tx->opt_out = 0; /* resent bare (tcp_carries): once lost is enough */
	count(SONDE_CNT_TCPOPT_LOST);
	__sync_fetch_and_add(&p->opt_lost, 1);
	if (!tcp_path_lossy(p) || bpf_ktime_get_ns() < p->off_until)
		return 1;
	p->off_until = bpf_ktime_get_ns() + tcpopt_hold_ns;
	p->offs++;
	p->opt_sent = p->opt_lost = p->segs = p->lost = 0; /* a fresh look once it is back on */
	count(SONDE_CNT_TCPOPT_PATH_OFF);
	return 1;
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
	if (tcp_carries(tx, skops) && bpf_reserve_hdr_opt(skops, SONDE_TCPOPT_LEN, 0))
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
	if (!tx || !tcp_carries(tx, skops))
		return 1; /* space another program reserved: not for us */
	opt.kind = SONDE_TCPOPT_KIND;
	opt.len = SONDE_TCPOPT_LEN;
	opt.exid[0] = SONDE_TCPOPT_EXID >> 8;
	opt.exid[1] = SONDE_TCPOPT_EXID & 0xff;
	__builtin_memcpy(opt.trace_id, tx->trace_id, sizeof(opt.trace_id));
	__builtin_memcpy(opt.span_id, tx->span_id, sizeof(opt.span_id));
	err = bpf_store_hdr_opt(skops, &opt, sizeof(opt), 0);
	if (!err) {
		count(SONDE_CNT_TCPOPT_WRITTEN);
		tx->opt_seq = skops->snd_nxt;
		tx->opt_out = 1;
		tcp_tally_sent(tx, skops);
	} else if (err != -EEXIST) /* EEXIST: a second sonde on this host wrote it already */
		count(SONDE_CNT_TCPOPT_NOSPACE);
	return 1;
}

/* The sender of a segment with a sonde option runs sonde: remembered (tcp_option_missing). */
static __always_inline void tcp_peer_seen(const struct bpf_sock_ops *skops)
{
	__u64 now = bpf_ktime_get_ns(), *seen;
	struct sonde_addr peer;

	skops_remote_addr(skops, &peer);
	seen = bpf_map_lookup_elem(&tcpopt_peers, &peer);
	if (seen && now - *seen < 1000000000ULL)
		return; /* refreshed at most once a second */
	bpf_map_update_elem(&tcpopt_peers, &peer, &now, BPF_ANY);
	if (!tcpopt_peer_seen)
		tcpopt_peer_seen = 1;
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
	tcp_peer_seen(skops);
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
	case BPF_SOCK_OPS_RETRANS_CB:
		return tcp_opt_resent(skops);
	default:
		return 1;
	}
}

#endif /* SONDE_TCP_OPTION_BPF_H */
