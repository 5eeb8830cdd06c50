/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `conns`: per-connection run state, the one piece of exact state the kernel keeps. */
#ifndef SONDE_MAPS_CONNS_BPF_H
#define SONDE_MAPS_CONNS_BPF_H

/*
 * struct sock address → struct sonde_conn_state. Written by the socket I/O programs, by
 * inet_sock_set_state (role at open) and by the agent (ignored: loader__ignore_conn); deleted
 * at TCP_CLOSE. LRU, so connections whose close was never seen (table full, closed before sonde
 * started) age out instead of filling it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct sonde_conn_state);
} conns SEC(".maps");

#endif
