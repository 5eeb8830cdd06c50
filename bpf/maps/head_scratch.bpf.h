/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `head_scratch` (header and TCP-option propagation): copies of request heads to scan. */
#ifndef SONDE_MAPS_HEAD_SCRATCH_BPF_H
#define SONDE_MAPS_HEAD_SCRATCH_BPF_H

/* SONDE_HEAD_SCAN_MAX + 8: a word read at any masked offset stays inside. */
struct sonde_head_scratch {
	__u64 owner;
	__u32 len; /* bytes copied: read back through memory, so the verifier cannot bound it */
	__u32 pad;
	__u8 buf[SONDE_HEAD_SCAN_MAX + 8];
};

#define SCRATCH_RECV 0
#define SCRATCH_SEND 1

/*
 * SCRATCH_RECV or SCRATCH_SEND → struct sonde_head_scratch, one pair per CPU, written and read
 * within one program run, never deleted. Slot 0 is the socket receive tracepoint's, which runs
 * with preemption off, so no two runs ever share it; slot 1 the sk_msg program's, which can be
 * preempted by another send on the same CPU: each run stamps the slot with its own owner value
 * first and trusts its scan only if the stamp is still its own afterwards (else it skips,
 * counted as a failed injection).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sonde_head_scratch);
} head_scratch SEC(".maps");

#endif
