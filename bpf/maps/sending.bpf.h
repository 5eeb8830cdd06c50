/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `sending` (header propagation): the verdict of the injection program on each thread's
 * send under way, for the send tracepoint of the same syscall.
 */
#ifndef SONDE_MAPS_SENDING_BPF_H
#define SONDE_MAPS_SENDING_BPF_H

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

#endif
