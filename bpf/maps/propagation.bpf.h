/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps of header propagation (--propagation header): which request each thread serves, which
 * send each thread has under way on an outgoing connection, and the outgoing connections the
 * injection program watches. Nothing here is written unless header mode is on.
 */
#ifndef SONDE_MAPS_PROPAGATION_BPF_H
#define SONDE_MAPS_PROPAGATION_BPF_H

/* The request a thread is serving: what its outgoing calls carry. */
struct sonde_serving {
	__u64 sock;	   /* the server connection (struct sock address) it was read on */
	__u8 trace_id[16]; /* the trace of the request */
	__u8 span_id[8];   /* its server span: the parent of the calls made while serving it */
	__u8 flags;	   /* W3C trace-flags to pass on */
	__u8 pad[7];	   /* explicit padding */
};

/*
 * pid_tgid → struct sonde_serving. Written by the socket receive program when a server
 * connection reads the first bytes of a request head; deleted by the send program when that
 * connection starts its response (thread-per-request servers answer from the reading thread).
 * LRU: a thread that dies while serving leaves an entry that ages out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_serving);
} serving SEC(".maps");

/* A send judged by the injection program, for the send tracepoint of the same syscall. */
struct sonde_sending {
	__u64 sock;		    /* the connection (struct sock address) */
	struct sonde_trace_ctx ctx; /* INJECTED with the ids put on the wire, or NONE */
};

/*
 * pid_tgid → struct sonde_sending. Written by the sk_msg program on the first piece of a send
 * (a large send reaches it in several pieces: the later ones find the entry and pass untouched);
 * read and always deleted by the sock_send_length program of the same syscall, which fires in
 * the same thread once the send returns (with an error too). LRU as a second line of defence.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_sending);
} sending SEC(".maps");

/*
 * socket cookie → socket: the outgoing TCP connections whose sends run the sk_msg program.
 * Written by the sockops program when an active open is established; the kernel removes a
 * socket when it closes, and every socket when the map goes (sonde exits: nothing is pinned).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SONDE_MAX_OUT_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} out_socks SEC(".maps");

/*
 * Copies of request heads to scan (for the end of the head, a traceparent), one pair per CPU:
 * slot 0 for the socket receive tracepoint, which runs with preemption off, so no two runs ever
 * share it; slot 1 for the sk_msg program, which can be preempted by another send on the same
 * CPU: each run stamps the slot with its own owner value first and trusts its scan only if the
 * stamp is still its own afterwards (else it skips, counted as a failed injection).
 * SONDE_HEAD_SCAN_MAX + 8: a word read at any masked offset stays inside.
 */
struct sonde_head_scratch {
	__u64 owner;
	__u32 len; /* bytes copied: read back through memory, so the verifier cannot bound it */
	__u32 pad;
	__u8 buf[SONDE_HEAD_SCAN_MAX + 8];
};

#define SCRATCH_RECV 0
#define SCRATCH_SEND 1

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sonde_head_scratch);
} head_scratch SEC(".maps");

#endif
