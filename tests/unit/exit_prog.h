/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * For the tests that run the capture for real: the syscall fallback's exit program loaded
 * alone, to be driven with BPF_PROG_RUN as if this thread sent and received on a socket (the
 * entry's saved arguments written to syscall_io by hand), its records in one ring read here.
 */
#ifndef SONDE_TEST_EXIT_PROG_H
#define SONDE_TEST_EXIT_PROG_H

#include <errno.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sonde.skel.h"

/* Open the object with only the exit program to load and the hash maps at max_entries. */
static inline struct sonde_bpf *exit_prog__open(uint32_t max_entries)
{
	struct sonde_bpf *skel = sonde_bpf__open();
	struct bpf_program *p;
	struct bpf_map *m;

	if (!skel)
		return NULL;
	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, p == skel->progs.sonde_sys_exit);
	bpf_object__for_each_map(m, skel->obj) {
		enum bpf_map_type t = bpf_map__type(m);

		if (t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_SOCKHASH)
			bpf_map__set_max_entries(m, max_entries);
	}
	bpf_map__set_autocreate(skel->maps.resp_notes_task, false);
	skel->rodata->sys_send = skel->rodata->sys_recv = 1;
	return skel;
}

/* Load it (the settings in rodata set), with one ring of ring_bytes for every CPU, read by cb. */
static inline int exit_prog__load(struct sonde_bpf *skel, uint32_t ring_bytes,
				  ring_buffer_sample_fn cb, int *ring_fd, struct ring_buffer **rb)
{
	uint32_t i, n_cpus = libbpf_num_possible_cpus();

	*ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "test_ring", 0, 0, ring_bytes, NULL);
	if (*ring_fd < 0 || bpf_map__set_inner_map_fd(skel->maps.rings, *ring_fd) ||
	    bpf_map__set_max_entries(skel->maps.rings, n_cpus) || sonde_bpf__load(skel))
		return -errno;
	for (i = 0; i < n_cpus; i++) /* whichever CPU the program runs on: the one ring */
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.rings), &i, ring_fd, BPF_ANY))
			return -errno;
	*rb = ring_buffer__new(*ring_fd, cb, NULL, NULL);
	return *rb ? 0 : -errno;
}

#endif /* SONDE_TEST_EXIT_PROG_H */
