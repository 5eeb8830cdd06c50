/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `tcpopt_peers` (TCP-option propagation): the peers that sent this host the option lately,
 * so that a request from one of them that arrives without it is counted (stripped on the way).
 */
#ifndef SONDE_MAPS_TCPOPT_PEERS_BPF_H
#define SONDE_MAPS_TCPOPT_PEERS_BPF_H

/*
 * struct sonde_addr → CLOCK_MONOTONIC ns of the last segment with a sonde option from it,
 * refreshed at most once a second. Written by the sockops program, read by the receive side at
 * a server request's first read. LRU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_TCPOPT_PEERS);
	__type(key, struct sonde_addr);
	__type(value, __u64);
} tcpopt_peers SEC(".maps");

#endif
