/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The links of the uprobe table's programs, and their detach off the agent's loop.
 *
 * Removing a uprobe waits for the kernel's RCU grace periods: about 100 ms per perf-event uprobe
 * link on this machine, one after the other, since the kernel removes those under one global
 * mutex (a grpc-go program's 40 links took 4.2 s, idle or loaded). A uprobe_multi link (Linux
 * 6.6+) carries several offsets of one file, and several such links are removed in parallel: the
 * same 40, one offset each, closed by 40 threads, took 84 ms. So the links are uprobe_multi ones
 * where the kernel has them (perf-event ones elsewhere), and a detach is queued to a few threads
 * of this module: the loop never waits for a grace period, and the agent's exit waits for one
 * or two.
 */
#ifndef SONDE_ULINKS_H
#define SONDE_ULINKS_H

#include <stdbool.h>
#include <stdint.h>

struct bpf_object;
struct bpf_program;
struct ulinks;

/* Does this kernel create uprobe_multi links? Asked once, with a program of its own. */
bool ulinks__multi_supported(void);

/* Before the object loads: its uprobe programs load as uprobe_multi ones (or as before). */
void ulinks__prepare(struct bpf_object *obj, bool multi);

struct ulinks *ulinks__new(bool multi);
/* Drains what is queued (in parallel), then frees. */
void ulinks__free(struct ulinks *u);
/* Are its links uprobe_multi ones (else perf-event ones)? */
bool ulinks__multi(const struct ulinks *u);

/*
 * prog at the cnt file offsets offs of path, each with its cookie (cookies may be NULL: 0), as
 * an entry probe or (ret) a uretprobe, for every process. The links go to links[*n..], at most
 * max in all: one for the lot (uprobe_multi) or one per offset. file: the file's identity, not
 * 0 (ulinks__file_id). 0, or -errno with nothing added.
 */
int ulinks__attach(struct ulinks *u, const struct bpf_program *prog, const char *path,
		   uint64_t file, const uint64_t *offs, const uint64_t *cookies, int cnt, bool ret,
		   void **links, int *n, int max);
/* Queue link's removal; it is done off the caller's thread. */
void ulinks__detach(struct ulinks *u, void *link);
/* Wait until no link on file is queued or being removed: a file attached again while its old
 * links go would run its programs twice. Other files' removals do not hold it up. */
void ulinks__settle(struct ulinks *u, uint64_t file);
/* A file's identity for the two calls above, from an open descriptor of it: 0 if unknown. */
uint64_t ulinks__file_id(int fd);

#endif /* SONDE_ULINKS_H */
