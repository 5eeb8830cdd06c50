/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps of the Go net/http client hand-off. A handler's http.Client call does not write its
 * request itself: persistConn.roundTrip, on the handler's goroutine, hands it to the
 * connection's writeLoop goroutine, which writes it with Request.write. Two uprobes, one hit
 * each per request, tie the write back to the handler: roundTrip's entry notes which goroutine
 * asked for the *Request, Request.write's entry tells the writing goroutine whose it is.
 */
#ifndef SONDE_MAPS_GO_BPF_H
#define SONDE_MAPS_GO_BPF_H

/* Whose request a goroutine handles. */
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

/*
 * writing goroutine (its g) → struct sonde_go_owner: the goroutine whose request it writes
 * now. Written by the Request.write uprobe; read by the socket send path, whose DATA record
 * then names the owner; LRU, overwritten at the writer's next request.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_go_owner);
} go_writers SEC(".maps");

#endif
