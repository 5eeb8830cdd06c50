/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `go_tls_calls` (TLS plaintext of Go programs, bpf/tls.bpf.h): the crypto/tls call each
 * goroutine has under way. By goroutine, not thread: a goroutine that blocks in its socket I/O
 * may come back on another thread.
 */
#ifndef SONDE_MAPS_GO_TLS_CALLS_BPF_H
#define SONDE_MAPS_GO_TLS_CALLS_BPF_H

#include "maps/tls_threads.bpf.h" /* struct sonde_tls_thread */

struct sonde_go_key {
	__u64 g;    /* the goroutine (its g) */
	__u32 tgid; /* the process */
	__u32 kind; /* GO_TLS_IO (Read, Write) or GO_TLS_HANDSHAKE, which may run inside one */
};

#define GO_TLS_IO 0
#define GO_TLS_HANDSHAKE 1

/*
 * struct sonde_go_key → struct sonde_tls_thread (its ssl: the *tls.Conn; rx_* unused). Written
 * by the crypto/tls uprobes at a Read, Write or handshake's entry and at its RET instructions,
 * and by the socket path for connections marked TLS; LRU: a goroutine that is gone ages out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, struct sonde_go_key);
	__type(value, struct sonde_tls_thread);
} go_tls_calls SEC(".maps");

#endif
