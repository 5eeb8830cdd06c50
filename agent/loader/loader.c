// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The BPF side's keeper. loader__start reads as every libbpf tool does: open the object, let the
 * probe table decide which programs this kernel loads, configure them through their read-only
 * globals, load, fill the maps, attach; one cleanup path. The rest of loader.h (the maps the
 * agent reads and writes while running, and the detach) follows it.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>

#include "loader_impl.h"
#include "runtime.h"
#include "insn.h"
#include "seams.h"
#include "ulinks.h"
#include "uprobes.h"

static bool verbose_libbpf;
/* While trying an optional attach whose failure sonde reports itself (the Go uprobes). */
static bool quiet_libbpf;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (quiet_libbpf && !verbose_libbpf)
		return 0;
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	if (level == LIBBPF_INFO && !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

void loader_quiet_libbpf(bool quiet)
{
	quiet_libbpf = quiet;
}

/* The programs of the uprobe table's rows load always: they attach as processes are seen. */
static void uprobes_set_autoload(struct sonde_bpf *skel)
{
	struct bpf_program *p;
	size_t row;
	int i;

	for (row = 0; row < uprobe_table_len; row++)
		for (i = 0; i < UPROBE_MAX_SYMS && uprobe_table[row].syms[i].symbol; i++) {
			const struct uprobe_sym *sym = &uprobe_table[row].syms[i];

			p = sym->entry ? bpf_object__find_program_by_name(skel->obj, sym->entry)
				       : NULL;
			if (p)
				bpf_program__set_autoload(p, true);
			p = sym->ret ? bpf_object__find_program_by_name(skel->obj, sym->ret) : NULL;
			if (p)
				bpf_program__set_autoload(p, true);
		}
}

/*
 * Set a one-byte global of the BPF object's .bss, found by name in its BTF: a row's flag tells
 * the programs that use its maps that it is attached somewhere (go_uprobes).
 */
static void set_bss_flag(struct loader *ld, const char *name)
{
	const struct btf *btf = bpf_object__btf(ld->skel->obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	int id, i;

	id = btf ? btf__find_by_name_kind(btf, ".bss", BTF_KIND_DATASEC) : -1;
	if (id < 0)
		return;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		uint8_t *flag = (uint8_t *)ld->skel->bss + vs->offset;

		if (!strcmp(btf__name_by_offset(btf, var->name_off), name) && vs->size == 1) {
			__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
			return;
		}
	}
}

/* What the propagation modes come to: which ones pass their checks and load. */
struct propagation_plan {
	bool header; /* --propagation header, and its self-test passed */
	bool tcp;    /* --propagation tcp, and its self-test passed */
};

/*
 * Header and TCP-option propagation: only with the socket tracepoints (the sk_msg verdict and
 * the socket storage reach the record through sock_send_length and sock_recv_length), and only
 * where their self-tests pass. A refusal is a warning: tracing goes on without the mode.
 */
static void propagation_decide(const struct sonde_config *cfg, bool socket_hooks,
			       struct propagation_plan *pp)
{
	const char *note;
	char why[256];

	pp->header = pp->tcp = false;
	snprintf(why, sizeof(why), "it needs the socket tracepoints (kernel 6.3+), not the syscall "
				   "fallback");
	if (cfg->propagation & PROPAGATION_HEADER) {
		pp->header = socket_hooks && !selftest__header(why, sizeof(why), &note);
		if (!pp->header)
			fprintf(stderr, "sonde: warning: header injection refused: %s; tracing goes on "
					"without it (sonde --check tells more)\n", why);
	}
	snprintf(why, sizeof(why), "it needs the socket tracepoints (kernel 6.3+), not the syscall "
				   "fallback");
	if (cfg->propagation & PROPAGATION_TCP) {
		pp->tcp = socket_hooks && !selftest__tcp_option(why, sizeof(why));
		if (!pp->tcp)
			fprintf(stderr, "sonde: warning: TCP-option propagation refused: %s; tracing "
					"goes on without it (sonde --check tells more)\n", why);
	}
}

/* What the propagation modes load; without them, nothing of theirs loads and their maps shrink. */
static void configure_propagation(struct sonde_bpf *skel, const struct sonde_config *cfg,
				  const struct propagation_plan *pp)
{
	if (pp->header) {
		skel->rodata->header_mode = 1;
		bpf_program__set_autoload(skel->progs.sonde_inject, true);
		bpf_program__set_autoload(skel->progs.sonde_sockops, true);
	} else {
		bpf_map__set_max_entries(skel->maps.sending, 1);
		bpf_map__set_max_entries(skel->maps.out_socks, 1);
	}
	if (pp->tcp) {
		skel->rodata->tcp_mode = 1;
		skel->rodata->tcpopt_dest_filter = !cfg->tcpopt_to_all;
		skel->rodata->tcpopt_hold_ns = cfg->tcpopt_hold_s * 1000000000ULL;
		bpf_program__set_autoload(skel->progs.sonde_tcpopt, true);
	} else {
		bpf_map__set_max_entries(skel->maps.tcpopt_paths, 1);
		bpf_map__set_max_entries(skel->maps.tcpopt_peers, 1);
		bpf_map__set_max_entries(skel->maps.tcpopt_dests, 1);
	}
	if (!pp->header && !pp->tcp) {
		bpf_map__set_max_entries(skel->maps.serving, 1);
		bpf_map__set_max_entries(skel->maps.prop_skip, 1);
	}
}

/*
 * Configure between open and load: the programs that load (the probe table's rows, the
 * propagation modes', the uprobe table's, attached to files as processes are seen), the
 * read-only globals, the maps' sizes and the rings.
 */
static int loader_configure(struct loader *ld, const struct sonde_config *cfg,
			    const struct probe_plan *plan, const struct propagation_plan *pp)
{
	struct sonde_bpf *skel = ld->skel;
	bool socket_hooks = probes__capture_on_socket_hooks(plan), task_storage;
	struct bpf_program *p;

	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, false);
	probes__set_autoload(skel, plan);
	uprobes_set_autoload(skel);
	configure_propagation(skel, cfg, pp);
	/*
	 * A thread's response notes: in its task storage when both directions are on the socket
	 * tracepoints, else in a hash both directions share. The task storage map is created
	 * wherever the kernel has the type (every kernel with the socket tracepoints does: their
	 * programs refer to it even when they use the hash); the hash shrinks when unused.
	 */
	task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1;
	bpf_map__set_autocreate(skel->maps.resp_notes_task, task_storage);
	skel->rodata->task_notes = socket_hooks && task_storage;
	if (socket_hooks && task_storage)
		bpf_map__set_max_entries(skel->maps.resp_notes, 1);

	skel->rodata->self_tgid = getpid();
	skel->rodata->http1_summaries = !cfg->http_full_responses;
	skel->rodata->capture_bytes = cfg->capture_bytes;
	skel->rodata->run_captures = cfg->run_captures;
	skel->rodata->sample_threshold = cfg->sample_threshold;
	/* --exe is decided in the agent (process_table__selected): names need /proc */
	skel->rodata->filter_pids = cfg->n_pids > 0;
	skel->rodata->filter_ports = cfg->n_ports > 0;
	skel->rodata->wakeup_bytes = cfg->ring_bytes / 4;
	return rings__create(ld, cfg->ring_bytes);
}

/* After load: the filters the flags name. */
static int loader_fill_filters(struct loader *ld, const struct sonde_config *cfg)
{
	uint8_t one = 1;
	int j, err;

	for (j = 0; j < cfg->n_pids; j++) {
		err = loader__set_pid(ld, cfg->pids[j], true);
		if (err)
			return err;
	}
	for (j = 0; j < cfg->n_ports; j++)
		if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.port_filter), &cfg->ports[j], &one,
					BPF_ANY))
			return -errno;
	if (!ld->skel->rodata->tcpopt_dest_filter)
		return 0;
	for (j = 0; j < cfg->n_tcpopt_to; j++) {
		struct sonde_cidr_key key = {.prefixlen = cfg->tcpopt_to[j].prefix};

		memcpy(key.addr.a, cfg->tcpopt_to[j].addr, sizeof(key.addr.a));
		if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.tcpopt_dests), &key, &one,
					BPF_ANY))
			return -errno;
	}
	return 0;
}

/* A sockops program on the cgroup v2 root; its link is kept with the others. */
static int attach_sockops(struct loader *ld, struct bpf_program *sockops, const char *label,
			  char *why, size_t len)
{
	char cg[256];
	int fd, err;

	err = cgroup2_root(cg, sizeof(cg));
	if (err) {
		snprintf(why, len, "no cgroup v2 hierarchy mounted (sockops attaches to its root)");
		return err;
	}
	fd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "cannot open %s: %s", cg, strerror(-err));
		return err;
	}
	if (ld->n_links >= LINKS_MAX) {
		close(fd);
		snprintf(why, len, "too many links");
		return -E2BIG;
	}
	ld->links[ld->n_links] = bpf_program__attach_cgroup(sockops, fd);
	err = ld->links[ld->n_links] ? 0 : -errno;
	close(fd);
	if (err) {
		snprintf(why, len, "cannot attach sockops to %s: %s", cg, strerror(-err));
		return err;
	}
	ld->link_progs[ld->n_links++] = sockops;
	snprintf(ld->hooks + strlen(ld->hooks), sizeof(ld->hooks) - strlen(ld->hooks),
		 " sockops(%s)%s", cg, label);
	return 0;
}

/*
 * Header injection on: the sk_msg program on the sockhash, then sockops on the cgroup v2 root
 * (from then on new outgoing connections join the map). Both go when sonde's fds close, however
 * it ends: the cgroup attachment is a link, the sk_msg one lives in a map nothing pins.
 */
static int attach_header(struct loader *ld, char *why, size_t len)
{
	int err;

	ld->out_socks_fd = bpf_map__fd(ld->skel->maps.out_socks);
	if (bpf_prog_attach(bpf_program__fd(ld->skel->progs.sonde_inject), ld->out_socks_fd,
			    BPF_SK_MSG_VERDICT, 0)) {
		err = -errno;
		snprintf(why, len, "cannot attach sk_msg: %s", strerror(-err));
		return err;
	}
	ld->sk_msg_prog_fd = bpf_program__fd(ld->skel->progs.sonde_inject);
	return attach_sockops(ld, ld->skel->progs.sonde_sockops, "+sk_msg", why, len);
}

/* The start line's propagation: "link,header", or "link (tcp refused)" for one asked for. */
static void propagation_says(struct loader *ld, const char *mode, bool on, bool asked)
{
	size_t n = strlen(ld->propagation);

	if (on)
		snprintf(ld->propagation + n, sizeof(ld->propagation) - n, "%s%s", n ? "," : "",
			 mode);
	else if (asked)
		snprintf(ld->propagation + n, sizeof(ld->propagation) - n, "%s(%s refused)",
			 n ? " " : "", mode);
}

/*
 * Attach the propagation modes that passed; one that fails to attach now is refused as its
 * self-test would have been. Then the start line's words for them.
 */
static void attach_propagation(struct loader *ld, const struct sonde_config *cfg,
			       struct propagation_plan *pp)
{
	char why[256];

	if (pp->header && attach_header(ld, why, sizeof(why))) {
		/* Nothing of the client side runs; the server ids still go to the agent. */
		fprintf(stderr, "sonde: warning: header injection refused: %s; tracing goes on "
				"without it\n", why);
		pp->header = false;
	}
	if (pp->tcp &&
	    attach_sockops(ld, ld->skel->progs.sonde_tcpopt, "+tcp-option", why, sizeof(why))) {
		/* The send and receive programs find no socket storage: they do nothing. */
		fprintf(stderr, "sonde: warning: TCP-option propagation refused: %s; tracing goes on "
				"without it\n", why);
		pp->tcp = false;
	}
	snprintf(ld->propagation, sizeof(ld->propagation), "%s",
		 !cfg->propagation ? "off" : cfg->propagation & PROPAGATION_LINK ? "link" : "");
	/* the modes that work, then those refused */
	propagation_says(ld, "header", pp->header, false);
	propagation_says(ld, "tcp", pp->tcp, false);
	propagation_says(ld, "header", false, !pp->header && (cfg->propagation & PROPAGATION_HEADER));
	propagation_says(ld, "tcp", false, !pp->tcp && (cfg->propagation & PROPAGATION_TCP));
}

/* A program, by name, at cnt file offsets of path (ulinks.h): 0 or -errno, links added to links. */
static int attach_at(struct loader *ld, const char *prog, const char *path, const uint64_t *offs,
		     const uint64_t *cookies, int cnt, bool ret, void **links, int *n)
{
	struct bpf_program *p = bpf_object__find_program_by_name(ld->skel->obj, prog);

	if (!p)
		return -ENOENT;
	return ulinks__attach(ld->ulinks, p, path, ld->attaching, offs, cookies, cnt, ret, links,
			      n, UPROBE_MAX_LINKS);
}

#if defined(__x86_64__)
#define HOST_INSN INSN_X86_64
#elif defined(__aarch64__)
#define HOST_INSN INSN_ARM64
#else
#define HOST_INSN 0 /* the decoders know no other: no return or call is found */
#endif

/* The size bytes of the function at file offset off of fd, malloc'd; NULL and errno set when
 * they cannot be read (ENOEXEC: no size, or a size no function has). */
static uint8_t *read_function(int fd, uint64_t off, uint64_t size)
{
	uint8_t *code;

	if (!size || size > (1u << 20)) {
		errno = ENOEXEC;
		return NULL;
	}
	code = malloc(size);
	if (!code)
		return NULL;
	if (pread(fd, code, size, (off_t)off) != (ssize_t)size) {
		free(code);
		errno = ENOEXEC;
		return NULL;
	}
	return code;
}

/*
 * Where the function of size bytes at off in the file fd returns: its return instructions'
 * offsets in the file, in rets (UPROBE_MAX_RETS), their count; -ENOEXEC when its code could
 * not be read or decoded to the end.
 */
static int function_returns(int fd, uint64_t off, uint64_t size, uint64_t *rets)
{
	uint32_t at[UPROBE_MAX_RETS];
	uint8_t *code = read_function(fd, off, size);
	int n, i;

	if (!code)
		return -errno;
	n = insn_returns(HOST_INSN, code, size, at, UPROBE_MAX_RETS);
	free(code);
	if (n <= 0)
		return -ENOEXEC;
	for (i = 0; i < n; i++)
		rets[i] = off + at[i];
	return n;
}

/*
 * The links of one symbol of t at file offset off (size bytes): entry, and return(s); the entry
 * and a uretprobe go at site (plan_sites).
 */
static int attach_sym(struct loader *ld, const struct uprobe_target *t, const struct uprobe_sym *s,
		      const char *path, int fd, uint64_t off, uint64_t size, uint64_t site,
		      uint64_t cookie, void **links, int *n)
{
	uint64_t rets[UPROBE_MAX_RETS];
	int n_rets = 0, err;

	if (s->ret && t->ret_insns) {
		n_rets = function_returns(fd, off, size, rets);
		if (n_rets < 0)
			return n_rets;
	}
	if (*n + 1 + (n_rets ? n_rets : 1) > UPROBE_MAX_LINKS)
		return -E2BIG;
	if (s->entry) {
		err = attach_at(ld, s->entry, path, &site, &cookie, 1, false, links, n);
		if (err)
			return err;
	}
	if (s->ret && !t->ret_insns) {
		err = attach_at(ld, s->ret, path, &site, NULL, 1, true, links, n);
		if (err)
			return err;
	}
	if (n_rets)
		return attach_at(ld, s->ret, path, rets, NULL, n_rets, false, links, n);
	return 0;
}

/*
 * The entry program of s at each direct call the function at off (size bytes) makes to the
 * function at `to` (file offsets): 0, or -ENOENT when it makes none.
 */
static int attach_calls(struct loader *ld, const struct uprobe_sym *s, const char *path, int fd,
			uint64_t off, uint64_t size, uint64_t to, uint64_t cookie, void **links,
			int *n)
{
	uint32_t at[UPROBE_MAX_RETS];
	uint64_t offs[UPROBE_MAX_RETS], cookies[UPROBE_MAX_RETS];
	uint8_t *code;
	int k, i;

	if (!to)
		return -ENOENT;
	code = read_function(fd, off, size);
	if (!code)
		return errno == ENOEXEC ? -ENOENT : -errno;
	k = insn_calls_to(HOST_INSN, code, size, (int64_t)to - (int64_t)off, at, UPROBE_MAX_RETS);
	free(code);
	if (k <= 0)
		return -ENOENT;
	if (*n + k > UPROBE_MAX_LINKS)
		return -E2BIG;
	for (i = 0; i < k; i++) {
		offs[i] = off + at[i];
		cookies[i] = cookie;
	}
	return attach_at(ld, s->entry, path, offs, cookies, k, false, links, n);
}

#if defined(__x86_64__)
/* Bytes of a function's start read to place its probe. */
#define START_BYTES 96

/* The first bytes of the code at file offset off of fd, in buf; how many, or 0. */
static size_t read_start(int fd, uint64_t off, uint8_t *buf)
{
	ssize_t got = off ? pread(fd, buf, START_BYTES, (off_t)off) : -1;

	return got > 0 ? (size_t)got : 0;
}

/* The target of the first call or jump at the start of the function at off, or 0. */
static uint64_t first_call(int fd, uint64_t off, uint32_t keep)
{
	uint8_t code[START_BYTES];
	size_t got = read_start(fd, off, code);
	int64_t rel;

	if (!got || insn_first_call(INSN_X86_64, code, got, keep, &rel) ||
	    rel < -(int64_t)off || (int64_t)off + rel == 0)
		return 0;
	return off + (uint64_t)rel;
}

/* Where at the function at off a probe costs one trap (insn_probe_site's flags), or 0. */
static uint64_t cheap_site(int fd, uint64_t off, uint32_t keep, unsigned flags)
{
	uint8_t code[START_BYTES];
	size_t got = read_start(fd, off, code);
	int k = got ? insn_probe_site(INSN_X86_64, code, got, keep, flags) : -1;

	return k < 0 ? 0 : off + (uint64_t)k;
}

/*
 * The members of a family whose start calls an internal function with their own arguments
 * (OpenSSL 3.0's SSL_read_ex calls ssl_read_internal) move there when it is cheaper: moved[i]
 * holds where. A mover whose function is the first call of another kind of symbol of the row
 * too, or of another family, is no internal function of its family (a profiling hook, a
 * common helper): it stays where it was.
 */
static void plan_movers(const struct uprobe_target *t, int fd, const uint64_t *offs, int n,
			uint32_t keep, uint64_t *site, uint64_t *moved)
{
	uint64_t to, other;
	int i, j;

	for (i = 0; i < n; i++) {
		moved[i] = 0;
		if (!offs[i] || !t->syms[i].family || site[i] != offs[i] ||
		    cheap_site(fd, offs[i], keep, INSN_SITE_KEEP_SP) == offs[i])
			continue;
		to = first_call(fd, offs[i], keep);
		if (to && cheap_site(fd, to, keep, INSN_SITE_KEEP_SP) == to)
			moved[i] = to;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < n && moved[i]; j++) {
			if (j == i || !offs[j])
				continue;
			other = moved[j] ? moved[j] : first_call(fd, offs[j], 0);
			if (other == moved[i] && t->syms[j].family != t->syms[i].family)
				moved[i] = 0;
		}
	}
	for (i = 0; i < n; i++)
		if (moved[i])
			site[i] = moved[i];
}

/*
 * Where each symbol of row t is probed, by its code (x86-64): site[i], or 0 when it needs no
 * probe of its own. A probe goes on the first instruction of the function's start that the
 * kernel emulates (insn.h), past those that change nothing the program reads: one trap per
 * hit, where a single-stepped first instruction costs a second, and ten times more. In Go,
 * past the stack check's jump too, on the PUSH after it: a probe that sends plaintext at
 * entry (Write) must run once per call, and a call whose stack grows runs the check twice. A
 * uretprobe may pass only instructions that leave the stack pointer (ENDBR64), as it reads
 * the return address there. Where the function starts with an instruction it must not pass,
 * the family's movers go to their internal function (plan_movers), and the other members
 * whose calls reach one of those within three calls or jumps are covered by it (OpenSSL's
 * SSL_read: no probe of its own).
 */
static void plan_sites(const struct uprobe_target *t, int fd, const uint64_t *offs, int n,
		       uint64_t *site)
{
	bool go = t->in == UPROBE_GO_EXE;
	uint32_t keep = go ? INSN_X86_GO_ARGS : INSN_X86_C_ARGS;
	uint64_t moved[UPROBE_MAX_SYMS], at, to;
	unsigned flags;
	int i, j, hop;

	for (i = 0; i < n; i++) {
		flags = go ? INSN_SITE_PAST_JCC : 0;
		if (t->syms[i].ret && !t->ret_insns)
			flags |= INSN_SITE_KEEP_SP;
		at = offs[i] ? cheap_site(fd, offs[i], keep, flags) : 0;
		site[i] = at ? at : offs[i];
	}
	plan_movers(t, fd, offs, n, keep, site, moved);
	for (i = 0; i < n; i++) {
		if (!t->syms[i].family || moved[i] || site[i] != offs[i] || !offs[i] ||
		    cheap_site(fd, offs[i], keep, INSN_SITE_KEEP_SP) == offs[i])
			continue;
		for (hop = 0, to = offs[i]; hop < 3 && to && site[i]; hop++) {
			to = first_call(fd, to, 0);
			for (j = 0; j < n && to; j++)
				if (moved[j] == to && t->syms[j].family == t->syms[i].family)
					site[i] = 0;
		}
	}
	for (i = 0; i < n; i++) /* two movers to one function: the first one's programs */
		for (j = 0; j < i && moved[i]; j++)
			if (moved[j] == moved[i] && site[j] == moved[j])
				site[i] = 0;
}
#else
static void plan_sites(const struct uprobe_target *t, int fd, const uint64_t *offs, int n,
		       uint64_t *site)
{
	for (int i = 0; i < n; i++)
		site[i] = offs[i];
}
#endif

/*
 * The path to attach the file open at fd through (file names it): its own path when that is
 * the same file from sonde's mount namespace (what `bpftool perf` then shows), else the
 * descriptor itself (a container's file, or a process that exited meanwhile: /proc/PID/exe
 * would not resolve any more).
 */
static void attach_path(const char *file, int fd, char *out, size_t len)
{
	struct stat a, b;
	char target[PATH_MAX];
	ssize_t n;

	if (strncmp(file, "/proc/", 6)) {
		snprintf(out, len, "%s", file);
		return;
	}
	n = readlink(file, target, sizeof(target) - 1);
	if (n > 0 && target[0] == '/') {
		target[n] = 0;
		if (!fstat(fd, &a) && !stat(target, &b) && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino && (size_t)n < len) {
			snprintf(out, len, "%s", target);
			return;
		}
	}
	snprintf(out, len, "/proc/self/fd/%d", fd);
}

/*
 * The uprobe table (uprobes.c) through libbpf. A row's programs attach by file offset, with
 * pid -1: every process of the file runs them. A required symbol that fails takes the row's
 * other links on that file with it.
 */
static int uprobe_attach(void *ctx, const struct uprobe_target *t, const char *file, void **links,
			 int *n)
{
	/* the symbols, then the callees of those probed at their calls (to[i] says where) */
	const char *names[2 * UPROBE_MAX_SYMS];
	uint64_t offs[2 * UPROBE_MAX_SYMS], sizes[2 * UPROBE_MAX_SYMS], sites[UPROBE_MAX_SYMS];
	uint64_t cookies[UPROBE_MAX_SYMS] = {0};
	int to[UPROBE_MAX_SYMS];
	struct loader *ld = ctx;
	int i, n_syms, n_names, err = 0, fd, k;
	char path[PATH_MAX];
	bool moved;

	/* Opened first: the file stays reachable if the process whose /proc entry names it
	 * exits meanwhile (a short-lived client). */
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A file whose old links are being removed would run its programs twice meanwhile. */
	ld->attaching = ulinks__file_id(fd);
	ulinks__settle(ld->ulinks, ld->attaching);
	attach_path(file, fd, path, sizeof(path));
	/* One pass over the symbols for all of them, where libbpf reads them once per probe
	 * (node's 11 probes: 94 ms that way, 22 ms this one, measured here): a program started
	 * just now gets its probes before its first calls. */
	for (n_syms = 0; n_syms < UPROBE_MAX_SYMS && t->syms[n_syms].symbol; n_syms++)
		names[n_syms] = t->syms[n_syms].symbol;
	for (i = 0, n_names = n_syms; i < n_syms; i++) {
		to[i] = t->syms[i].call_to ? n_names : -1;
		if (t->syms[i].call_to)
			names[n_names++] = t->syms[i].call_to;
	}
	if (elf_function_offsets(path, names, n_names, offs, sizes) < 0) {
		close(fd);
		return -ENOEXEC;
	}
	for (i = 0; i < n_syms; i++)
		if (!offs[i] && t->syms[i].required) {
			close(fd); /* nothing attached: the file is no use to the row */
			return -ENOENT;
		}
	if (t->cookies && (err = t->cookies(fd, cookies)) < 0) {
		close(fd);
		return err;
	}
	plan_sites(t, fd, offs, n_syms, sites);
	*n = 0;
	loader_quiet_libbpf(true); /* a failure is the caller's note, not libbpf's warning */
	for (i = 0; i < n_syms && !err; i++) {
		if (verbose_libbpf && offs[i] && !sites[i])
			fprintf(stderr, "sonde: uprobe %s of %s: none, its calls reach one of the "
				"row's other probes\n", t->syms[i].symbol, path);
		if (!offs[i] || !sites[i])
			continue;
		if (verbose_libbpf && sites[i] != offs[i])
			fprintf(stderr, "sonde: uprobe %s of %s at +0x%llx (its start is at +0x%llx)\n",
				t->syms[i].symbol, path, (unsigned long long)sites[i],
				(unsigned long long)offs[i]);
		k = *n;
		if (to[i] >= 0)
			err = attach_calls(ld, &t->syms[i], path, fd, offs[i], sizes[i], offs[to[i]],
					   cookies[i], links, n);
		else
			err = attach_sym(ld, t, &t->syms[i], path, fd, offs[i], sizes[i], sites[i],
					 cookies[i], links, n);
		/* a symbol probed at an internal function covers others, required ones too */
		moved = sites[i] < offs[i] || sites[i] >= offs[i] + (sizes[i] ? sizes[i] : 1);
		if (err && !t->syms[i].required && !moved) {
			if (verbose_libbpf)
				fprintf(stderr, "sonde: uprobe %s of %s: not attached (%s)\n",
					t->syms[i].symbol, path, strerror(-err));
			while (*n > k) /* an optional symbol's failure costs only its own links */
				ulinks__detach(ld->ulinks, links[--*n]);
			err = 0;
		}
	}
	loader_quiet_libbpf(false);
	close(fd);
	if (err) {
		while (*n)
			ulinks__detach(ld->ulinks, links[--*n]);
		return err;
	}
	if (!*n)
		return -ENOENT;
	if (t->flag)
		set_bss_flag(ld, t->flag);
	return 0;
}

static void uprobe_detach(void *ctx, void *link)
{
	struct loader *ld = ctx;

	ulinks__detach(ld->ulinks, link);
}

static bool uprobe_is_go(void *ctx, const char *path)
{
	return runtime_of_exe(path) == RUNTIME_GO;
}

static bool uprobe_has_symbol(void *ctx, const char *path, const char *symbol)
{
	return elf_has_symbol(path, symbol);
}

/*
 * A Go program's sends carry no context from the kernel (TCP option, header): it writes a
 * request from the transport's goroutines, on any thread, so the request the kernel finds for
 * the thread (serving) may be another's. The agent links its calls through their goroutines
 * instead (runtime.h).
 */
static void uprobe_go_process(void *ctx, uint32_t pid, bool go)
{
	struct loader *ld = ctx;
	int fd = bpf_map__fd(ld->skel->maps.prop_skip);
	uint8_t one = 1;

	if (!ld->skel->rodata->tcp_mode && !ld->skel->rodata->header_mode)
		return;
	if (go)
		bpf_map_update_elem(fd, &pid, &one, BPF_ANY);
	else
		bpf_map_delete_elem(fd, &pid); /* a pid reused, or an exec of another program */
}

static const struct uprobe_ops uprobe_ops = {
	.attach = uprobe_attach,
	.detach = uprobe_detach,
	.is_go = uprobe_is_go,
	.has_symbol = uprobe_has_symbol,
	.go_process = uprobe_go_process,
};

/*
 * Where a host keeps its shared libraries: the uprobe table's library rows attach to what they
 * find there at start, for good, so that a program started later has them from its first call
 * (a library found only in some process's maps, such as a container's, waits for that process).
 */
static const char *const library_dirs[] = {
	"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib/aarch64-linux-gnu",    "/usr/lib64",	      "/lib64",
	"/usr/lib",		     "/usr/local/lib",
};

/* Before the load: the uprobe programs load for the links the kernel can make best
 * (ulinks.h). */
static int links_prepare(struct loader *ld)
{
	bool multi = !seams__uprobe_perf_links() && ulinks__multi_supported();

	ulinks__prepare(ld->skel->obj, multi);
	ld->ulinks = ulinks__new(multi);
	if (!ld->ulinks) {
		loader_explain_failure("prepare the uprobe links", -ENOMEM);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The uprobe table's rows in use, and what they attach to at once: the library directories'
 * files, and those of the processes that run already. TLS libraries only with --tls: their
 * probes trap on every call of every process that uses them, traced or not (docs/tls.md: what
 * it costs); grpc-go's unless --no-go-grpc.
 */
static int uprobes_start(struct loader *ld, const struct sonde_config *cfg)
{
	size_t i;

	ld->uprobe_rows = calloc(uprobe_table_len, sizeof(*ld->uprobe_rows));
	if (!ld->uprobe_rows)
		return -ENOMEM;
	ld->n_uprobe_rows = uprobe_rows_chosen(ld->uprobe_rows, cfg->tls, cfg->go_grpc);
	ld->uprobes = uprobes__new(ld->uprobe_rows, ld->n_uprobe_rows, "/proc", &uprobe_ops, ld);
	if (!ld->uprobes)
		return -ENOMEM;
	for (i = 0; i < sizeof(library_dirs) / sizeof(library_dirs[0]); i++)
		uprobes__library_dir(ld->uprobes, library_dirs[i]);
	/* Processes that run already: their libraries and executables before their next
	 * connection (a library loaded from elsewhere, a program that links one in). */
	uprobes__running(ld->uprobes);
	return 0;
}

struct loader *loader__start(const struct sonde_config *cfg, loader_event_cb cb, void *ctx)
{
	struct propagation_plan pp;
	struct probe_plan plan;
	struct btf *btf = NULL;
	struct loader *ld;
	int err;

	verbose_libbpf = cfg->verbose;
	libbpf_set_print(libbpf_log);
	ld = calloc(1, sizeof(*ld));
	if (!ld) {
		errno = ENOMEM;
		return NULL;
	}
	ld->cb = cb;
	ld->cb_ctx = ctx;
	ld->n_cpus = libbpf_num_possible_cpus();
	if (ld->n_cpus <= 0 || ld->n_cpus > SONDE_MAX_CPUS) {
		fprintf(stderr, "sonde: cannot count possible CPUs (or more than %d)\n",
			SONDE_MAX_CPUS);
		err = -EINVAL;
		goto fail;
	}

	/* Open: the kernel's BTF and the probe table decide before anything is loaded. */
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		fprintf(stderr, "sonde: this kernel has no BTF (/sys/kernel/btf/vmlinux): sonde needs "
				"a kernel built with CONFIG_DEBUG_INFO_BTF\n");
		err = -ENOTSUP;
		goto fail;
	}
	ld->skel = sonde_bpf__open();
	if (!ld->skel) {
		err = -errno;
		loader_explain_failure("open the BPF object", err);
		goto fail;
	}
	err = probes__plan(btf, ld->skel->obj, cfg->hooks, &plan);
	if (err) {
		probes__explain_missing(&plan, cfg->hooks);
		goto fail;
	}
	propagation_decide(cfg, probes__capture_on_socket_hooks(&plan), &pp);

	/* Configure: which programs load, the read-only globals, the maps' sizes, the rings. */
	err = loader_configure(ld, cfg, &plan, &pp);
	if (err) {
		loader_explain_failure("create the ring buffers", err);
		goto fail;
	}

	err = links_prepare(ld);
	if (err)
		goto fail;

	/* Load, then fill what needs the maps' fds. */
	err = sonde_bpf__load(ld->skel);
	if (err) {
		loader_explain_failure("load the BPF programs", err);
		goto fail;
	}
	err = loader_fill_filters(ld, cfg);
	if (err) {
		loader_explain_failure("set the pid and port filters", err);
		goto fail;
	}
	err = rings__open(ld);
	if (err) {
		loader_explain_failure("open the ring buffers", err);
		goto fail;
	}
	err = uprobes_start(ld, cfg);
	if (err)
		goto fail;

	/* Attach: the probe table's rows, then the propagation modes. */
	err = probes__attach(ld, &plan);
	if (err)
		goto fail;
	if (ld->n_uprobe_rows)
		snprintf(ld->hooks + strlen(ld->hooks), sizeof(ld->hooks) - strlen(ld->hooks),
			 " uprobes(%s)", ulinks__multi(ld->ulinks) ? "uprobe_multi" : "perf_event");
	attach_propagation(ld, cfg, &pp);
	btf__free(btf);
	return ld;
fail:
	btf__free(btf);
	loader__stop(ld);
	errno = -err;
	return NULL;
}

int loader__conn_state(struct loader *ld, uint64_t sock_key, struct sonde_conn_state *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.conns), &sock_key, out))
		return -errno;
	return 0;
}

int loader__ignore_conn(struct loader *ld, uint64_t sock_key, uint64_t conn_id)
{
	int fd = bpf_map__fd(ld->skel->maps.conns);
	struct sonde_conn_state st;

	/* The programs may update the same entry meanwhile: at worst one I/O's counters are lost,
	 * for a connection whose counters no longer matter. */
	if (bpf_map_lookup_elem(fd, &sock_key, &st))
		return -errno;
	if (st.conn_id != conn_id)
		return -ESTALE;
	st.ignored = 1;
	if (bpf_map_update_elem(fd, &sock_key, &st, BPF_EXIST))
		return -errno;
	return 0;
}
int loader__attach_uprobes(struct loader *ld, uint32_t pid, struct loader_uprobe_note *notes,
			   int max)
{
	struct uprobe_outcome out[8];
	int n, i, failed = 0;

	if (!ld->uprobes)
		return 0;
	n = uprobes__process(ld->uprobes, pid, out, 8);
	if (n < 0)
		return n;
	for (i = 0; i < n && i < 8; i++) {
		if (!out[i].err)
			continue;
		if (failed < max) {
			notes[failed].target = out[i].target->name;
			notes[failed].lost = out[i].target->lost;
			notes[failed].hint = out[i].target->hint;
			snprintf(notes[failed].file, sizeof(notes[failed].file), "%s", out[i].file);
			notes[failed].err = out[i].err;
		}
		failed++;
	}
	return failed;
}

void loader__sweep_uprobes(struct loader *ld)
{
	if (ld->uprobes)
		uprobes__sweep(ld->uprobes);
}

int loader__uprobe_stats(struct loader *ld, struct loader_uprobe_stats *out, int max)
{
	struct uprobe_stats st;
	size_t row;

	for (row = 0; row < ld->n_uprobe_rows && (int)row < max; row++) {
		uprobes__stats(ld->uprobes, row, &st);
		out[row].target = ld->uprobe_rows[row].name;
		out[row].attached = st.attached;
		out[row].failed = st.failed;
		out[row].detached = st.detached;
		out[row].active = st.active;
	}
	return (int)ld->n_uprobe_rows;
}

int loader__capture_policy(struct loader *ld, uint64_t sock_key, uint64_t conn_id, uint8_t mode)
{
	struct sonde_policy_ask ask = {.conn_id = conn_id, .policy = mode};

	/* Summaries are --http-responses status's: with full responses nothing changes. */
	if (mode == SONDE_CAPTURE_HTTP1_STATUS && !ld->skel->rodata->http1_summaries)
		return 0;
	/* A separate map, not the conns entry: the programs own that one's run counters. */
	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.conn_policy), &sock_key, &ask, BPF_ANY))
		return -errno;
	/* After the write: a run start that sees the new generation finds the entry. */
	__atomic_add_fetch(&ld->skel->bss->conn_policy_gen, 1, __ATOMIC_RELEASE);
	return 0;
}

void loader__counters(struct loader *ld, uint64_t out[SONDE_CNT_MAX])
{
	uint64_t *vals = calloc(ld->n_cpus, sizeof(uint64_t));
	uint32_t k;
	int c;

	memset(out, 0, sizeof(uint64_t) * SONDE_CNT_MAX);
	if (!vals)
		return;
	for (k = 0; k < SONDE_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.counters), &k, vals))
			continue;
		for (c = 0; c < ld->n_cpus; c++)
			out[k] += vals[c];
	}
	free(vals);
}

int loader__tcpopt_paths(struct loader *ld, uint64_t now_ns, struct loader_tcpopt_path *out,
			 int max, uint64_t *tallied)
{
	int fd = bpf_map__fd(ld->skel->maps.tcpopt_paths), n = 0;
	struct sonde_addr key, next;
	struct sonde_tcp_path p;
	void *prev = NULL;

	*tallied = 0;
	if (!ld->skel->rodata->tcp_mode)
		return 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &p))
			continue; /* gone meanwhile (LRU) */
		(*tallied)++;
		if (!p.off_until || now_ns >= p.off_until)
			continue;
		if (n < max) {
			memcpy(out[n].addr, key.a, sizeof(out[n].addr));
			out[n].off_until_ns = p.off_until;
			out[n].offs = p.offs;
		}
		n++;
	}
	return n;
}

int loader__set_pid(struct loader *ld, uint32_t pid, bool on)
{
	int fd = bpf_map__fd(ld->skel->maps.pid_filter);
	uint8_t one = 1;

	if (on)
		return bpf_map_update_elem(fd, &pid, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(fd, &pid) && errno != ENOENT ? -errno : 0;
}

const char *loader__hooks(const struct loader *ld)
{
	return ld->hooks;
}

const char *loader__propagation(const struct loader *ld)
{
	return ld->propagation;
}

void loader__stop(struct loader *ld)
{
	int j;

	if (!ld)
		return;
	for (j = 0; j < ld->n_links; j++)
		bpf_link__destroy(ld->links[j]);
	uprobes__free(ld->uprobes);
	ulinks__free(ld->ulinks); /* every link queued by the line above goes, in parallel */
	free(ld->uprobe_rows);
	/* The map would take the program with it when freed below; say it in order. */
	if (ld->sk_msg_prog_fd > 0)
		bpf_prog_detach2(ld->sk_msg_prog_fd, ld->out_socks_fd, BPF_SK_MSG_VERDICT);
	rings__free(ld);
	sonde_bpf__destroy(ld->skel);
	free(ld);
}
