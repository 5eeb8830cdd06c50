/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map `resp_notes_task`: the notes of resp_notes in the thread's own task storage, when both
 * directions are on the socket tracepoints (6.3+; task storage for tracing programs is 5.11+;
 * setting task_notes): found from the task without hashing a key, and gone with the thread.
 */
#ifndef SONDE_MAPS_RESP_NOTES_TASK_BPF_H
#define SONDE_MAPS_RESP_NOTES_TASK_BPF_H

#include "maps/resp_notes.bpf.h" /* struct sonde_thread_notes */

/*
 * task → struct sonde_thread_notes. Created and written by the socket tracepoints when a
 * thread starts a summarized response, emptied by its next data record; the kernel deletes it
 * with the task. The agent creates the map only where the kernel has the map type; only
 * programs of the socket tracepoints refer to it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sonde_thread_notes);
} resp_notes_task SEC(".maps");

#endif
