/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `go_writers`, the second half of the Go net/http client hand-off (bpf/runtimes/go.bpf.h):
 * whose request each writing goroutine writes now.
 */
#ifndef SONDE_MAPS_GO_WRITERS_BPF_H
#define SONDE_MAPS_GO_WRITERS_BPF_H

#include "maps/go_requests.bpf.h" /* struct sonde_go_owner */

/*
 * writing goroutine (its g) → struct sonde_go_owner: the goroutine whose request it writes
 * now. Written (or deleted, for a request of nobody known) by the Request.write uprobe; read by
 * the socket send path, whose DATA record then names the owner; LRU, overwritten at the
 * writer's next request.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_go_owner);
} go_writers SEC(".maps");

#endif
