/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event ABI between sonde's BPF programs and its agent: the records that cross the ring
 * buffers and the sizes both sides agree on. Fixed-width types only, explicit padding, no libc,
 * so that this header compiles in BPF and in userspace alike.
 */
#ifndef SONDE_EVENT_H
#define SONDE_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Largest payload prefix one record can carry; the run-time cap (capture_bytes) is at most this. */
#define SONDE_PAYLOAD_MAX 1024
/* Default run-time cap on the payload copied per message. */
#define SONDE_PAYLOAD_DEFAULT 512
/* Command line and environment bytes sent once per process (its identity outlives it). */
#define SONDE_CMDLINE_MAX 512
#define SONDE_ENVIRON_MAX 4096
/* Processes whose identity the kernel remembers having sent. */
#define SONDE_MAX_PROCS 16384
/* Connections tracked at once in the kernel (LRU: the oldest idle ones are evicted). */
#define SONDE_MAX_CONNS 65536
/* Capture policies the agent asked for and no run of their connection took yet (conn_policy). */
#define SONDE_MAX_POLICY_WRITES 8192
/* Syscalls in flight at once for the syscall fallback, host-wide: one per thread in a socket I/O. */
#define SONDE_MAX_INFLIGHT_IO 16384
/*
 * The sampling rule (--sample-ratio), one definition for the BPF programs (the sampled flag of
 * a traceparent they start) and the agent (which spans it sends): a trace is kept when the last
 * 56 bits of its id, big-endian, are at least threshold, (1 - ratio) * 2^56; 0 keeps every trace.
 * OpenTelemetry's consistent probability sampling, so that every sonde decides alike.
 */
static inline __attribute__((always_inline)) int sonde_trace_sampled(const __u8 *trace_id,
								       __u64 threshold)
{
	__u64 r = 0;
	int i;

	if (!threshold)
		return 1;
	for (i = 9; i < 16; i++)
		r = r << 8 | trace_id[i];
	return r >= threshold;
}

/* Processes the pid filter can name. */
#define SONDE_MAX_PID_FILTER 1024
/* Ports the port filter can name. */
#define SONDE_MAX_PORT_FILTER 64
/* One ring buffer per possible CPU, each this large (bytes, power of two). */
#define SONDE_RING_BYTES (4u << 20)
/* Possible CPUs the per-CPU ring array can hold. */
#define SONDE_MAX_CPUS 512

/* What a record is. */
enum sonde_event_kind {
	SONDE_EV_DATA = 1,  /* a message started on a connection: payload prefix attached */
	SONDE_EV_CLOSE = 2, /* a connection closed: the summary of its last run */
	SONDE_EV_OPEN = 3,  /* a connection first seen: its tuple */
	SONDE_EV_PROC = 4,  /* a process first seen: its command line and environment */
	SONDE_EV_THREAD = 5, /* a traced process created a thread: who made it, and when */
	SONDE_EV_EXEC = 6,   /* a process started a program: its uprobes, before its first I/O */
	SONDE_EV_NOTES = 7,  /* a thread's summarized response starts, when more came than its
			      * next record carries (an event loop answering many at once) */
	SONDE_EV_GO_STREAM = 8, /* grpc-go handed an HTTP/2 stream between goroutines */
};

/* Which way bytes moved, from the traced process's point of view. */
enum sonde_direction {
	SONDE_DIR_NONE = 0,
	SONDE_DIR_EGRESS = 1,  /* the process sent */
	SONDE_DIR_INGRESS = 2, /* the process received */
};

/*
 * A "run" is a sequence of I/O in one direction on one connection. The kernel copies payload
 * and writes a record only when a run starts (the direction changed) and, for runs that go on,
 * for their first few syscalls (a request head split over several sends, several pipelined
 * requests: run_captures, default below); every other I/O only updates the connection's counters.
 */
#define SONDE_RUN_CAPTURES_DEFAULT 4

/* Common head of every record. */
struct sonde_event_head {
	__u64 conn_id;	/* stable id of the connection, unique for the agent's life */
	__u64 ts_ns;	/* CLOCK_MONOTONIC of the I/O (bpf_ktime_get_ns) */
	__u32 tgid;	/* process id */
	__u32 tid;	/* thread id that did the I/O */
	__u16 kind;	/* enum sonde_event_kind */
	__u16 dir;	/* enum sonde_direction of this I/O (DATA) or of the last run (CLOSE) */
	__u32 pad0;	/* explicit padding */
};

/* Summary of a run that ended: carried by the record that starts the next run, or by CLOSE. */
struct sonde_run_summary {
	__u64 first_ts_ns; /* first I/O of the run */
	__u64 last_ts_ns;  /* last I/O of the run */
	__u64 bytes;	   /* bytes moved by the run */
	__u32 seq;	   /* run number on the connection, from 1 */
	__u16 dir;	   /* enum sonde_direction, NONE when there was no run */
	__u16 http1_status; /* an HTTP/1.x response the kernel summarized (capture policy
			     * HTTP1_STATUS: no record was written for the run): its status
			     * code; 0 for every other run */
};

/*
 * HTTP/1.x response summaries. Once a connection's role is known, a run in its response
 * direction that starts with a final status line ("HTTP/1.1 200 ") writes no record: the
 * kernel reads the first 16 bytes, keeps the status in the connection's state, and the run's
 * summary (prev of the next record, the CLOSE record, or the state once it is idle) carries it.
 * That halves the records of keep-alive request/response traffic. The agent turns it on per
 * connection (capture policy HTTP1_STATUS) once a second request shows the connection is kept alive and not
 * pipelined (only the response heads tell pipelined responses apart), and off again when it
 * sees requests pipelined later. Interim (1xx) and 101 responses, and anything else, are
 * recorded in full as before.
 *
 * So that the agent learns early when a thread began a response (a server span stops being
 * its thread's current request; a client call came back), the kernel also keeps the last
 * SONDE_HTTP1_NOTES summarized response starts of each thread, and the thread's next record
 * carries them (each note once); when a thread begins more before its next record, the notes
 * go in a record of their own (SONDE_EV_NOTES).
 */
#define SONDE_HTTP1_NOTES 2

/*
 * How the kernel captures one connection: the capture policy a decoder asks for (the agent
 * writes it to the conn_policy map, loader__capture_policy; the programs fold it into
 * sonde_conn_state.policy at the connection's next run start, in either direction). Every
 * connection starts with RUNS.
 */
enum sonde_capture_policy {
	SONDE_CAPTURE_RUNS = 0,	       /* a record at the start of each run and for its first
					* run_captures I/Os (the default) */
	SONDE_CAPTURE_HTTP1_STATUS = 1, /* as RUNS, but a response run that starts with a final
					 * HTTP/1.x status line writes no record (see above) */
	SONDE_CAPTURE_EVERY_IO = 2,    /* a record for every I/O, of every run: for framed
					* protocols whose decoder must see each frame header */
	SONDE_CAPTURE_H2_FRAMES = 3,   /* HTTP/2: every I/O is walked frame by frame (below) */
	SONDE_CAPTURE_STREAM = 4,      /* a record for every I/O, with its bytes gathered from
					* every iovec entry, up to SONDE_STREAM_MAX: for protocols
					* whose clients pipeline (Redis, PostgreSQL), where a
					* decoder must see every byte to count the messages */
};

/* Payload bytes of a record under STREAM; an I/O that moves more has a tail (framing lost). */
#define SONDE_STREAM_MAX 4096

/*
 * Capture policy H2_FRAMES. HPACK is only decoded right when every header block of a connection
 * is seen, in order, in both directions, while a DATA frame matters only by its 9-byte header
 * (END_STREAM, and when). So the kernel follows the frame boundaries of both directions from
 * the connection's first byte (it takes the policy itself when a run starts with the client
 * preface), and the payload of an I/O's record is its bytes in order with the payloads of DATA,
 * PING, PRIORITY, WINDOW_UPDATE and unknown frames left out: frame headers, header blocks,
 * SETTINGS, RST_STREAM and GOAWAY remain. A frame header cut by an I/O's end continues in the
 * next record. An I/O that moves only left-out bytes writes no record unless it starts a run.
 * The record's walk fields say where the I/O started in the frame sequence, so that a decoder
 * that lost a record finds the boundaries again at the next one.
 */
#define SONDE_FRAMES_MAX 8192 /* payload bytes of a walked record; more: WALK_CUT */
enum sonde_walk_flags {
	SONDE_WALK_ON = 1,	/* the payload was walked (policy H2_FRAMES) */
	SONDE_WALK_ELIDED = 2,	/* at the I/O's start, the frame under way's payload is left out */
	SONDE_WALK_CUT = 4,	/* the record ran out of room: what it holds ends early */
	SONDE_WALK_LOST = 8,	/* the kernel could not follow this I/O (too many frames, its
				 * bytes unreadable): the boundaries are lost for good */
	SONDE_WALK_GATHER = 16, /* policy STREAM: the payload is the I/O's first bytes, gathered
				 * across its iovec entries (no frame is left out) */
};

struct sonde_http1_note {
	__u64 conn_id;	/* the connection that started a summarized response; 0: no note */
	__u64 ts_ns;	/* its first I/O */
	__u32 run_seq;	/* the run number of the response */
	__u16 status;	/* its status code */
	__u16 pad0;	/* explicit padding */
};

/*
 * Trace context the kernel gave a request (header propagation): the kernel must know a
 * request's ids before the agent reads any record, so that the calls a server makes while
 * serving it carry them on the wire at once.
 */
enum sonde_ctx_kind {
	SONDE_CTX_NONE = 0,	/* the agent picks the ids */
	SONDE_CTX_SERVER = 1,	/* a server read a request here: the ids of its server span */
	SONDE_CTX_INJECTED = 2, /* a client sent a request here carrying these ids on the wire (an
				 * injected traceparent, or the TCP option: span_id is the client
				 * span's) */
	SONDE_CTX_PEER = 3,	/* a server read a message of a protocol sonde does not give ids
				 * in the kernel, whose first segment carried the TCP option of a
				 * sonde at the other end: trace_id and parent_id (its client span) */
};

struct sonde_trace_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];   /* SERVER: the server span; INJECTED: the client span (on the wire) */
	__u8 parent_id[8]; /* SERVER: the caller's span from an incoming traceparent, or zero */
	__u8 kind;	   /* enum sonde_ctx_kind */
	__u8 flags;	   /* W3C trace-flags */
	__u8 pad[6];	   /* explicit padding */
};

/* SONDE_EV_DATA: one captured I/O. */
struct sonde_data_event {
	struct sonde_event_head head;
	struct sonde_run_summary prev; /* the run this I/O ended, when it started a new one */
	__u64 run_offset;	       /* bytes of this run before this I/O */
	__u32 run_seq;		       /* run number this I/O belongs to */
	__u32 io_bytes;		       /* bytes this I/O moved */
	__u32 cap_len;		       /* bytes of payload that follow (<= io_bytes, or when
					* walked <= SONDE_FRAMES_MAX) */
	__u32 walk_left;	       /* walked: at the I/O's start, payload bytes left of the
					* frame under way (0: a frame header starts it) */
	struct sonde_trace_ctx ctx;    /* kind NONE unless header propagation set it */
	__u64 go_g;		       /* Go programs: the goroutine (its g) that did the I/O;
					* in any other program a meaningless register value */
	__u8 walk_flags;	       /* enum sonde_walk_flags; 0: payload = the first bytes */
	__u8 walk_part;		       /* walked: at the I/O's start, bytes of a frame header the
					* last I/O ended in (they are in the last record) */
	__u8 tls;		       /* 1: the bytes are the plaintext of a TLS library's call
					* (SSL_read, SSL_write...), not the socket's */
	__u8 head_scan;		       /* enum sonde_head_scan: a request head's context search */
	__u16 ctx_len;		       /* bytes of context-line entries after the payload */
	__u8 pad1[2];		       /* explicit padding */
	/* HTTP/1.x response starts of this thread summarized since its last record, oldest
	 * first (capture policy HTTP1_STATUS). */
	struct sonde_http1_note http1_notes[SONDE_HTTP1_NOTES];
	__u8 payload[SONDE_PAYLOAD_MAX]; /* first cap_len bytes of the I/O, then ctx_len bytes of
					  * context-line entries (struct sonde_ctx_line) */
};

/* SONDE_EV_OPEN: a connection first seen by the kernel side. */
struct sonde_open_event {
	struct sonde_event_head head;
	__u64 sock_key; /* key of the connection in the kernel's conns map */
	__u8 saddr[16]; /* local address: IPv4 in the first 4 bytes, or IPv6 */
	__u8 daddr[16]; /* remote address, same encoding */
	__u16 sport;	/* local port, host order */
	__u16 dport;	/* remote port, host order */
	__u16 family;	/* AF_INET (2) or AF_INET6 (10) */
	__u16 role;	/* enum sonde_role as the kernel saw the open, or UNKNOWN */
	char comm[16];	/* task comm of the first I/O */
	__u64 open_ts_ns; /* the connect() or the accepted handshake, if the kernel saw it; else 0 */
};

/*
 * SONDE_EV_PROC: written before the first connection of a process is announced, so that a
 * process that exits before the agent reads /proc (a short-lived client) keeps its name.
 */
struct sonde_proc_event {
	struct sonde_event_head head;
	__u64 start_boottime;		 /* ns since boot: tells a reused pid apart, as /proc does */
	__u32 cmdline_len;		 /* bytes of cmdline (NUL-separated arguments) */
	__u32 environ_len;		 /* bytes of environ (NUL-separated NAME=value) */
	char comm[16];			 /* task comm */
	__u8 cmdline[SONDE_CMDLINE_MAX]; /* first bytes of the argument block */
	__u8 environ[SONDE_ENVIRON_MAX]; /* first bytes of the environment block */
};

/*
 * SONDE_EV_THREAD: a thread of a process that has done traced I/O created another thread of the
 * same process (clone with CLONE_THREAD). head.tid is the creator, head.ts_ns when; work a
 * request's thread hands to a thread it creates (a handler that starts a worker) is followed
 * through it. conn_id is 0.
 */
struct sonde_thread_event {
	struct sonde_event_head head;
	__u32 child_tid; /* the new thread */
	__u32 pad0;	 /* explicit padding */
};

/*
 * SONDE_EV_EXEC: a process started a program (an execve that succeeded), so that the agent
 * attaches the uprobes the new executable calls for before it makes its first connection. Not
 * sent for the agent itself; with a pid filter, only for the pids selected (an exec keeps the
 * pid). head.tgid is the process, head.tid the thread that called execve (the process keeps
 * its pid, whichever thread it was), head.ts_ns when; conn_id is 0, dir NONE. Its libraries are
 * mapped later, by its dynamic loader in user space.
 */
struct sonde_exec_event {
	struct sonde_event_head head;
	char comm[16]; /* the new task comm: the executable's file name, cut to 15 bytes */
};

/*
 * SONDE_EV_NOTES: a thread began a summarized response while the notes its next record would
 * carry were all taken (an event loop that answers many requests between two records of its):
 * the notes taken go on their own, oldest first, and the new one waits for the next record.
 * head.tid is the thread, head.ts_ns when; conn_id is 0.
 */
struct sonde_notes_event {
	struct sonde_event_head head;
	struct sonde_http1_note notes[SONDE_HTTP1_NOTES];
};

/*
 * SONDE_EV_GO_STREAM: grpc-go does a stream's I/O on its transport's goroutines, not on the one
 * that runs the stream's code (bpf/runtimes/grpc_go.bpf.h). One record per hand-off, so that
 * the agent puts the calls a handler makes under the request it serves:
 * - SERVE: goroutine g runs the handler of server stream `stream`, whose HEADERS the goroutine
 *   `io_g` read (0 when the connection was accepted before sonde attached), or first_g, the
 *   one that accepted the connection (its first read may hold the first requests);
 * - OPEN: goroutine io_g (the connection's writer) opens client stream `stream` for g, which
 *   asked for it; its HEADERS follow on io_g;
 * - ROLE: goroutine g starts to read a server connection, as its accepting goroutine or its
 *   reader, at head.ts_ns. A g is reused once its goroutine exits (an accepting goroutine
 *   exits as soon as it has read the preface, and the next connection's often gets its g), so
 *   a reader is known by its g and that time: io_since and first_since in SERVE.
 * head.tid is the OS thread, head.ts_ns when; conn_id is 0.
 */
enum sonde_go_stream_role {
	SONDE_GO_STREAM_SERVE = 1,
	SONDE_GO_STREAM_OPEN = 2,
	SONDE_GO_STREAM_ROLE = 3,
};

struct sonde_go_stream_event {
	struct sonde_event_head head;
	__u64 g;      /* the goroutine that runs the stream's code (its g) */
	__u64 io_g;   /* the goroutine that reads (SERVE) or writes (OPEN) it */
	__u64 first_g; /* SERVE: the connection's accepting goroutine, 0 if not known */
	__u64 io_since;	   /* SERVE: when io_g took its role (its ROLE record's time) */
	__u64 first_since; /* SERVE: when first_g took its role */
	__u32 stream; /* the HTTP/2 stream id */
	__u16 role;   /* enum sonde_go_stream_role */
	__u16 pad0;   /* explicit padding */
};

/* SONDE_EV_CLOSE: the connection went to TCP_CLOSE. */
struct sonde_close_event {
	struct sonde_event_head head;
	struct sonde_run_summary last; /* the run that was under way at close */
};

/* How the connection was opened, where the kernel saw it. */
enum sonde_role {
	SONDE_ROLE_UNKNOWN = 0,
	SONDE_ROLE_CLIENT = 1, /* connect(): active open */
	SONDE_ROLE_SERVER = 2, /* accept(): passive open */
};

/* Where one direction of an HTTP/2 connection is in its frame sequence (H2_FRAMES). */
struct sonde_frame_cursor {
	__u32 left;	/* payload bytes of the frame under way not yet moved */
	__u8 part;	/* bytes of the next frame header moved already (0..8) */
	__u8 elided;	/* the frame under way's payload is left out of records */
	__u8 lost;	/* the boundaries were lost: nothing more is walked */
	__u8 pad0;	/* explicit padding */
	__u8 hdr[8];	/* those bytes of the header */
};

/*
 * Kernel-side state of one TCP connection (map `conns`, keyed by the struct sock address). The
 * agent reads it to close a response run that no later I/O has ended (an idle keep-alive
 * connection), so it is part of the ABI.
 */
struct sonde_conn_state {
	__u64 conn_id;	    /* 0 until the first traced I/O announces the connection */
	__u64 run_first_ts; /* current run: first I/O */
	__u64 run_last_ts;  /* current run: last I/O */
	__u64 run_bytes;    /* current run: bytes so far */
	__u32 run_seq;	    /* current run number, from 1 */
	__u32 tgid;	    /* process that did the first traced I/O */
	__u16 run_dir;	    /* current run direction, enum sonde_direction */
	__u16 run_captures; /* records written for the current run (not counted under
			     * EVERY_IO, which records every I/O) */
	__u16 role;	    /* enum sonde_role from the TCP state changes, if seen */
	__u8 ignored;	    /* filtered out: count nothing, copy nothing */
	__u8 policy;	    /* enum sonde_capture_policy the agent asked for, taken at a
			     * run start (either direction) */
	__u16 run_http1_status; /* the current run is a summarized HTTP/1.x response: its status */
	__u8 tls;	    /* its bytes on the socket are TLS records: only the plaintext that
			     * the TLS library's uprobes see is recorded (bpf/tls.bpf.h) */
	__u8 head_scan;	    /* the current run's request head search goes on (head_find) */
	__u32 policy_seen;  /* the agent's conn_policy generation when last looked at */
	__u64 open_ts;	    /* when the TCP state changes showed the open (connect, SYN), or 0 */
	__u64 run_lock;	    /* TLS plaintext: held while one CPU moves the runs (capture.bpf.h's
			     * io_run); 64 bits, as BPF's atomics before v3 want */
	struct sonde_frame_cursor walk[2]; /* policy H2_FRAMES: per direction (dir - 1) */
	/* TCP-option propagation over TLS (bpf/tls.bpf.h): the ids of the option that the
	 * handshake's records came with, for the connection's first request. A client's first
	 * request whose bytes nothing came in before (its Finished went out just before) is the
	 * Finished's: the option rode on the Finished, which the server reads in its handshake. */
	__u8 tls_peer_trace[16];
	__u8 tls_peer_span[8];
	__u8 tls_peer_set;
	__u8 h2_upgrade; /* the run that ended began with an HTTP/1.1 101: the next run may
			  * start with the HTTP/2 client preface (Upgrade: h2c) */
	__u8 pad1[6];	 /* explicit padding */
};

/*
 * A capture policy the agent asks for one connection (map conn_policy, keyed by the socket's
 * address). The agent reads the records behind the kernel: by the time it asks, the
 * connection may be closed and a new one opened at the same address, which must not take the
 * ask. So it names the connection.
 */
struct sonde_policy_ask {
	__u64 conn_id;
	__u8 policy; /* enum sonde_capture_policy */
	__u8 pad0[7];
};

/* Per-CPU counters the BPF side keeps; the agent sums them for its self-metrics. */
enum sonde_counter {
	SONDE_CNT_IO = 0,	     /* socket I/O seen after filtering */
	SONDE_CNT_RECORDS = 1,	     /* records written */
	SONDE_CNT_RING_FULL = 2,     /* records lost because a ring buffer was full */
	SONDE_CNT_COPY_FAIL = 3,     /* payload copies that failed */
	SONDE_CNT_NO_USER_BUF = 4,   /* I/O without a user buffer we can read (sendfile, io_uring) */
	SONDE_CNT_CONN_NEW = 5,	     /* connections announced */
	SONDE_CNT_CONN_CLOSE = 6,    /* connections closed */
	/* Header propagation (--propagation header), server side: */
	SONDE_CNT_SERVER_IDS = 7,    /* request heads read by a server: ids assigned in the kernel */
	SONDE_CNT_SERVER_TP_IN = 8,  /* ... that carried a valid traceparent (joined its trace) */
	SONDE_CNT_SERVER_TP_BAD = 9, /* ... that carried an invalid traceparent (ignored) */
	/* Client side, one count per send that starts on an outgoing connection: */
	SONDE_CNT_INJECTED = 10,      /* traceparent injected into a request head */
	SONDE_CNT_SKIP_UNTRACED = 11, /* not injected: connection not traced (filtered, not HTTP) */
	SONDE_CNT_SKIP_NOT_START = 12, /* not injected: the send goes on with a request (body) */
	SONDE_CNT_SKIP_NOT_HTTP = 13, /* not injected: not an HTTP/1.x request line */
	SONDE_CNT_SKIP_HAS_CTX = 14,  /* not injected: traceparent or b3 already present */
	SONDE_CNT_SKIP_SPLIT = 15,    /* not injected: the head does not end in the send's first
				       * buffer segment (spans several sends or segments) */
	SONDE_CNT_SKIP_FAILED = 16,   /* not injected: the kernel refused to insert (no memory) */
	SONDE_CNT_INJECT_UNMERGED = 17, /* injected, but the head stays in several pieces (no
					 * memory to merge them): it may wait for Nagle */
	SONDE_CNT_RESP_SUMMARIZED = 18, /* HTTP/1.x responses summarized: no record written */
	SONDE_CNT_RESP_RECORDED = 19,	/* response runs of summarizing connections recorded in
					 * full (not a final status line) */
	/* TCP-option propagation (--propagation tcp): */
	SONDE_CNT_TCPOPT_RUNS = 20,	/* requests (runs) of outgoing connections given ids */
	SONDE_CNT_TCPOPT_WRITTEN = 21,	/* segments that carried the option */
	SONDE_CNT_TCPOPT_NOSPACE = 22,	/* segments that could not: no room left in the header
					 * (SACK blocks, other options), or no memory */
	SONDE_CNT_TCPOPT_PARSED = 23,	/* segments received with a sonde option */
	SONDE_CNT_TCPOPT_JOINED = 24,	/* server reads whose first byte came with an option: the
					 * server span's parent is the client span at the other end */
	/* HTTP/2 (capture policy H2_FRAMES): */
	SONDE_CNT_H2_CONNS = 25,	/* connections that started with the client preface */
	SONDE_CNT_WALK_CUT = 26,	/* walked records that ran out of room (header blocks
					 * beyond SONDE_FRAMES_MAX) */
	SONDE_CNT_WALK_LOST = 27,	/* directions whose frame boundaries the kernel lost */
	/* TLS (bpf/tls.bpf.h): */
	SONDE_CNT_TLS_CONNS = 28,	/* connections whose socket bytes were found to be TLS */
	SONDE_CNT_TLS_IO = 29,		/* TLS library reads and writes of traced connections
					 * recorded as plaintext I/O */
	SONDE_CNT_TLS_UNTIED = 30,	/* TLS library reads and writes whose socket sonde does
					 * not know (not TCP, or an SSL* never tied): not recorded */
	/* Context behind large request heads (bpf/head_find.bpf.h): */
	SONDE_CNT_HEAD_FINDS = 31,	/* request I/Os searched past their record's payload */
	/* TCP-option propagation, its safety net (bpf/tcp_option.bpf.h): */
	SONDE_CNT_TCPOPT_LOST = 32,	/* segments that carried the option and were resent (the
					 * resend goes without it) */
	SONDE_CNT_TCPOPT_PATH_OFF = 33, /* times a destination stopped getting the option: its
					 * option segments were resent far more than its others */
	SONDE_CNT_TCPOPT_BARE = 34,	/* requests sent without the option: their destination's
					 * option was off */
	SONDE_CNT_TCPOPT_MISSING = 35,	/* server requests without an option from a peer that sent
					 * one lately (stripped on the way, or turned off there) */
	SONDE_CNT_TCPOPT_UNSURE = 36,	/* requests sent without the option: their thread had read
					 * several requests (an event loop), or a TLS one, and the
					 * kernel cannot tell which one a call belongs to */
	SONDE_CNT_SKIP_UNSURE = 37,	/* not injected: the thread had read several requests (an
					 * event loop), or a TLS one, or it is a Go program's */
	SONDE_CNT_MAX = 38,
};

/*
 * Header injection: what one traceparent line adds to a request head,
 * "traceparent: 00-<32 hex>-<16 hex>-<2 hex>\r\n", and how far into a request's first send
 * the kernel looks for the end of its head (and an incoming traceparent on the server side).
 */
#define SONDE_TRACEPARENT_LINE 70
#define SONDE_HEAD_SCAN_MAX 512
/*
 * Trace context behind large request heads (bpf/head_find.bpf.h). A request head longer than
 * the payload a record carries may hold its traceparent (or B3, or uber-trace-id) past the
 * captured bytes, behind cookies and tokens. For an incoming request whose I/O holds more than
 * its record carries, the kernel reads the head on, up to SONDE_HEAD_FIND_MAX bytes into the
 * run and over the run's recorded I/Os, and copies only the lines that start with a context
 * header's name, plus the short piece of a line an I/O ends in (its name may go on in the next
 * I/O), as entries after the record's payload: each a struct sonde_ctx_line and its bytes, up
 * to SONDE_CTX_LINE_MAX of them from the line's start (the agent finds the line's end).
 */
#define SONDE_HEAD_FIND_MAX 16384
#define SONDE_CTX_LINES_MAX 512
#define SONDE_CTX_LINE_MAX 124
#define SONDE_CTX_FRAG_MAX 16
struct sonde_ctx_line {
	__u16 off; /* where the line starts in the I/O */
	__u8 len;  /* bytes that follow: up to the I/O's end or SONDE_CTX_LINE_MAX */
} __attribute__((packed));
enum sonde_head_scan {
	SONDE_HEAD_SCANNED = 1, /* the kernel searched this I/O's part of a request head */
	SONDE_HEAD_MORE = 2,	/* ... the head did not end in it: the next I/O is searched too */
	SONDE_HEAD_FULL = 4,	/* ... and found more context lines than the record had room for */
};
/*
 * TCP-option propagation: between two hosts that both run sonde, an outgoing request's first
 * segment carries the client span's ids in a TCP header option, so that the server's sonde can
 * make its server span the child of it whatever the protocol. An experimental option (RFC 6994,
 * kind 253) with a 16-bit ExID (not registered with IANA: "sn") then the 16-byte trace id and
 * the 8-byte span id: 28 bytes, which with the timestamps option (12 bytes with its padding)
 * fills the 40 bytes TCP has for options. The receiver remembers the sequence range of the
 * segments that carried each context (SONDE_TCP_RX_SLOTS of them) and gives a read the one
 * whose range holds its first byte.
 */
#define SONDE_TCPOPT_KIND 253
#define SONDE_TCPOPT_EXID 0x736e
#define SONDE_TCPOPT_LEN 28
#define SONDE_TCP_RX_SLOTS 4

/*
 * An IPv4 or IPv6 address, IPv4 as ::ffff:a.b.c.d: the key of the TCP-option maps that are by
 * destination or peer.
 */
struct sonde_addr {
	__u8 a[16];
};

/* An outgoing connection's current request (a run of bytes sent after bytes were received). */
struct sonde_tcp_tx {
	__u64 owner;	     /* pid_tgid that connected, then the last one that started a
			      * request: the thread whose request a softirq transmit serves */
	__u64 rcv_mark;	     /* bytes_received when the ids were decided: more received since
			      * means the next bytes sent start a new request */
	__u32 start_seq;     /* sequence number of the request's first byte */
	__u8 decided;	     /* ids below are valid for the request starting at start_seq */
	__u8 bare;	     /* this request goes without the option: TCPOPT_BARE_OFF, its
			      * destination's is off; TCPOPT_BARE_UNSURE, whose request it is
			      * is not known (its record takes no ids either) */
	__u8 opt_out;	     /* opt_seq is a segment that carried it and was not resent yet */
	__u8 no_opt;	     /* never the option: TLS whose plaintext records cannot take the
			      * ids (written outside a library call, or by Go) */
	__u8 trace_id[16];   /* the trace of the request the owner serves, or a new one */
	__u8 span_id[8];     /* the client span's id: the parent the server's sonde takes */
	__u32 opt_seq;	     /* first sequence number of the last segment that carried it */
	__u32 segs_mark;     /* data segments sent when last added to the destination's tally */
	struct sonde_addr dest; /* the destination (tcpopt_paths' key) */
};

/* A destination range that gets the option (--tcp-option-to): a BPF_MAP_TYPE_LPM_TRIE key. */
struct sonde_cidr_key {
	__u32 prefixlen; /* of the 128 bits of addr (IPv4 ranges: 96 + their length) */
	struct sonde_addr addr;
};

/*
 * The safety net's tally for one destination, over the traced connections to it: segments
 * with the option and how many of them were resent, against the rest. Halved as it grows, so
 * it follows the path's recent behaviour.
 */
struct sonde_tcp_path {
	__u32 opt_sent;	  /* segments that carried the option */
	__u32 opt_lost;	  /* ... and were resent */
	__u32 segs;	  /* data segments of all kinds */
	__u32 lost;	  /* resends of segments without the option */
	__u64 off_until;  /* CLOCK_MONOTONIC ns: no option to this destination before then */
	__u32 offs;	  /* times it was turned off */
	__u32 pad;	  /* explicit padding */
};
#define TCPOPT_BARE_OFF 1
#define TCPOPT_BARE_UNSURE 2
#define SONDE_TCPOPT_LOST_MIN 3	 /* resent option segments before a destination can go off */
#define SONDE_TCPOPT_LOST_RATIO 4 /* ... and their loss rate this many times the others' */
#define SONDE_TCPOPT_TALLY_MAX 256 /* option segments at which the tally halves */
#define SONDE_TCPOPT_PATHS 4096	 /* destinations tallied at once (LRU) */
#define SONDE_TCPOPT_PEERS 4096	 /* peers remembered as sending the option (LRU) */
#define SONDE_TCPOPT_DESTS 64	 /* --tcp-option-to ranges */
#define SONDE_PROP_SKIP 4096	 /* processes whose sends carry no context from the kernel (Go) */
#define SONDE_TCPOPT_PEER_TTL_NS (600ULL * 1000000000ULL) /* a peer sent one this recently */

/* One context received: the sequence range of the segments that carried it. */
struct sonde_tcp_rx_slot {
	__u32 seq;	   /* first sequence number covered */
	__u32 end;	   /* one past the last */
	__u8 trace_id[16];
	__u8 span_id[8];   /* the client span at the other end */
};

struct sonde_tcp_rx {
	struct sonde_tcp_rx_slot slot[SONDE_TCP_RX_SLOTS];
	__u32 next; /* slot the next new context takes */
	__u32 pad;  /* explicit padding */
};

/* Threads whose current request (server side) or current send (client side) is remembered. */
#define SONDE_MAX_THREADS 16384
/* Outgoing connections in the injection sockhash at once. */
#define SONDE_MAX_OUT_SOCKS 65536

#endif /* SONDE_EVENT_H */
