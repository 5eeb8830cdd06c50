/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `grpc_items`: the goroutine that queued each item of a grpc-go transport's control
 * buffer (bpf/runtimes/grpc_go.bpf.h).
 */
#ifndef SONDE_MAPS_GRPC_ITEMS_BPF_H
#define SONDE_MAPS_GRPC_ITEMS_BPF_H

/*
 * Item pointer → struct sonde_go_owner (maps/go_requests.bpf.h): who put it in the control
 * buffer (executeAndPut). Read and deleted when the transport's writer goroutine takes a new
 * stream's headers out (the header handler's uprobe). LRU: the other items queued (window
 * updates, settings, pings) are never taken out by that uprobe and age out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_go_owner);
} grpc_items SEC(".maps");

#endif
