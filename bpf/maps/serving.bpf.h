/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `serving` (header and TCP-option propagation): the request each thread serves, whose
 * trace the calls it makes carry. Nothing is written unless a propagation mode is on.
 */
#ifndef SONDE_MAPS_SERVING_BPF_H
#define SONDE_MAPS_SERVING_BPF_H

/* The request a thread is serving: what its outgoing calls carry. */
struct sonde_serving {
	__u64 sock;	   /* the server connection (struct sock address) it was read on */
	__u8 trace_id[16]; /* the trace of the request */
	__u8 span_id[8];   /* its server span: the parent of the calls made while serving it */
	__u8 flags;	   /* W3C trace-flags to pass on */
	__u8 unsure;	   /* the thread read it while another connection's request was under
			    * way (an event loop), or its ids are not the kernel's (TLS): a call
			    * it makes may be another request's */
	__u8 pad[6];	   /* explicit padding */
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

#endif
