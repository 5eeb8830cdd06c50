/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `find_scratch`: a request head's bytes while the kernel searches them for trace context. */
#ifndef SONDE_MAPS_FIND_SCRATCH_BPF_H
#define SONDE_MAPS_FIND_SCRATCH_BPF_H

#define FIND_CHUNK 1024 /* user bytes copied at a time, as the search reaches them */

/* The search under way (head_find.bpf.h). In the map, not on the stack: the verifier then
 * takes its fields as unknown at every step and checks the step once. */
struct head_find {
	__u64 user;	 /* the I/O's buffer (user address) */
	__u64 w;	 /* the word the step looks at */
	__u64 m;	 /* ... its line feeds not looked at yet */
	__u32 len;	 /* bytes of it to search */
	__u32 filled;	 /* ... copied into buf so far */
	__u32 out;	 /* bytes of entries in lines */
	__u32 last_ls;	 /* the last line start seen, or FIND_NO_LINE */
	__u32 copied_ls; /* the last line start copied as an entry, plus one (0: none) */
	__u8 ended;	 /* the head's empty line was seen */
	__u8 full;	 /* a context line found no room */
	__u8 fail;	 /* a read of the user's buffer failed */
	__u8 flags;	 /* the search's outcome, enum sonde_head_scan */
	__u8 has_tp;	 /* a traceparent line was copied: */
	__u8 pad[3];
	__u32 tp_at;	 /* ... its bytes start at lines[tp_at] */
	__u32 tp_len;	 /* ... and there are this many */
};

/*
 * buf has room past SONDE_HEAD_FIND_MAX for a chunk copied at any offset below it, and for a
 * word or a line read at any line start below it: what the verifier can check.
 */
struct sonde_find_scratch {
	__u64 owner; /* who searches: a run preempted on this CPU finds another */
	struct head_find f;
	__u8 lines[SONDE_CTX_LINES_MAX];
	__u8 buf[SONDE_HEAD_FIND_MAX + FIND_CHUNK];
};

/*
 * 0 → struct sonde_find_scratch, one per CPU: written and read within one program run, never
 * deleted. The TLS uprobes can be preempted on their CPU, so each run stamps the slot with its
 * own owner value first and trusts what it found only if the stamp is still its own afterwards.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sonde_find_scratch);
} find_scratch SEC(".maps");

#endif
