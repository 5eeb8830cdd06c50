/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `out_socks` (header propagation): the outgoing connections the injection program sees. */
#ifndef SONDE_MAPS_OUT_SOCKS_BPF_H
#define SONDE_MAPS_OUT_SOCKS_BPF_H

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

#endif
