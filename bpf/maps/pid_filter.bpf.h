/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `pid_filter`: the processes --pid selects. */
#ifndef SONDE_MAPS_PID_FILTER_BPF_H
#define SONDE_MAPS_PID_FILTER_BPF_H

/* tgid → 1: the processes to trace when filter_pids is set. Written and deleted by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_PID_FILTER);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

#endif
