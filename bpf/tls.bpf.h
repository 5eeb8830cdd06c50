/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS: the plaintext of a connection whose socket carries TLS records, read where the TLS
 * library hands it over. The agent attaches uprobes to OpenSSL's SSL_read, SSL_write, their _ex
 * forms, SSL_do_handshake and SSL_free (the uprobe table's openssl rows, agent/loader/uprobes.c)
 * in every file that has them, and sets tls_uprobes.
 *
 * One connection is one stream of bytes. A connection whose bytes start with a TLS record (in
 * one of its first runs) is marked: from then on its socket I/O writes no record, and does not
 * move its runs. The library calls' plaintext moves them instead, through the same path as a
 * clear-text I/O (capture.bpf.h's io_run), so every decoder reads it as it would read the
 * socket.
 *
 * Which socket a call's SSL* is on needs no structure offset of any OpenSSL version:
 *   - a library that does its own socket I/O does it inside the call, on the same thread: the
 *     socket path sees the thread in a call (tls_threads) and ties the SSL* to that socket;
 *   - a library fed from memory (Node, Python's asyncio) reads the socket on the thread just
 *     before it calls the library for that connection: the first call after a read of a TLS
 *     socket outside any call is tied to that socket (Node writes a request queued during the
 *     handshake right after the read that completes it, before it reads);
 * and once tied, an SSL* stays tied (tls_socks) until SSL_free, so a call that does no socket
 * I/O (the plaintext was buffered, a write into memory) still finds its connection. A call
 * whose SSL* was never tied (a write into memory before any read) is counted, not guessed.
 */
#ifndef SONDE_TLS_BPF_H
#define SONDE_TLS_BPF_H

#define TLS_DETECT_RUNS 4    /* runs of a connection looked at for a handshake record */
#define TLS_RECORD_MAX 18432 /* 2^14 + 2048: the largest TLSCiphertext length */
#define TLS_CHANGE_CIPHER_SPEC 20
#define TLS_HANDSHAKE 22
#define TLS_APP_DATA 23

/*
 * A socket I/O begins with a TLS record header: a handshake record in one of the connection's
 * first runs (a TLS client or server, also after a clear-text prelude: PostgreSQL's SSLRequest
 * and its answer, MySQL's SSL request, which the ClientHello follows in the same direction), or
 * any record (application data, an alert) at the first I/O sonde sees of a connection opened
 * before it started, or of one it saw close (a close_notify written after the peer's FIN). The
 * connection is marked TLS for good. Only the first runs' I/O pay for the look.
 */
static __always_inline bool tls_starts(struct sonde_conn_state *st, int ret,
				       const struct io_source *src)
{
	__u64 contig = 0;
	__u8 h[5];
	__u32 len;
	void *buf;

	if (ret < 5 || st->run_seq >= TLS_DETECT_RUNS || st->policy == SONDE_CAPTURE_H2_FRAMES)
		return false;
	buf = io_buffer(src, &contig, NULL);
	if (!buf || contig < 5 || bpf_probe_read_user(h, sizeof(h), buf))
		return false;
	len = (__u32)h[3] << 8 | h[4];
	if (h[1] != 3 || h[2] > 4 || !len || len > TLS_RECORD_MAX)
		return false;
	if (h[0] != TLS_HANDSHAKE &&
	    (h[0] < TLS_CHANGE_CIPHER_SPEC || h[0] > TLS_APP_DATA || st->run_seq))
		return false;
	st->tls = 1;
	count(SONDE_CNT_TLS_CONNS);
	return true;
}

/* The goroutine of the I/O's syscall (Go's g), wherever the hook found it. */
static __always_inline __u64 io_go_g(const struct io_source *src)
{
	struct task_struct *task;
	struct pt_regs *regs;

	if (src->from != IO_FROM_SOCKET_REGS)
		return src->go_g;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	return regs ? SYS_GO_G(regs) : 0;
}

/* The goroutine's call of this kind, if one is under way, is on the socket at key. */
static __always_inline bool go_tls_tie(const struct sonde_go_key *gk, __u64 key, __u64 conn_id)
{
	struct sonde_tls_thread *t = bpf_map_lookup_elem(&go_tls_calls, gk);

	if (!t || !t->active)
		return false;
	if (!t->call_sk)
		t->call_ts = bpf_ktime_get_ns();
	t->call_sk = key;
	t->call_conn = conn_id;
	return true;
}

/*
 * A socket I/O of a connection marked TLS (no record: ciphertext). A thread (or in Go, a
 * goroutine) inside a library call ties the call to this socket; a read outside any call is
 * noted for the next one.
 */
static __always_inline void tls_socket_io(struct sonde_conn_state *st, struct sock *sk,
					  __u64 key, int ret, __u16 dir, __u64 pid_tgid,
					  const struct io_source *src)
{
	/* TCP-option propagation: only where sk is the kernel's pointer (socket tracepoints) */
	bool tcp = tcp_mode && io_may_propagate(src);
	struct sonde_tls_thread *t;

	if (go_tls_uprobes) {
		struct sonde_go_key gk = {.g = io_go_g(src), .tgid = pid_tgid >> 32};
		bool tied;

		/* a Read or Write, and a handshake (alone, or inside one of them) */
		tied = gk.g && go_tls_tie(&gk, key, st->conn_id);
		gk.kind = GO_TLS_HANDSHAKE;
		tied |= gk.g && go_tls_tie(&gk, key, st->conn_id);
		if (tied) {
			if (tcp && dir == SONDE_DIR_EGRESS)
				tcp_option_tls_off(sk);
			return;
		}
	}
	if (!tls_uprobes)
		return;
	t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (!t) {
		if (dir != SONDE_DIR_INGRESS) {
			if (tcp)
				tcp_option_tls_off(sk);
			return;
		}
		bpf_map_update_elem(&tls_threads, &pid_tgid, &tls_thread_zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
		if (!t)
			return;
	}
	if (t->active) {
		if (!t->call_sk)
			t->call_ts = bpf_ktime_get_ns();
		t->call_sk = key;
		t->call_conn = st->conn_id;
	} else if (dir == SONDE_DIR_INGRESS) {
		t->rx_sk = key;
		t->rx_conn = st->conn_id;
	} else {
		if (tcp)
			tcp_option_tls_off(sk);
		return;
	}
	if (!tcp)
		return;
	if (t->active && t->dir == SONDE_DIR_NONE) {
		/* An explicit handshake, often on another thread than the requests' reads: the
		 * option its records came with waits in the connection for its first request. */
		struct sonde_tcp_rx_slot *opt;

		if (dir == SONDE_DIR_INGRESS && (opt = tcp_option_find(sk, ret))) {
			__builtin_memcpy(st->tls_peer_trace, opt->trace_id, sizeof(st->tls_peer_trace));
			__builtin_memcpy(st->tls_peer_span, opt->span_id, sizeof(st->tls_peer_span));
			st->tls_peer_set = 1;
		}
		return;
	}
	tcp_option_tls(sk, ret, dir, pid_tgid, &t->tcp_ctx);
}

/* A library call starts: what it works on, for its return. */
static __always_inline int tls_enter(struct pt_regs *ctx, __u16 dir, __u64 done_at)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sonde_tls_thread *t;

	if (tgid == self_tgid || (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)))
		return 0;
	t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (!t) {
		bpf_map_update_elem(&tls_threads, &pid_tgid, &tls_thread_zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
		if (!t)
			return 0;
	}
	t->ssl = PT_REGS_PARM1(ctx);
	t->buf = PT_REGS_PARM2(ctx);
	t->entry_ts = bpf_ktime_get_ns();
	t->done_at = done_at;
	t->call_sk = 0;
	t->call_conn = 0;
	t->call_ts = 0;
	t->dir = dir;
	t->active = 1;
	if (!t->rx_sk) /* else the read before the call found its ids, if any */
		t->tcp_ctx.kind = SONDE_CTX_NONE;
	return 0;
}

/* int SSL_read(SSL *s, void *buf, int num) */
SEC("uprobe")
int sonde_ssl_read(struct pt_regs *ctx)
{
	return tls_enter(ctx, SONDE_DIR_INGRESS, 0);
}

/* int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int sonde_ssl_read_ex(struct pt_regs *ctx)
{
	return tls_enter(ctx, SONDE_DIR_INGRESS, PT_REGS_PARM4(ctx));
}

/* int SSL_write(SSL *s, const void *buf, int num) */
SEC("uprobe")
int sonde_ssl_write(struct pt_regs *ctx)
{
	return tls_enter(ctx, SONDE_DIR_EGRESS, 0);
}

/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int sonde_ssl_write_ex(struct pt_regs *ctx)
{
	return tls_enter(ctx, SONDE_DIR_EGRESS, PT_REGS_PARM4(ctx));
}

/* int SSL_write_ex2(SSL *s, const void *buf, size_t num, uint64_t flags, size_t *written) */
SEC("uprobe")
int sonde_ssl_write_ex2(struct pt_regs *ctx)
{
	return tls_enter(ctx, SONDE_DIR_EGRESS, PT_REGS_PARM5(ctx));
}

/* int SSL_do_handshake(SSL *s): its socket I/O ties the SSL* early; it moves no plaintext. */
SEC("uprobe")
int sonde_ssl_handshake(struct pt_regs *ctx)
{
	return tls_enter(ctx, SONDE_DIR_NONE, 0);
}

/* void SSL_free(SSL *s): its tie goes, before the address can come back for another. */
SEC("uprobe")
int sonde_ssl_free(struct pt_regs *ctx)
{
	struct sonde_tls_key k = {.ssl = PT_REGS_PARM1(ctx),
				  .tgid = bpf_get_current_pid_tgid() >> 32};

	bpf_map_delete_elem(&tls_socks, &k);
	return 0;
}

/* The socket of the call ending on thread t of process tgid, or 0; *conn_id gets its id. */
static __always_inline __u64 tls_call_socket(struct sonde_tls_thread *t, __u32 tgid,
					     __u64 *conn_id)
{
	struct sonde_tls_key k = {.ssl = t->ssl, .tgid = tgid};
	struct sonde_tls_sock s = {}, *m = bpf_map_lookup_elem(&tls_socks, &k);

	if (t->call_sk) {
		s.sk = t->call_sk;
		s.conn_id = t->call_conn;
	} else if (m) {
		s = *m;
	} else if (t->rx_sk) {
		s.sk = t->rx_sk;
		s.conn_id = t->rx_conn;
	}
	t->rx_sk = 0; /* a read outside a call feeds the one call that comes next */
	if (s.sk && (!m || m->sk != s.sk || m->conn_id != s.conn_id))
		bpf_map_update_elem(&tls_socks, &k, &s, BPF_ANY);
	*conn_id = s.conn_id;
	return s.sk;
}

/*
 * TCP-option propagation: a TLS server's thread reads a request whose ids the kernel does not
 * decide (the agent does): the calls it makes meanwhile go without the option, and their
 * records without ids (tcp_decide), rather than with ids of another trace than their parent's.
 */
static __always_inline void tls_serving(__u64 key, __u64 pid_tgid)
{
	struct sonde_serving sv = {.sock = key, .unsure = 1};

	bpf_map_update_elem(&serving, &pid_tgid, &sv, BPF_ANY);
}

/*
 * The plaintext of the call t that ended: n bytes, an I/O of the connection at key (whose id
 * was conn_id when tied); go_g: the goroutine that made it, in Go. A read is timed at its
 * return (its bytes are the application's then). A write is timed at its first socket I/O (or
 * its entry, a write into memory): its bytes leave inside the call, and the reader at the
 * other end may return with them before this call returns. Not earlier: that socket I/O may
 * be the one that announced the connection.
 */
static __always_inline void tls_plain_io(__u64 key, __u64 conn_id, __u64 n,
					 const struct sonde_tls_thread *t, __u64 pid_tgid,
					 __u64 go_g)
{
	__u16 dir = t->dir;
	__u64 buf = t->buf, ts = bpf_ktime_get_ns();

	if (dir == SONDE_DIR_EGRESS)
		ts = t->call_ts ? t->call_ts : t->entry_ts;
	struct io_source src = {.from = IO_FROM_TLS, .buf_kind = SONDE_BUF_PLAIN, .arg = buf,
				.go_g = go_g};
	struct sonde_trace_ctx injected = {};
	struct sonde_conn_state *st;

	if (!n || dir == SONDE_DIR_NONE)
		return;
	if (tcp_mode && t->tcp_ctx.kind != SONDE_CTX_NONE)
		injected = t->tcp_ctx; /* the ids its ciphertext carries on the wire */
	if (n > 0x7fffffff)
		n = 0x7fffffff;
	st = key ? bpf_map_lookup_elem(&conns, &key) : NULL;
	if (!st || st->conn_id != conn_id) {
		count(SONDE_CNT_TLS_UNTIED);
		return;
	}
	if (st->ignored)
		return;
	if (!st->tls) {
		st->tls = 1; /* its handshake went by unseen */
		count(SONDE_CNT_TLS_CONNS);
	}
	if (tcp_mode && dir == SONDE_DIR_INGRESS && st->tls_peer_set) {
		/* the first request's read: its own segment's option, else the handshake's */
		if (injected.kind == SONDE_CTX_NONE) {
			__builtin_memcpy(injected.trace_id, st->tls_peer_trace, sizeof(injected.trace_id));
			__builtin_memcpy(injected.parent_id, st->tls_peer_span,
					 sizeof(injected.parent_id));
			injected.kind = SONDE_CTX_PEER;
		}
		st->tls_peer_set = 0;
	}
	count(SONDE_CNT_TLS_IO);
	if (tcp_mode && dir == SONDE_DIR_INGRESS && st->role != SONDE_ROLE_CLIENT)
		tls_serving(key, pid_tgid);
	io_run((struct sock *)key, st, key, n, dir, &src, &injected, pid_tgid, ts);
}

/*
 * The return of every hooked OpenSSL call (SSL_read and SSL_write return the bytes moved;
 * their _ex forms 1, and the count at done_at; the internal functions the loader may probe in
 * their place, ssl_read_internal and ssl_write_internal, more than 0 and the count).
 */
SEC("uretprobe")
int sonde_ssl_ret(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), ret = PT_REGS_RC(ctx), n = 0, key, conn_id;
	struct sonde_tls_thread *t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);

	if (!t || !t->active)
		return 0;
	t->active = 0;
	key = tls_call_socket(t, pid_tgid >> 32, &conn_id);
	if (t->done_at) {
		if ((int)ret <= 0 || bpf_probe_read_user(&n, sizeof(n), (void *)t->done_at))
			n = 0;
	} else if ((int)ret > 0) {
		n = (int)ret;
	}
	tls_plain_io(key, conn_id, n, t, pid_tgid, 0);
	t->tcp_ctx.kind = SONDE_CTX_NONE;
	return 0;
}

/*
 * Go's crypto/tls: (*Conn).Read(b []byte) (int, error) and (*Conn).Write, under the register
 * ABI (1.17+): the receiver, then b's pointer, in the first argument registers; the goroutine
 * in its register. The agent puts the return program on each RET instruction of the
 * functions (a uretprobe would break Go's moving stacks), where the first result is the count.
 * The handshake is hooked too, as SSL_do_handshake is: its socket I/O ties the *tls.Conn
 * before any Read. Not at (*Conn).handshakeContext, which every Read and Write calls (two
 * more traps each, one single-stepped at a RET), but at (*Conn).serverHandshake and
 * clientHandshake, which run once per connection. Go's HTTP/2 server reads the client's
 * preface on a goroutine of its own, and it may come from what the handshake read already:
 * without that tie, the preface's Read would have no socket to go to.
 */
static __always_inline int go_tls_enter(struct pt_regs *ctx, __u16 dir, __u32 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sonde_go_key k = {.g = GO_UPROBE_G(ctx), .tgid = pid_tgid >> 32, .kind = kind};
	struct sonde_tls_thread t = {};

	if (k.tgid == self_tgid || !k.g ||
	    (filter_pids && !bpf_map_lookup_elem(&pid_filter, &k.tgid)))
		return 0;
	t.ssl = GO_UPROBE_ARG0(ctx);
	t.buf = GO_UPROBE_ARG1(ctx);
	t.entry_ts = bpf_ktime_get_ns();
	t.dir = dir;
	t.active = 1;
	bpf_map_update_elem(&go_tls_calls, &k, &t, BPF_ANY);
	return 0;
}

SEC("uprobe")
int sonde_gotls_read(struct pt_regs *ctx)
{
	return go_tls_enter(ctx, SONDE_DIR_INGRESS, GO_TLS_IO);
}

/*
 * (*Conn).Write(b) sends all of b or fails, and its bytes are b's when it starts: its plaintext
 * goes at its entry, to the socket the connection's handshake or an earlier Read tied it to,
 * with no return probe (a RET probe is single-stepped: about ten times the cost of this entry
 * probe, measured here). A Write before any tie (a connection sonde joined after its handshake,
 * before its first Read) is counted untied.
 */
SEC("uprobe")
int sonde_gotls_write(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), g = GO_UPROBE_G(ctx);
	struct sonde_tls_key k = {.ssl = GO_UPROBE_ARG0(ctx), .tgid = pid_tgid >> 32};
	struct sonde_tls_thread t = {.ssl = k.ssl, .buf = GO_UPROBE_ARG1(ctx),
				     .dir = SONDE_DIR_EGRESS};
	struct sonde_tls_sock *m;

	if (k.tgid == self_tgid || !g || (filter_pids && !bpf_map_lookup_elem(&pid_filter, &k.tgid)))
		return 0;
	m = bpf_map_lookup_elem(&tls_socks, &k);
	if (!m) {
		count(SONDE_CNT_TLS_UNTIED);
		return 0;
	}
	t.entry_ts = bpf_ktime_get_ns();
	tls_plain_io(m->sk, m->conn_id, GO_UPROBE_ARG2(ctx), &t, pid_tgid, g);
	return 0;
}

SEC("uprobe")
int sonde_gotls_hs(struct pt_regs *ctx)
{
	return go_tls_enter(ctx, SONDE_DIR_NONE, GO_TLS_HANDSHAKE);
}

/* A RET of one of them: the call's plaintext, or (a handshake) only its tie. */
static __always_inline int go_tls_return(struct pt_regs *ctx, __u32 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), key, conn_id;
	struct sonde_go_key k = {.g = GO_UPROBE_G(ctx), .tgid = pid_tgid >> 32, .kind = kind};
	struct sonde_tls_thread *t = bpf_map_lookup_elem(&go_tls_calls, &k);
	__s64 n = (__s64)GO_UPROBE_RET0(ctx);

	if (!t || !t->active)
		return 0;
	t->active = 0;
	key = tls_call_socket(t, k.tgid, &conn_id);
	tls_plain_io(key, conn_id, n > 0 ? n : 0, t, pid_tgid, k.g);
	return 0;
}

SEC("uprobe")
int sonde_gotls_ret(struct pt_regs *ctx)
{
	return go_tls_return(ctx, GO_TLS_IO);
}

SEC("uprobe")
int sonde_gotls_hs_ret(struct pt_regs *ctx)
{
	return go_tls_return(ctx, GO_TLS_HANDSHAKE);
}

#endif /* SONDE_TLS_BPF_H */
