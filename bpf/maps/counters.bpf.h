/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `counters`: the BPF side's self-metrics. */
#ifndef SONDE_MAPS_COUNTERS_BPF_H
#define SONDE_MAPS_COUNTERS_BPF_H

/* enum sonde_counter → count, per CPU. Written by every program, read by the agent, never
 * deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#endif
