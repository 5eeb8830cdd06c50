/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `walk_scratch` (capture policies H2_FRAMES, STREAM): the record a walk builds. */
#ifndef SONDE_MAPS_WALK_SCRATCH_BPF_H
#define SONDE_MAPS_WALK_SCRATCH_BPF_H

#define WALK_HEAD_BYTES offsetof(struct sonde_data_event, payload)
#define WALK_REC_MAX (WALK_HEAD_BYTES + 2 * SONDE_FRAMES_MAX)

/* The walk under way (h2_frames.bpf.h). In the map, not on the stack: the verifier then
 * takes its fields as unknown at every step and checks the step once. */
struct walk_ctx {
	__u64 buf;   /* the segment under way: user address */
	__u64 vec;   /* the I/O's iovec array (user address), or 0 for one plain buffer */
	__u32 seg;   /* iovec entries taken */
	__u32 n;     /* the segment's bytes */
	__u32 off;   /* ... walked */
	__u32 done;  /* bytes of the I/O walked */
	__u32 total; /* the I/O's bytes */
	__u32 out;   /* payload bytes written to the record */
	__u32 left;  /* the cursor, as in struct sonde_frame_cursor */
	__u32 limit; /* payload bytes the record may hold (at most SONDE_FRAMES_MAX) */
	__u8 part;
	__u8 elided;
	__u8 cut;    /* the record ran out of room */
	__u8 fail;   /* a read failed, or too many segments */
	__u8 gather; /* policy STREAM: every byte is kept, no frame is followed */
};

/*
 * Twice SONDE_FRAMES_MAX of payload room: a copy of at most SONDE_FRAMES_MAX bytes at any
 * offset below SONDE_FRAMES_MAX stays inside, which is what the verifier can check.
 */
struct sonde_walk_scratch {
	__u64 owner;	/* who builds the record: a run preempted on this CPU finds another */
	struct walk_ctx w;
	__u8 hdr[24];	/* the frame header being read (at most 8 read + a copy of at most 9) */
	struct sonde_data_event ev; /* its payload runs on into more */
	__u8 more[2 * SONDE_FRAMES_MAX - SONDE_PAYLOAD_MAX];
};

/*
 * 0 → struct sonde_walk_scratch, one per CPU: written by a socket I/O program while it walks
 * one I/O, then copied into the ring whole; never deleted. A program preempted on its CPU may
 * find it rewritten by another run (owner): it then writes the record lost instead.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sonde_walk_scratch);
} walk_scratch SEC(".maps");

#endif
