/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `go_requests`, the first half of the Go net/http client hand-off (bpf/runtimes/go.bpf.h):
 * which goroutine asked for each request a writeLoop goroutine will write.
 */
#ifndef SONDE_MAPS_GO_REQUESTS_BPF_H
#define SONDE_MAPS_GO_REQUESTS_BPF_H

/* Whose request a goroutine handles (the value of go_requests and go_writers). */
struct sonde_go_owner {
	__u64 g;     /* the goroutine (its g) that asked for the request */
	__u64 ts_ns; /* when */
};

/*
 * *http.Request → struct sonde_go_owner: the goroutine that called persistConn.roundTrip with
 * it. Written by the roundTrip uprobe; read by the Request.write uprobe; LRU (requests are
 * garbage once answered, their addresses come back: the next roundTrip overwrites).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_go_owner);
} go_requests SEC(".maps");

#endif
