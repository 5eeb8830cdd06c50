/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `port_filter`: the ports --port selects. */
#ifndef SONDE_MAPS_PORT_FILTER_BPF_H
#define SONDE_MAPS_PORT_FILTER_BPF_H

/* port (host order) → 1: trace connections with this local or remote port when filter_ports is
 * set. Written by the agent before attach, never deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_PORT_FILTER);
	__type(key, __u16);
	__type(value, __u8);
} port_filter SEC(".maps");

#endif
