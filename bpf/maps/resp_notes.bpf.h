/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `resp_notes`: each thread's summarized HTTP/1.x response starts not yet reported (see
 * SONDE_HTTP1_NOTES in sonde_event.h), for the syscall fallback.
 */
#ifndef SONDE_MAPS_RESP_NOTES_BPF_H
#define SONDE_MAPS_RESP_NOTES_BPF_H

/* A thread's summarized response starts since its last record. */
struct sonde_thread_notes {
	struct sonde_http1_note n[SONDE_HTTP1_NOTES]; /* oldest first; conn_id 0: empty */
};

/*
 * pid_tgid → struct sonde_thread_notes. Written by the socket I/O programs when a thread starts
 * a summarized response; the thread's next data record takes the notes and empties the slots.
 * LRU: the notes of threads that died age out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct sonde_thread_notes);
} resp_notes SEC(".maps");

#endif
