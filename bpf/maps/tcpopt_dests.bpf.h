/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `tcpopt_dests` (TCP-option propagation): the destination ranges whose connections carry
 * the option (--tcp-option-to), when tcpopt_dest_filter is set.
 */
#ifndef SONDE_MAPS_TCPOPT_DESTS_BPF_H
#define SONDE_MAPS_TCPOPT_DESTS_BPF_H

/* struct sonde_cidr_key → 1. Written by the agent before attach, never changed after. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SONDE_TCPOPT_DESTS);
	__type(key, struct sonde_cidr_key);
	__type(value, __u8);
} tcpopt_dests SEC(".maps");

#endif
