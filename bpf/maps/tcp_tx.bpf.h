/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `tcp_tx` (TCP-option propagation): what an outgoing connection puts on the wire for its
 * current request. Socket storage: it lives and dies with the socket, so nothing is deleted by
 * hand and nothing leaks. The value is in sonde_event.h: the agent's start-up self-test reads it.
 */
#ifndef SONDE_MAPS_TCP_TX_BPF_H
#define SONDE_MAPS_TCP_TX_BPF_H

/*
 * struct sock → struct sonde_tcp_tx. Created by the sockops program when a process sonde
 * traces connects; written by the sockops program as the connection's segments are sent (a
 * new request's ids are decided at its first segment) and by the send tracepoint (which
 * decides them when no segment of the request went out inside the send).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sonde_tcp_tx);
} tcp_tx SEC(".maps");

#endif
