/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `procs_seen`: the processes whose identity the agent was sent. */
#ifndef SONDE_MAPS_PROCS_SEEN_BPF_H
#define SONDE_MAPS_PROCS_SEEN_BPF_H

/* tgid → start_boottime of the process whose identity was sent (a PROC record). Written by the
 * socket programs; LRU, and a reused pid has another start time, so nobody deletes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u64);
} procs_seen SEC(".maps");

#endif
