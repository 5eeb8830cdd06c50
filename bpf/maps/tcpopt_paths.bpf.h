/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `tcpopt_paths` (TCP-option propagation): the safety net's tally per destination, and
 * whether the option to it is off for now.
 */
#ifndef SONDE_MAPS_TCPOPT_PATHS_BPF_H
#define SONDE_MAPS_TCPOPT_PATHS_BPF_H

/*
 * struct sonde_addr → struct sonde_tcp_path. Created by the sockops program at the first
 * option segment to a destination, updated as segments go out and are resent; read by
 * tcp_decide for each request. The agent reads it to log and count the destinations that are
 * off. LRU: the least recently used destination's tally is forgotten first.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_TCPOPT_PATHS);
	__type(key, struct sonde_addr);
	__type(value, struct sonde_tcp_path);
} tcpopt_paths SEC(".maps");

#endif
