/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `head_scratch` (header and TCP-option propagation): copies of request heads to scan. */
#ifndef SONDE_MAPS_HEAD_SCRATCH_BPF_H
#define SONDE_MAPS_HEAD_SCRATCH_BPF_H

#include "serving.bpf.h"

/* SONDE_HEAD_SCAN_MAX + 8: a word read at any masked offset stays inside. */
struct sonde_head_scratch {
	__u64 owner;
	__u32 len; /* bytes copied: read back through memory, so the verifier cannot bound it */
	__u32 pad;
	__u8 buf[SONDE_HEAD_SCAN_MAX + 8];
	/* Off the stack, which the TLS return probes fill nearly: */
	__u8 line[72];		 /* a traceparent line to parse (TRACEPARENT_PARSE_BYTES) */
	struct sonde_serving sv; /* the request a server thread reads, for the serving map */
};

#define SCRATCH_RECV 0
#define SCRATCH_SEND 1
#define SCRATCH_TLS 2

/*
 * SCRATCH_RECV, SCRATCH_SEND or SCRATCH_TLS → struct sonde_head_scratch, three per CPU, written
 * and read within one program run, never deleted. Slot 0 is the socket receive tracepoint's,
 * which runs with preemption off, so no two runs ever share it; slot 1 the sk_msg program's,
 * and slot 2 the TLS libraries' return uprobes' (their plaintext), which can be preempted by
 * another run on the same CPU: each run stamps the slot with its own owner value first and
 * trusts its scan only if the stamp is still its own afterwards (else it skips: an injection
 * counted as failed, a request's incoming context not read).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct sonde_head_scratch);
} head_scratch SEC(".maps");

#endif
