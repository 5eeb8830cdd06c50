/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `prop_skip` (header and TCP-option propagation): the processes whose sends never carry a
 * context from the kernel, because it cannot tell which of their requests a send belongs to
 * (Go).
 */
#ifndef SONDE_MAPS_PROP_SKIP_BPF_H
#define SONDE_MAPS_PROP_SKIP_BPF_H

/*
 * tgid → 1. Written by the agent as it looks at each process's executable (at start, at exec),
 * before the process's next connection; an exec of another program deletes it. LRU: a pid
 * reused before the agent looked again costs that process the option, nothing else.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_PROP_SKIP);
	__type(key, __u32);
	__type(value, __u8);
} prop_skip SEC(".maps");

#endif
