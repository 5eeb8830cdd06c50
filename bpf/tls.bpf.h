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
#define TLS_HANDSHAKE 22
#define TLS_APP_DATA 23

/*
 * A socket I/O begins with a TLS record header: a handshake record in one of the connection's
 * first runs (a TLS client or server, also after a clear-text prelude: PostgreSQL's SSLRequest
 * and its answer, MySQL's SSL request, which the ClientHello follows in the same direction), or
 * application data at the first I/O sonde sees of a connection opened before it started. The
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
	if (h[0] != TLS_HANDSHAKE && (h[0] != TLS_APP_DATA || st->run_seq))
		return false;
	st->tls = 1;
	count(SONDE_CNT_TLS_CONNS);
	return true;
}

/*
 * A socket I/O of a connection marked TLS (no record: ciphertext). A thread inside a library
 * call ties the call to this socket; a read outside any call is noted for the next one.
 */
static __always_inline void tls_socket_io(const struct sonde_conn_state *st, __u64 key, __u16 dir,
					  __u64 pid_tgid)
{
	struct sonde_tls_thread *t, fresh = {};

	if (!tls_uprobes)
		return;
	t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (!t) {
		if (dir != SONDE_DIR_INGRESS)
			return;
		bpf_map_update_elem(&tls_threads, &pid_tgid, &fresh, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
		if (!t)
			return;
	}
	if (t->active) {
		t->call_sk = key;
		t->call_conn = st->conn_id;
	} else if (dir == SONDE_DIR_INGRESS) {
		t->rx_sk = key;
		t->rx_conn = st->conn_id;
	}
}

/* A library call starts: what it works on, for its return. */
static __always_inline int tls_enter(struct pt_regs *ctx, __u16 dir, __u64 done_at)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sonde_tls_thread *t, fresh = {};

	if (tgid == self_tgid || (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)))
		return 0;
	t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (!t) {
		bpf_map_update_elem(&tls_threads, &pid_tgid, &fresh, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
		if (!t)
			return 0;
	}
	t->ssl = PT_REGS_PARM1(ctx);
	t->buf = PT_REGS_PARM2(ctx);
	t->done_at = done_at;
	t->call_sk = 0;
	t->call_conn = 0;
	t->dir = dir;
	t->active = 1;
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
 * The return of every hooked call: its plaintext, n bytes at buf, is an I/O of its connection
 * (SSL_read and SSL_write return the bytes moved; their _ex forms 1, and the count at done_at).
 */
SEC("uretprobe")
int sonde_ssl_ret(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), ret = PT_REGS_RC(ctx), n = 0, key, conn_id;
	struct sonde_tls_thread *t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	struct sonde_trace_ctx injected = {};
	struct sonde_conn_state *st;
	struct io_source src = {.from = IO_FROM_TLS, .buf_kind = SONDE_BUF_PLAIN};
	__u16 dir;

	if (!t || !t->active)
		return 0;
	t->active = 0;
	dir = t->dir;
	key = tls_call_socket(t, pid_tgid >> 32, &conn_id);
	if (t->done_at) {
		if ((int)ret != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)t->done_at))
			n = 0;
	} else if ((int)ret > 0) {
		n = (int)ret;
	}
	if (!n || dir == SONDE_DIR_NONE)
		return 0;
	if (n > 0x7fffffff)
		n = 0x7fffffff;
	st = key ? bpf_map_lookup_elem(&conns, &key) : NULL;
	if (!st || st->conn_id != conn_id) {
		count(SONDE_CNT_TLS_UNTIED);
		return 0;
	}
	if (st->ignored)
		return 0;
	if (!st->tls) {
		st->tls = 1; /* its handshake went by unseen */
		count(SONDE_CNT_TLS_CONNS);
	}
	count(SONDE_CNT_TLS_IO);
	src.arg = t->buf;
	io_run((struct sock *)key, st, key, n, dir, &src, &injected, pid_tgid, bpf_ktime_get_ns());
	return 0;
}

#endif /* SONDE_TLS_BPF_H */
