/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps of HTTP/1.x response summaries (see SONDE_HTTP1_NOTES in sonde_event.h): which
 * connections the agent wants full response records of, and each thread's summarized response
 * starts not yet reported.
 */
#ifndef SONDE_MAPS_RESPONSES_BPF_H
#define SONDE_MAPS_RESPONSES_BPF_H

/*
 * struct sock address → enum sonde_capture_policy: how the agent wants the connection's responses
 * from now on. Written by the agent (a separate map: the conns entry's run counters belong to
 * the programs); read, folded into the connection's state and deleted by the socket I/O
 * programs at the next response run after the agent bumped conn_policy_gen (so that a response
 * run looks here only when something was written since the connection last looked), deleted
 * at the open and the close of a connection too.
 * Plain hash: entries live from an agent's write to the connection's next response.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} conn_policy SEC(".maps");

/* A thread's summarized response starts since its last record. */
struct sonde_thread_notes {
	struct sonde_http1_note n[SONDE_HTTP1_NOTES]; /* oldest first; conn_id 0: empty */
};

/*
 * pid_tgid → struct sonde_thread_notes, for the syscall fallback. Written by the socket I/O
 * programs when a thread starts a summarized response; the thread's next data record takes the
 * notes and empties the slots. LRU: the notes of threads that died age out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_thread_notes);
} resp_notes SEC(".maps");

/*
 * The same notes in the thread's own task storage, when both directions are on the socket
 * tracepoints (6.3+; task storage for tracing programs is 5.11+; task_notes): found from the
 * task without hashing a key, and gone with the thread. The agent creates it only where the
 * kernel has the map type; only programs of the socket tracepoints refer to it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sonde_thread_notes);
} resp_notes_task SEC(".maps");

#endif
