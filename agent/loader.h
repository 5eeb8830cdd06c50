/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loading sonde's BPF programs: what this kernel allows (the capability check), the one probe
 * table that picks a hook per capability, the per-CPU ring buffers, the uprobe table, and clean
 * detachment. The implementation is agent/loader/.
 */
#ifndef SONDE_LOADER_H
#define SONDE_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "sonde_event.h"

struct loader;

/* Called for every record, in timestamp order within one poll; not for EXEC records. */
typedef void (*loader_event_cb)(void *ctx, const void *rec, size_t size);
/*
 * Called for each EXEC record (a program started) as the rings are read: not in time order,
 * never in a poll's batch, so that program starts neither wait for the batch nor count as
 * traffic (loader__poll's count, the quiet agent's drains).
 */
typedef void (*loader_exec_cb)(void *ctx, const struct sonde_exec_event *ev);
void loader__set_exec_cb(struct loader *ld, loader_exec_cb cb, void *ctx);

/*
 * Print what this kernel allows and which hooks sonde would use with this --hooks setting;
 * returns 0 when sonde can run.
 */
int loader__check(FILE *out, enum sonde_hooks hooks);

/* Open, configure, load and attach; NULL with errno set and a message printed on failure. */
struct loader *loader__start(const struct sonde_config *cfg, loader_event_cb cb, void *ctx);
/* One fd that becomes readable when a ring asks to be drained (they rarely do: poll on a timer). */
int loader__epoll_fd(const struct loader *ld);
/*
 * Deliver at most budget records, oldest first; returns how many, or -errno. The rings are
 * drained (into a sorted batch) only once every record of the last drain was delivered: a
 * consumer without room holds records back, and the rings, not its queue, take the backlog.
 * Records stamped after a drain started wait for the next drain (another ring may still hold
 * older ones); all: deliver those too, and drain without that wait (shutdown).
 */
int loader__poll(struct loader *ld, size_t budget, bool all);
/* Records drained and ready, not yet delivered. */
size_t loader__pending(const struct loader *ld);
/*
 * For the unit tests of a drain's rules (time order across rings, the drain's edge, the
 * budget), without BPF: a loader whose drains call consume() where they would read the rings.
 * consume() hands records over with loader__test_record(), as the rings would, ring after ring;
 * it runs after the drain noted its start time (CLOCK_MONOTONIC), so it can stamp records
 * written "meanwhile". Freed with loader__stop().
 */
struct loader *loader__new_for_test(loader_event_cb cb, void *ctx,
				    int (*consume)(struct loader *ld, void *arg), void *arg);
int loader__test_record(struct loader *ld, const void *rec, size_t size);

/* Records the last drain took from the rings but keeps for the next one: stamped after it
 * started, they wait for older records other rings may still hold. */
size_t loader__carried(const struct loader *ld);

/* The agent polls rarely (true) or again at its period (false): while quiet, the next record
 * the programs write wakes the loop, and clears the flag itself. */
void loader__set_quiet(struct loader *ld, bool quiet);

/* The per-CPU ring buffers' map fds; returns how many. */
int loader__rings(const struct loader *ld, const int **fds);
/* Read one connection's kernel state; 0, or -ENOENT when the kernel no longer has it. */
int loader__conn_state(struct loader *ld, uint64_t sock_key, struct sonde_conn_state *out);
/*
 * Stop copying and recording a connection: a map lookup per I/O is all it costs after this.
 * Only while sock_key is still connection conn_id: -ESTALE when a later connection has the
 * socket's address (the agent reads the records behind the kernel), which is left alone.
 */
int loader__ignore_conn(struct loader *ld, uint64_t sock_key, uint64_t conn_id);
/*
 * How the kernel captures a connection from its next run start on, in either direction (enum
 * sonde_capture_policy: RUNS, HTTP1_STATUS, EVERY_IO); HTTP1_STATUS is a no-op with
 * --http-responses full. Fails only when conn_policy is full (the connection keeps its policy).
 * The entry names conn_id: a later connection at the same socket address never takes it.
 */
int loader__capture_policy(struct loader *ld, uint64_t sock_key, uint64_t conn_id, uint8_t mode);
/* One record of a poll, in the poll's copy of the rings. */
struct batch_rec {
	uint64_t ts;
	uint32_t off;
	uint32_t size;
	uint32_t order; /* arrival order: ties keep it */
};

/*
 * Sort a poll's records by time, stably. They come ring after ring, each ring nearly in order
 * already: a natural merge of the ordered runs costs about one pass. tmp (n long) and runs
 * (n + 1 long) are scratch; without them, or with little order in the input, it falls back to
 * qsort.
 */
void loader__sort_batch(struct batch_rec *recs, size_t n, struct batch_rec *tmp, size_t *runs);
/* A row of the uprobe table that failed on a process's file, for a note. */
struct loader_uprobe_note {
	const char *target; /* the row ("go-net/http") */
	const char *lost;   /* what the process loses without it */
	const char *hint;   /* the likely cause when a symbol is missing (-ENOENT) */
	char file[64];	    /* the executable's or the library's file name */
	int err;	    /* the attach's -errno */
};
/*
 * A process sonde may trace was seen (its first connection) or started a program (an EXEC
 * record): attach the uprobe table's rows (agent/loader/uprobes.c) that match its executable or
 * the libraries it maps, each file once (by inode, pid -1: every process of the file has them;
 * a file that failed is not tried again, and reports the same failure). Returns how many rows
 * failed on its files (notes gets the first max), 0 when none did or none matched, -ESRCH when
 * the process is gone.
 */
int loader__attach_uprobes(struct loader *ld, uint32_t pid, struct loader_uprobe_note *notes,
			   int max);
/* Detach the uprobes of files whose known processes are all gone (periodic). */
void loader__sweep_uprobes(struct loader *ld);
/* Per row of the uprobe table, files since the start. */
struct loader_uprobe_stats {
	const char *target; /* the row ("go-net/http") */
	uint64_t attached;  /* files it was attached to */
	uint64_t failed;    /* files it could not be attached to (missing symbols) */
	uint64_t detached;  /* files detached again: their processes were gone */
	uint64_t active;    /* files attached now */
};
/* Fills up to max rows; returns the number of rows. */
int loader__uprobe_stats(struct loader *ld, struct loader_uprobe_stats *out, int max);
/* Sum the BPF-side counters over CPUs. */
void loader__counters(struct loader *ld, uint64_t out[SONDE_CNT_MAX]);
/* A destination whose TCP option is off now (the safety net, bpf/tcp_option.bpf.h). */
struct loader_tcpopt_path {
	uint8_t addr[16];      /* IPv4 mapped */
	uint64_t off_until_ns; /* CLOCK_MONOTONIC: off until then */
	uint32_t offs;	       /* times it was turned off */
};
/*
 * The destinations the TCP-option safety net tallies (*tallied) and those whose option is off
 * at now_ns (the first max of them in out); returns how many are off. 0 without --propagation
 * tcp.
 */
int loader__tcpopt_paths(struct loader *ld, uint64_t now_ns, struct loader_tcpopt_path *out,
			 int max, uint64_t *tallied);
/* Add or remove a traced pid (when selecting by pid or executable). */
int loader__set_pid(struct loader *ld, uint32_t pid, bool on);
/* Names of the attached hooks, for the start-up line. */
const char *loader__hooks(const struct loader *ld);
/* The propagation modes active ("link,header", "off", "link (header refused)"). */
const char *loader__propagation(const struct loader *ld);
/* Detach everything and free; nothing stays attached or pinned. */
void loader__stop(struct loader *ld);

#endif /* SONDE_LOADER_H */
