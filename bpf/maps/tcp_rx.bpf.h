/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `tcp_rx` (TCP-option propagation): the contexts an incoming connection received, by the
 * sequence ranges that carried them. Socket storage: it lives and dies with the socket. The
 * value is in sonde_event.h: the agent's start-up self-test reads it.
 */
#ifndef SONDE_MAPS_TCP_RX_BPF_H
#define SONDE_MAPS_TCP_RX_BPF_H

/*
 * struct sock → struct sonde_tcp_rx. Created and written by the sockops program for every
 * received segment that carries a sonde option (accepted connections only); read by the
 * receive tracepoint at the first read of a request; the kernel deletes it with the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sonde_tcp_rx);
} tcp_rx SEC(".maps");

#endif
