/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `rings`: one ring buffer per CPU, so CPUs never contend for one ring's lock. */
#ifndef SONDE_MAPS_RINGS_BPF_H
#define SONDE_MAPS_RINGS_BPF_H

struct sonde_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SONDE_RING_BYTES);
};

/*
 * CPU number → ring buffer. The agent creates the rings (their size is a setting) and fills the
 * array before attaching; records of one connection can therefore land in several rings, and the
 * agent orders them by timestamp. Nobody deletes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SONDE_MAX_CPUS);
	__type(key, __u32);
	__array(values, struct sonde_ring);
} rings SEC(".maps");

#endif
