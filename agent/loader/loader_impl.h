/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the loader's files share and its callers do not see: struct loader, and each file's
 * entry points. probes.c holds the probe table and what this kernel allows, selftest.c the
 * start-up self-tests of the propagation modes, rings.c the ring buffers and the time-ordered
 * batch, uprobes.c the uprobe table, loader.c the start (open, configure, load, attach) and
 * the rest of loader.h.
 */
#ifndef SONDE_LOADER_IMPL_H
#define SONDE_LOADER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "sonde.skel.h"

struct uprobes;

/* Rows the probe table may hold, and so links the rows may make (two programs a row at most). */
#define PROBES_MAX 16
#define PROBE_MAX_PROGS 2
#define LINKS_MAX (PROBES_MAX * PROBE_MAX_PROGS + 4)

/* The probe table's verdict for this kernel and --hooks: which rows load. */
struct probe_plan {
	bool chosen[PROBES_MAX]; /* per row of the table */
	size_t missing;		 /* a required capability no row provides: its first row */
};

/* One poll's copy of the rings, in time order (rings.c). */
struct ring_batch {
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct batch_rec *recs;
	size_t n_recs, recs_cap;
	size_t next_rec; /* records before this one were delivered; the rest wait for room */
	size_t n_ready;	 /* records [0, n_ready) are older than the drain: they may be delivered */
	/* Records of the last batch newer than its drain, kept for the next one (see poll). */
	uint8_t *carry;
	size_t carry_len, carry_cap;
	struct batch_rec *recs_tmp; /* merge space, recs_cap long */
	size_t *runs;		    /* run starts for the merge, recs_cap + 1 long */
};

struct loader {
	struct sonde_bpf *skel;
	struct bpf_link *links[LINKS_MAX];
	const struct bpf_program *link_progs[LINKS_MAX]; /* what each link attached */
	int n_links;
	struct ring_buffer *rb;
	int *ring_fds;
	int n_rings;
	int n_cpus;
	loader_event_cb cb;
	void *cb_ctx;
	loader_exec_cb exec_cb; /* EXEC records, as the rings are read */
	void *exec_ctx;
	struct ring_batch batch;
	char hooks[256];
	/* Header propagation: the sk_msg program attached to out_socks, and what is active. */
	int sk_msg_prog_fd, out_socks_fd;
	char propagation[160];
	struct uprobes *uprobes; /* the uprobe table's files (uprobes.c) */
	struct ulinks *ulinks;	 /* their links, and the threads that remove them (ulinks.c) */
	uint64_t attaching;	 /* the file uprobe_attach is on (ulinks__file_id) */
	struct uprobe_target *uprobe_rows; /* the rows in use (uprobe_rows_chosen) */
	size_t n_uprobe_rows;
	/* Unit tests only (loader__new_for_test): what a drain reads instead of the rings. */
	int (*consume)(struct loader *ld, void *arg);
	void *consume_arg;
};

/* probes.c: the probe table, what this kernel allows, errors a user can act on. */
int probes__plan(const struct btf *btf, struct bpf_object *obj, enum sonde_hooks mode,
		 struct probe_plan *plan);
void probes__explain_missing(const struct probe_plan *plan, enum sonde_hooks mode);
bool probes__capture_on_socket_hooks(const struct probe_plan *plan);
void probes__set_autoload(struct sonde_bpf *skel, const struct probe_plan *plan);
int probes__attach(struct loader *ld, const struct probe_plan *plan);
/* Say why a step failed in words a user can act on (missing privileges, sonde --check). */
void loader_explain_failure(const char *what, int err);

/* selftest.c: the propagation modes' start-up self-tests; 0, or -errno with why. */
int selftest__header(char *why, size_t len, const char **note);
int selftest__tcp_option(char *why, size_t len);
/* The cgroup v2 hierarchy's mount point (sockops attaches to its root). */
int cgroup2_root(char *path, size_t len);

/* rings.c: one ring per CPU, created before load, read after it. */
int rings__create(struct loader *ld, uint32_t ring_bytes);
int rings__open(struct loader *ld);
void rings__free(struct loader *ld);

/* loader.c: libbpf says nothing while an optional attach sonde reports itself is tried. */
void loader_quiet_libbpf(bool quiet);

#endif /* SONDE_LOADER_IMPL_H */
