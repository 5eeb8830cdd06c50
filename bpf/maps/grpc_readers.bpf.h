/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps `grpc_readers` and `grpc_conns`: which goroutines read a grpc-go server connection
 * (bpf/runtimes/grpc_go.bpf.h).
 */
#ifndef SONDE_MAPS_GRPC_READERS_BPF_H
#define SONDE_MAPS_GRPC_READERS_BPF_H

/*
 * The goroutines that read a server transport's bytes, each with the time it took that role:
 * a goroutine's g is reused once it exits, so the agent tells its roles apart by that time
 * (SONDE_GO_STREAM_ROLE).
 */
struct sonde_grpc_readers {
	__u64 reader; /* its HandleStreams loop, which reads every frame after the handshake */
	__u64 first;  /* the one that accepted the connection and read its preface: its read may
		       * have taken the first requests too, which the reader then parses */
	__u64 reader_since;
	__u64 first_since;
};

/* An accepting goroutine, since when. */
struct sonde_grpc_acceptor {
	__u64 g;
	__u64 since;
};

/*
 * *transport.http2Server → struct sonde_grpc_readers. Written at serveStreams' and
 * HandleStreams' entries (once per connection); read by the handleStream uprobe. LRU: a
 * transport's address comes back once it is garbage, and the next connection overwrites it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_grpc_readers);
} grpc_readers SEC(".maps");

/*
 * The net.Conn's data word → the goroutine in handleRawConn with it (the accepting one), as
 * struct sonde_grpc_acceptor.
 * Written at handleRawConn's entry, read at serveStreams' (same connection, the reader's
 * goroutine); LRU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_grpc_acceptor);
} grpc_conns SEC(".maps");

#endif
