/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `tls_socks` (TLS plaintext, bpf/tls.bpf.h): the socket under each SSL* sonde has seen. */
#ifndef SONDE_MAPS_TLS_SOCKS_BPF_H
#define SONDE_MAPS_TLS_SOCKS_BPF_H

struct sonde_tls_key {
	__u64 ssl;  /* the SSL* (an address in the process) */
	__u32 tgid; /* the process */
	__u32 pad;  /* explicit padding: 0 */
};

struct sonde_tls_sock {
	__u64 sk;      /* the connection's key in conns */
	__u64 conn_id; /* its id when tied: a reused sock address is told apart */
};

/*
 * struct sonde_tls_key → struct sonde_tls_sock. Written when a library call is tied to the
 * socket it did I/O on; deleted by the SSL_free uprobe; LRU, so the SSL objects of a library
 * whose SSL_free sonde does not see age out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_CONNS);
	__type(key, struct sonde_tls_key);
	__type(value, struct sonde_tls_sock);
} tls_socks SEC(".maps");

#endif
