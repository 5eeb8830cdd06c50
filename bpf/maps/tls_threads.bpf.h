/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `tls_threads` (TLS plaintext, bpf/tls.bpf.h): per thread, the TLS library call under way
 * and the last TLS socket it read, which is how a call's SSL* is tied to its socket.
 */
#ifndef SONDE_MAPS_TLS_THREADS_BPF_H
#define SONDE_MAPS_TLS_THREADS_BPF_H

struct sonde_tls_thread {
	/* The call under way (SSL_read, SSL_write, their _ex forms, SSL_do_handshake). */
	__u64 ssl;	/* its SSL* */
	__u64 buf;	/* its plaintext buffer */
	__u64 done_at;	/* _ex forms: where the library writes the bytes it moved; else 0 */
	__u64 call_sk;	/* the TLS socket the call did I/O on, or 0 */
	__u64 call_conn; /* ... and that connection's id */
	__u64 entry_ts;	/* when the call began */
	__u64 call_ts;	/* when it first did socket I/O (call_sk), or 0: a write's time, as its
			 * bytes go out inside it, and the reader may have them before it returns */
	/* The last read of a TLS socket by this thread outside any call: a library that reads
	 * from memory (Node, Python's asyncio) gets its bytes right after the thread read them. */
	__u64 rx_sk;
	__u64 rx_conn;
	__u16 dir;	/* enum sonde_direction of the call; NONE: a handshake */
	__u8 active;	/* a call is under way */
	__u8 pad[5];	/* explicit padding */
	/* TCP-option propagation (tcp_option.bpf.h): the ids the call's ciphertext carries on the
	 * wire, for its plaintext's record. A write: the client span's (INJECTED), from the
	 * connection's option; a read: the caller's, from the option its first byte came with
	 * (PEER). Kind NONE: none. */
	struct sonde_trace_ctx tcp_ctx;
};

/*
 * pid_tgid → struct sonde_tls_thread. Written by the TLS library uprobes (entry and return) and
 * by the socket I/O path for connections marked TLS; LRU: never deleted, a thread that is gone
 * ages out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_tls_thread);
} tls_threads SEC(".maps");

/* A new thread's entry, all zero: from .rodata, not the programs' stack, which the socket
 * hooks fill nearly. */
static const struct sonde_tls_thread tls_thread_zero;

#endif
