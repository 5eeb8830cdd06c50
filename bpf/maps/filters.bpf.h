/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the selection flags (--pid, --port) and the BPF-side counters. */
#ifndef SONDE_MAPS_FILTERS_BPF_H
#define SONDE_MAPS_FILTERS_BPF_H

/* tgid → 1: the processes to trace when filter_pids is set. Written and deleted by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_PID_FILTER);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

/* port (host order) → 1: trace connections with this local or remote port when filter_ports is
 * set. Written by the agent before attach, never deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_PORT_FILTER);
	__type(key, __u16);
	__type(value, __u8);
} port_filter SEC(".maps");

/* tgid → start_boottime of the process whose identity was sent (a PROC record). Written by the
 * socket programs; LRU, and a reused pid has another start time, so nobody deletes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u64);
} procs_seen SEC(".maps");

/* enum sonde_counter → count, per CPU. Written by every program, read by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#endif
