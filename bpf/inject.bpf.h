/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Header propagation (--propagation header), both ends. Server side: when a server reads a
 * request head, its span gets ids in the kernel (joining an incoming traceparent, or a TCP
 * option's context) and its thread remembers them. Client side: sockops puts outgoing
 * connections in a sockhash whose sk_msg program adds a traceparent line to request heads, with
 * the ids of the request the sending thread serves.
 */
#ifndef SONDE_INJECT_BPF_H
#define SONDE_INJECT_BPF_H

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
_Static_assert(sizeof(((struct sonde_head_scratch *)0)->line) == TRACEPARENT_PARSE_BYTES,
	       "head_scratch's line holds a traceparent line to parse");

static __always_inline void server_ids(const __u8 *payload, __u64 n, __u64 sock, __u64 pid_tgid,
				       struct sonde_trace_ctx *ctx,
				       const struct sonde_tcp_rx_slot *opt,
				       __u8 found, bool tls)
{
	struct sonde_head_scratch *scr;
	struct sonde_serving *sv, *prev;
	struct head_scan hs;
	__u32 slot = tls ? SCRATCH_TLS : SCRATCH_RECV, len, zero = 0;
	__u64 owner = tls ? pid_tgid ^ bpf_ktime_get_ns() : 0;
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
	if (tls)
		scr->owner = owner;
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

		if (!bpf_probe_read_kernel(scr->line, sizeof(scr->line), (const void *)at))
			joined = parse_traceparent(scr->line, real, ctx->trace_id, ctx->parent_id,
						   &ctx->flags);
	} else if (!hs.has_end && found) {
		/* past the payload: the line the head's search found (head_find.bpf.h) */
		struct sonde_find_scratch *f = bpf_map_lookup_elem(&find_scratch, &zero);
		__u32 at = f ? f->f.tp_at : SONDE_CTX_LINES_MAX;

		hs.has_tp = f && f->f.has_tp;
		if (hs.has_tp && at <= SONDE_CTX_LINES_MAX - sizeof(scr->line) &&
		    !bpf_probe_read_kernel(scr->line, sizeof(scr->line), f->lines + at))
			joined = parse_traceparent(scr->line, f->f.tp_len, ctx->trace_id,
						   ctx->parent_id, &ctx->flags);
	}
	if (tls && scr->owner != owner) {
		/* another run took the slot meanwhile (TLS: a preemptible uprobe): not trusted */
		joined = false;
		hs.has_tp = 0;
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
	prev = bpf_map_lookup_elem(&serving, &pid_tgid);
	sv = &scr->sv;
	__builtin_memset(sv, 0, sizeof(*sv));
	sv->unsure = prev && prev->sock != sock; /* another connection's request is unanswered */
	sv->sock = sock;
	__builtin_memcpy(sv->trace_id, ctx->trace_id, sizeof(sv->trace_id));
	__builtin_memcpy(sv->span_id, ctx->span_id, sizeof(sv->span_id));
	sv->flags = ctx->flags;
	bpf_map_update_elem(&serving, &pid_tgid, sv, BPF_ANY);
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
	if (bpf_map_lookup_elem(&prop_skip, &tgid))
		return SONDE_CNT_SKIP_UNSURE; /* Go: whose request a send is, is not known here */
	if (st && st->tls)
		return SONDE_CNT_SKIP_NOT_HTTP; /* TLS records: never written into */
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
	if (sv && sv->unsure)
		return SONDE_CNT_SKIP_UNSURE; /* an event loop's, or a TLS server's (tcp_decide) */
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

#endif /* SONDE_INJECT_BPF_H */
