// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The BPF side's keeper. One probe table says, per capability, which hooks can provide it, from
 * the cheapest; the kernel's BTF tells which exist, and only the chosen programs are loaded. The
 * loader configures the programs through
 * their read-only globals, creates one ring buffer per CPU, attaches, and on each poll drains
 * every ring into one batch that it hands on in timestamp order (records of one connection can
 * sit in several rings when its threads move between CPUs).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "sonde.skel.h"

/* Which family of hooks a row belongs to (--hooks forces one). */
enum hook_set {
	SET_SOCKET = 1,	  /* socket-level tracepoints: nearly free */
	SET_FALLBACK = 2, /* syscall and raw tracepoints: every syscall pays */
};

/* What a chosen row switches on in the BPF side's settings (the syscall programs serve two). */
enum probe_effect {
	EFFECT_NONE = 0,
	EFFECT_SYS_SEND, /* sys_send = 1 */
	EFFECT_SYS_RECV, /* sys_recv = 1 */
};

#define PROBE_MAX_PROGS 2

/* One way to get one capability. */
struct probe {
	const char *capability; /* what sonde gets from it */
	const char *hook;	/* attach points, in words for --check */
	const char *needs;	/* what a kernel must have for it */
	enum hook_set set;	/* its cost class */
	enum probe_effect effect;
	bool required;		/* sonde cannot run without this capability */
	/* BPF programs by name; each one's section names its hook, whose btf_trace_ typedef in
	 * kernel BTF proves it exists (for tp_btf and raw_tp alike) */
	const char *progs[PROBE_MAX_PROGS];
};

/*
 * The probe table. Rows of one capability are adjacent alternatives, cheapest first; the first
 * whose hooks all exist (and whose set --hooks allows) wins, the others are not loaded. The
 * socket-level tracepoints (kernel 6.3+) cost the traced processes almost nothing; the syscall
 * fallback slows every syscall of every task (+13-15% CPU per request measured here before any
 * work, see ../shared/KERNEL.md). fentry/kprobe rows on the socket layer would sit between the
 * two; they are not written (this development kernel refuses fentry and has no kprobes).
 */
static const struct probe probes[] = {
	{"socket send", "tp_btf/sock_send_length", "kernel 6.3+", SET_SOCKET, EFFECT_NONE, true,
	 {"sonde_sock_send"}},
	{"socket send", "raw_tp/sys_enter+sys_exit (write writev sendto sendmsg)", "kernel 4.17+",
	 SET_FALLBACK, EFFECT_SYS_SEND, true, {"sonde_sys_enter", "sonde_sys_exit"}},
	{"socket receive", "tp_btf/sock_recv_length", "kernel 6.3+", SET_SOCKET, EFFECT_NONE, true,
	 {"sonde_sock_recv"}},
	{"socket receive", "raw_tp/sys_enter+sys_exit (read readv recvfrom recvmsg)", "kernel 4.17+",
	 SET_FALLBACK, EFFECT_SYS_RECV, true, {"sonde_sys_enter", "sonde_sys_exit"}},
	{"connection open/close", "tp_btf/inet_sock_set_state", "kernel 5.5+", SET_SOCKET,
	 EFFECT_NONE, true, {"sonde_sock_state"}},
	{"connection open/close", "raw_tp/inet_sock_set_state", "kernel 4.17+", SET_FALLBACK,
	 EFFECT_NONE, true, {"sonde_raw_state"}},
	/* Optional: without it, a worker thread a handler creates starts traces of its own. */
	{"thread hand-off", "tp_btf/sched_process_fork", "kernel 5.5+", SET_SOCKET, EFFECT_NONE,
	 false, {"sonde_thr_fork"}},
	{"thread hand-off", "raw_tp/sched_process_fork", "kernel 4.17+", SET_FALLBACK, EFFECT_NONE,
	 false, {"sonde_raw_fork"}},
};
#define N_PROBES (sizeof(probes) / sizeof(probes[0]))
/* Every program attached at most once, however many rows share it. */
#define MAX_LINKS (N_PROBES * PROBE_MAX_PROGS)

/* One record waiting in the batch. */

#define GO_EXES_MAX 256

struct loader {
	struct sonde_bpf *skel;
	struct bpf_link *links[MAX_LINKS];
	const struct bpf_program *link_progs[MAX_LINKS]; /* what each link attached */
	int n_links;
	struct ring_buffer *rb;
	int *ring_fds;
	int n_rings;
	int n_cpus;
	loader_event_cb cb;
	void *cb_ctx;
	/* The batch of one poll. */
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
	char hooks[256];
	/* Header propagation: the sk_msg program attached to out_socks, and what is active. */
	int sk_msg_prog_fd, out_socks_fd;
	char propagation[160];
	/* Go executables the net/http uprobes were tried on (by inode), and their links. */
	struct go_exe {
		dev_t dev;
		ino_t ino;
		int err; /* 0: attached */
	} go_exes[GO_EXES_MAX];
	int n_go_exes;
	struct bpf_link *go_links[2 * GO_EXES_MAX];
	int n_go_links;
	/* Unit tests only (loader__new_for_test): what a drain reads instead of the rings. */
	int (*consume)(struct loader *ld, void *arg);
	void *consume_arg;
};

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

static bool btf_has(const struct btf *btf, const char *name)
{
	return btf && btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) > 0;
}

/* The hook of a tp_btf or raw_tp program exists when its btf_trace_<event> typedef does. */
static bool prog_hook_exists(const struct btf *btf, const struct bpf_program *p)
{
	const char *sec = p ? bpf_program__section_name(p) : NULL;
	const char *event = sec ? strchr(sec, '/') : NULL;
	char name[128];

	if (!event || (strncmp(sec, "tp_btf/", 7) && strncmp(sec, "raw_tp/", 7)))
		return false;
	snprintf(name, sizeof(name), "btf_trace_%s", event + 1);
	return btf_has(btf, name);
}

static bool probe_available(const struct btf *btf, struct bpf_object *obj, const struct probe *pr)
{
	int k;

	for (k = 0; k < PROBE_MAX_PROGS && pr->progs[k]; k++)
		if (!prog_hook_exists(btf, bpf_object__find_program_by_name(obj, pr->progs[k])))
			return false;
	return true;
}

static bool set_allowed(enum sonde_hooks mode, enum hook_set set)
{
	return mode == HOOKS_AUTO || (mode == HOOKS_SOCKET && set == SET_SOCKET) ||
	       (mode == HOOKS_SYSCALLS && set == SET_FALLBACK);
}

static const char *hooks_name(enum sonde_hooks mode)
{
	return mode == HOOKS_SOCKET ? "socket" : mode == HOOKS_SYSCALLS ? "syscalls" : "auto";
}

/*
 * Pick one row per capability: chosen[i] is true for the rows that will be loaded. Returns 0, or
 * -ENOTSUP with *missing the first row of a capability nothing can provide.
 */
static int probes__choose(const struct btf *btf, struct bpf_object *obj, enum sonde_hooks mode,
			  bool chosen[N_PROBES], size_t *missing)
{
	size_t i, j;

	memset(chosen, 0, sizeof(bool) * N_PROBES);
	for (i = 0; i < N_PROBES; i = j) {
		bool found = false;

		for (j = i; j < N_PROBES && !strcmp(probes[j].capability, probes[i].capability); j++) {
			if (found || !set_allowed(mode, probes[j].set) ||
			    !probe_available(btf, obj, &probes[j]))
				continue;
			chosen[j] = found = true;
		}
		if (!found && probes[i].required) {
			*missing = i;
			return -ENOTSUP;
		}
	}
	return 0;
}

/*
 * The capture runs on the socket tracepoints (not the syscall fallback): what the propagation
 * modes need, their verdicts and contexts reaching the records through them. The optional rows
 * (thread hand-off) do not count.
 */
static bool capture_on_socket_hooks(const bool chosen[N_PROBES])
{
	size_t i;

	for (i = 0; i < N_PROBES; i++)
		if (chosen[i] && probes[i].required && probes[i].set != SET_SOCKET)
			return false;
	return true;
}

/* Effective capabilities of this process, as a 64-bit mask. */
static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Names of the capabilities sonde needs that this process lacks, or "" when it has them. */
static void missing_caps(char *buf, size_t len)
{
	uint64_t caps = effective_caps();
	bool admin = caps & (1ULL << CAP_SYS_ADMIN);

	buf[0] = 0;
	if (!admin && !(caps & (1ULL << CAP_BPF)))
		strncat(buf, "CAP_BPF ", len - strlen(buf) - 1);
	if (!admin && !(caps & (1ULL << CAP_PERFMON)))
		strncat(buf, "CAP_PERFMON ", len - strlen(buf) - 1);
	if (!(caps & (1ULL << CAP_NET_ADMIN)))
		strncat(buf, "CAP_NET_ADMIN ", len - strlen(buf) - 1);
	if (buf[0])
		buf[strlen(buf) - 1] = 0;
}

static const char *read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return buf;
}

/*
 * Header propagation (--propagation header): a sockops program on the cgroup v2 root puts
 * outgoing connections in a sockhash whose sk_msg program injects traceparent headers. Being in
 * a sockhash changes a socket's receive path too, and some stable kernels got it wrong (FIONREAD
 * reporting 0, epoll not woken: servers and clients stall), so before anything is attached the
 * same program is loaded on its own and run over a real loopback connection: FIONREAD and epoll
 * on a socket of the map, an HTTP request injected exactly once with the right write() count,
 * and 64 KiB of other bytes delivered untouched. Any failure refuses header mode with the
 * reason; tracing goes on without it.
 */
#define SELFTEST_FAIL_ENV "SONDE_TEST_FAIL_SOCKHASH_SELFTEST" /* tests force the refusal */
/*
 * Tests only: go on past a wrong FIONREAD (the regression this test machine's kernel has) to
 * exercise injection itself. Never for production: an application that asks FIONREAD on an
 * outgoing connection would be told 0 bytes are waiting.
 */
#define SELFTEST_FIONREAD_ENV "SONDE_TEST_IGNORE_FIONREAD"
#define SELFTEST_TIMEOUT_MS 2000
#define SELFTEST_BULK (64 * 1024)

/* The cgroup v2 hierarchy's mount point (sockops attaches to its root), from /proc/mounts. */
static int cgroup2_root(char *path, size_t len)
{
	char line[512], dev[128], dir[256], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %255s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(path, len, "%s", dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* Read exactly n bytes within the self-test's deadline; 0, or a reason. */
static const char *read_exact(int fd, void *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if (poll(&p, 1, SELFTEST_TIMEOUT_MS) <= 0)
			return "data not delivered within 2 s";
		r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return "connection closed early";
		got += r;
	}
	return NULL;
}

static const char *write_all(int fd, const void *buf, size_t n)
{
	size_t put = 0;
	ssize_t r;

	while (put < n) {
		r = send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return "send failed";
		if ((size_t)r > n - put)
			return "send returned more than it was given";
		put += r;
	}
	return NULL;
}

/* A connected pair on 127.0.0.1: *cli made the connection, *srv accepted it. */
static int loopback_pair(int *cli, int *srv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

	*cli = *srv = -1;
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		goto fail;
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*srv < 0)
		goto fail;
	close(l);
	return 0;
fail:
	err = -errno;
	close(l);
	if (*cli >= 0)
		close(*cli);
	*cli = -1;
	return err ? err : -EIO;
}

/* The checks on one connection whose client end is in the sockhash; NULL when all pass. */
static const char *selftest_conn(int cli, int srv)
{
	static const char req[] = "GET /sonde-self-test HTTP/1.1\r\nHost: sonde\r\n\r\n";
	const size_t head = sizeof(req) - 3; /* the injected line goes before the empty line */
	char got[sizeof(req) + SONDE_TRACEPARENT_LINE + 8];
	struct epoll_event ev = {.events = EPOLLIN}, out;
	const char *why = NULL;
	uint8_t *bulk, *back;
	int ep, avail = -1;
	size_t i;

	bulk = malloc(SELFTEST_BULK);
	back = malloc(SELFTEST_BULK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!bulk || !back || ep < 0) {
		why = "out of memory or fds";
		goto out;
	}
	for (i = 0; i < SELFTEST_BULK; i++)
		bulk[i] = (uint8_t)(i * 7 + (i >> 8));

	/* Receive side of a member socket: epoll wakes, FIONREAD counts, the bytes arrive. */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, cli, &ev)) {
		why = "epoll_ctl failed";
		goto out;
	}
	if ((why = write_all(srv, bulk, 1000)))
		goto out;
	if (epoll_wait(ep, &out, 1, SELFTEST_TIMEOUT_MS) != 1) {
		why = "epoll did not report a socket in the sockhash readable (missed wake-up)";
		goto out;
	}
	if ((ioctl(cli, FIONREAD, &avail) || avail != 1000) && getenv(SELFTEST_FIONREAD_ENV)) {
		fprintf(stderr, "sonde: warning: FIONREAD is wrong for a socket in the sockhash (%d "
				"for 1000 bytes waiting), ignored because %s is set (tests only)\n",
			avail, SELFTEST_FIONREAD_ENV);
	} else if (avail != 1000) {
		static char msg[96];

		snprintf(msg, sizeof(msg),
			 "FIONREAD is wrong for a socket in the sockhash (%d for 1000 bytes waiting)",
			 avail);
		why = msg;
		goto out;
	}
	if ((why = read_exact(cli, back, 1000)))
		goto out;
	if (memcmp(back, bulk, 1000)) {
		why = "received bytes differ";
		goto out;
	}

	/* Send side: a request gets exactly one line before its empty line, write() counts
	 * only the caller's bytes, and nothing else changes. */
	if ((why = write_all(cli, req, sizeof(req) - 1)))
		goto out;
	if ((why = read_exact(srv, got, sizeof(req) - 1 + SONDE_TRACEPARENT_LINE)))
		goto out;
	if (memcmp(got, req, head) || memcmp(got + head, "traceparent: 00-", 16) ||
	    memcmp(got + head + SONDE_TRACEPARENT_LINE - 2, "\r\n\r\n", 4)) {
		why = "the injected request is not what it should be";
		goto out;
	}

	/* Other bytes, more than one piece of the send path, pass untouched. */
	if ((why = write_all(cli, bulk, SELFTEST_BULK)))
		goto out;
	if ((why = read_exact(srv, back, SELFTEST_BULK)))
		goto out;
	if (memcmp(back, bulk, SELFTEST_BULK))
		why = "bytes that are not HTTP were changed";
out:
	if (ep >= 0)
		close(ep);
	free(bulk);
	free(back);
	return why;
}

/*
 * A second copy of the object with only prog to load, its maps small, one small ring (closed
 * by the caller through *ring): the start-up self-tests try a program on its own with it.
 */
static struct sonde_bpf *selftest_open(const char *prog, int *ring, char *why, size_t len)
{
	struct sonde_bpf *skel = sonde_bpf__open();
	struct bpf_program *p;
	struct bpf_map *m;
	int err;

	*ring = -1;
	if (!skel) {
		err = -errno;
		snprintf(why, len, "cannot open the BPF object: %s", strerror(-err));
		errno = -err;
		return NULL;
	}
	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), prog));
	bpf_map__set_autocreate(skel->maps.resp_notes_task, false); /* not theirs */
	bpf_object__for_each_map(m, skel->obj) {
		enum bpf_map_type t = bpf_map__type(m);

		if (t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_SOCKHASH)
			bpf_map__set_max_entries(m, 16);
	}
	*ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sonde_probe", 0, 0, 4096, NULL);
	if (*ring < 0 || bpf_map__set_inner_map_fd(skel->maps.rings, *ring) ||
	    bpf_map__set_max_entries(skel->maps.rings, 1)) {
		err = -errno;
		snprintf(why, len, "cannot create a ring buffer: %s", strerror(-err));
		sonde_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

/*
 * Load the sk_msg program alone from a second copy of the object (small maps), attach it to its
 * sockhash and run the checks over a loopback connection in that map. 0, or -errno with why.
 */
static int header_selftest(char *why, size_t len)
{
	const char *fail = NULL, *forced = getenv(SELFTEST_FAIL_ENV);
	struct sonde_bpf *skel = NULL;
	int ring = -1, cli = -1, srv = -1, err, map_fd, prog_fd;
	uint64_t cookie = 0, fd64;
	socklen_t cl = sizeof(cookie);

	if (forced && forced[0] && strcmp(forced, "0")) {
		snprintf(why, len, "the self-test was made to fail (%s is set)", SELFTEST_FAIL_ENV);
		return -EPERM;
	}
	skel = selftest_open("sonde_inject", &ring, why, len);
	if (!skel)
		return -errno;
	err = sonde_bpf__load(skel);
	if (err) {
		snprintf(why, len, "the kernel refused the sk_msg program: %s", strerror(-err));
		goto out;
	}
	map_fd = bpf_map__fd(skel->maps.out_socks);
	prog_fd = bpf_program__fd(skel->progs.sonde_inject);
	if (bpf_prog_attach(prog_fd, map_fd, BPF_SK_MSG_VERDICT, 0)) {
		err = -errno;
		snprintf(why, len, "cannot attach sk_msg to a sockhash: %s", strerror(-err));
		goto out;
	}
	err = loopback_pair(&cli, &srv);
	if (err) {
		snprintf(why, len, "cannot make a loopback connection: %s", strerror(-err));
		goto out;
	}
	fd64 = cli;
	if (getsockopt(cli, SOL_SOCKET, SO_COOKIE, &cookie, &cl) ||
	    bpf_map_update_elem(map_fd, &cookie, &fd64, BPF_NOEXIST)) {
		err = -errno;
		snprintf(why, len, "cannot put a socket in a sockhash: %s", strerror(-err));
		goto out;
	}
	fail = selftest_conn(cli, srv);
	bpf_map_delete_elem(map_fd, &cookie);
	if (fail) {
		snprintf(why, len, "sockhash self-test failed: %s", fail);
		err = -EIO;
	}
out:
	if (cli >= 0)
		close(cli);
	if (srv >= 0)
		close(srv);
	if (ring >= 0)
		close(ring);
	sonde_bpf__destroy(skel);
	return err;
}

/*
 * TCP-option propagation (--propagation tcp): the sockops program alone from a second copy of
 * the object, attached to the cgroup v2 root for the test's few milliseconds, with filters that
 * let only the test's own connection through; one request over loopback, then the sender's
 * socket storage must hold ids and the receiver's the same ids over the request's first byte.
 * It proves that this kernel writes and parses header options (5.10+) and that nothing on the
 * path strips them. 0, or -errno with why.
 */
static int tcp_option_selftest(char *why, size_t len)
{
	static const char msg[] = "sonde tcp option self-test\n";
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	struct sonde_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	struct sonde_tcp_tx tx;
	struct sonde_tcp_rx rx;
	int ring = -1, l = -1, cli = -1, srv = -1, cg = -1, err, i;
	char cgpath[256], got[sizeof(msg)];
	const char *fail;

	skel = selftest_open("sonde_tcpopt", &ring, why, len);
	if (!skel)
		return -errno;
	/* Empty filters: no other process's connection is touched while the test runs. */
	skel->rodata->self_tgid = getpid();
	skel->rodata->filter_pids = 1;
	skel->rodata->filter_ports = 1;
	err = sonde_bpf__load(skel);
	if (err) {
		snprintf(why, len, "the kernel refused the sockops program (TCP header options need "
				   "kernel 5.10+): %s", strerror(-err));
		goto out;
	}
	err = cgroup2_root(cgpath, sizeof(cgpath));
	if (err) {
		snprintf(why, len, "no cgroup v2 hierarchy mounted (sockops attaches to its root)");
		goto out;
	}
	cg = open(cgpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	link = cg >= 0 ? bpf_program__attach_cgroup(skel->progs.sonde_tcpopt, cg) : NULL;
	if (!link) {
		err = -errno;
		snprintf(why, len, "cannot attach sockops to %s: %s", cgpath, strerror(-err));
		goto out;
	}
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al)) {
		err = -errno;
		snprintf(why, len, "cannot listen on loopback: %s", strerror(-err));
		goto out;
	}
	skel->bss->selftest_port = ntohs(a.sin_port);
	cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cli < 0 || connect(cli, (struct sockaddr *)&a, sizeof(a)) ||
	    (srv = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		err = -errno;
		snprintf(why, len, "cannot make a loopback connection: %s", strerror(-err));
		goto out;
	}
	err = -EIO;
	if ((fail = write_all(cli, msg, sizeof(msg) - 1)) ||
	    (fail = read_exact(srv, got, sizeof(msg) - 1))) {
		snprintf(why, len, "TCP option self-test: %s", fail);
		goto out;
	}
	if (memcmp(got, msg, sizeof(msg) - 1)) {
		snprintf(why, len, "TCP option self-test: the bytes arrived changed");
		goto out;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tcp_tx), &cli, &tx) || !tx.decided) {
		snprintf(why, len, "TCP option self-test: the sending side decided no ids");
		goto out;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tcp_rx), &srv, &rx)) {
		snprintf(why, len, "TCP option self-test: no option arrived (the kernel did not write "
				   "it, or something on the path strips unknown options)");
		goto out;
	}
	for (i = 0; i < SONDE_TCP_RX_SLOTS; i++)
		if (rx.slot[i].seq == tx.start_seq && rx.slot[i].end - rx.slot[i].seq == sizeof(msg) - 1 &&
		    !memcmp(rx.slot[i].trace_id, tx.trace_id, 16) &&
		    !memcmp(rx.slot[i].span_id, tx.span_id, 8))
			break;
	if (i == SONDE_TCP_RX_SLOTS) {
		snprintf(why, len, "TCP option self-test: the option that arrived does not hold the ids "
				   "sent over the request's bytes");
		goto out;
	}
	err = 0;
out:
	if (skel && skel->bss)
		skel->bss->selftest_port = 0;
	bpf_link__destroy(link);
	if (cg >= 0)
		close(cg);
	if (cli >= 0)
		close(cli);
	if (srv >= 0)
		close(srv);
	if (l >= 0)
		close(l);
	if (ring >= 0)
		close(ring);
	sonde_bpf__destroy(skel);
	return err;
}

int loader__check(FILE *out, enum sonde_hooks hooks)
{
	struct btf *btf = btf__load_vmlinux_btf();
	struct sonde_bpf *skel = sonde_bpf__open();
	bool ok = true, chosen[N_PROBES], fallback = false;
	char caps[128], buf[256];
	size_t i, missing = 0;
	const char *s;

	fprintf(out, "sonde %s: what this kernel allows\n", SONDE_VERSION);
	s = read_small("/proc/sys/kernel/osrelease", buf, sizeof(buf));
	fprintf(out, "  kernel                      %s\n", s ? s : "unknown");
	fprintf(out, "  kernel BTF                  %s\n",
		btf ? "yes (/sys/kernel/btf/vmlinux): CO-RE works" : "NO: sonde needs BTF");
	if (!btf)
		ok = false;
	missing_caps(caps, sizeof(caps));
	fprintf(out, "  privileges                  %s%s\n", caps[0] ? "missing: " : "enough",
		caps);
	if (caps[0])
		ok = false;
	fprintf(out, "  kprobes                     %s\n",
		access("/sys/kernel/tracing/kprobe_events", F_OK) == 0 ||
				access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0
			? "yes"
			: "no (kernel built without them)");
	s = read_small("/sys/kernel/security/lockdown", buf, sizeof(buf));
	fprintf(out, "  lockdown                    %s\n", s ? s : "unknown");
	fprintf(out, "  cgroup v2 (sockops)         %s\n",
		access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ||
				access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0
			? "yes"
			: "no");
	if (!skel) {
		fprintf(out, "verdict: sonde cannot run here (cannot open its BPF object: %s)\n",
			strerror(errno));
		btf__free(btf);
		return 1;
	}
	if (probes__choose(btf, skel->obj, hooks, chosen, &missing))
		ok = false;
	fprintf(out, "hooks (probe table: per capability, the first available row is used; "
		     "--hooks socket|syscalls forces one set):\n");
	for (i = 0; i < N_PROBES; i++) {
		bool have = probe_available(btf, skel->obj, &probes[i]);

		fprintf(out, "  %-22s %-8s %-58s %s\n", probes[i].capability,
			probes[i].set == SET_SOCKET ? "socket" : "fallback", probes[i].hook,
			chosen[i] ? "available: will be used"
			: have	  ? "available"
				  : "NOT available");
		if (chosen[i] && probes[i].set == SET_FALLBACK)
			fallback = true;
	}
	if (ok) {
		char why[256], cg[256];
		bool socket_hooks = capture_on_socket_hooks(chosen);

		fprintf(out, "propagation:\n");
		if (!socket_hooks)
			fprintf(out, "  header injection       NOT available: it needs the socket "
				     "tracepoints (kernel 6.3+), not the syscall fallback\n");
		else if (cgroup2_root(cg, sizeof(cg)))
			fprintf(out, "  header injection       NOT available: no cgroup v2 hierarchy "
				     "mounted (sockops attaches to its root)\n");
		else if (header_selftest(why, sizeof(why)))
			fprintf(out, "  header injection       NOT available: %s\n", why);
		else if (getenv(SELFTEST_FIONREAD_ENV))
			fprintf(out, "  header injection       works here only because %s is set "
				     "(tests only): sockops on %s, sk_msg self-test passed (epoll, "
				     "push_data)\n", SELFTEST_FIONREAD_ENV, cg);
		else
			fprintf(out, "  header injection       works here: sockops on %s, sk_msg "
				     "self-test passed (FIONREAD, epoll, push_data); "
				     "--propagation link,header\n", cg);
		if (!socket_hooks)
			fprintf(out, "  TCP option             NOT available: it needs the socket "
				     "tracepoints (kernel 6.3+), not the syscall fallback\n");
		else if (tcp_option_selftest(why, sizeof(why)))
			fprintf(out, "  TCP option             NOT available: %s\n", why);
		else
			fprintf(out, "  TCP option             works here: sockops on %s, an option "
				     "written and parsed back over loopback; --propagation "
				     "link,tcp (both ends must run sonde)\n", cg);
	}
	if (!ok && btf && !caps[0])
		fprintf(out, "verdict: sonde cannot run here: no hook for %s (needs %s)\n",
			probes[missing].capability, probes[missing].needs);
	else if (!ok)
		fprintf(out, "verdict: sonde cannot run here (see the lines above)\n");
	else
		fprintf(out, "verdict: sonde can run here%s\n",
			fallback ? " (through the syscall fallback: every syscall pays some cost)" : "");
	sonde_bpf__destroy(skel);
	btf__free(btf);
	return ok ? 0 : 1;
}

/* One ring per CPU, created before load: the first is also the template of the outer map. */
static int create_rings(struct loader *ld, uint32_t ring_bytes)
{
	int fd;

	ld->ring_fds = calloc(ld->n_cpus, sizeof(int));
	if (!ld->ring_fds)
		return -ENOMEM;
	while (ld->n_rings < ld->n_cpus) {
		fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sonde_ring", 0, 0, ring_bytes, NULL);
		if (fd < 0)
			return -errno;
		ld->ring_fds[ld->n_rings++] = fd;
	}
	return bpf_map__set_inner_map_fd(ld->skel->maps.rings, ld->ring_fds[0]);
}

static int fill_ring_array(struct loader *ld)
{
	int outer = bpf_map__fd(ld->skel->maps.rings);
	uint32_t i;

	for (i = 0; i < (uint32_t)ld->n_rings; i++)
		if (bpf_map_update_elem(outer, &i, &ld->ring_fds[i], BPF_ANY))
			return -errno;
	return 0;
}

static int batch_append(struct loader *ld, const void *data, size_t keep);

static int on_record(void *ctx, void *data, size_t size)
{
	struct loader *ld = ctx;
	const struct sonde_event_head *h = data;
	size_t keep = size;

	if (size < sizeof(*h))
		return 0;
	/* Keep only the payload that was captured, not the whole fixed-size reservation. */
	if (h->kind == SONDE_EV_DATA && size >= offsetof(struct sonde_data_event, payload)) {
		const struct sonde_data_event *d = data;
		size_t cap = d->cap_len > SONDE_PAYLOAD_MAX ? SONDE_PAYLOAD_MAX : d->cap_len;

		keep = offsetof(struct sonde_data_event, payload) + cap;
		if (keep > size)
			keep = size;
	}
	return batch_append(ld, data, keep);
}

/* Copy one record (keep bytes, a sonde_event_head first) into the batch. */
static int batch_append(struct loader *ld, const void *data, size_t keep)
{
	const struct sonde_event_head *h = data;
	struct batch_rec *r;

	if (ld->arena_len + keep > ld->arena_cap) {
		size_t cap = ld->arena_cap ? ld->arena_cap * 2 : 1 << 20;
		uint8_t *a;

		while (cap < ld->arena_len + keep)
			cap *= 2;
		a = realloc(ld->arena, cap);
		if (!a)
			return -ENOMEM;
		ld->arena = a;
		ld->arena_cap = cap;
	}
	if (ld->n_recs == ld->recs_cap) {
		size_t cap = ld->recs_cap ? ld->recs_cap * 2 : 4096;
		struct batch_rec *n = realloc(ld->recs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ld->recs = n;
		ld->recs_cap = cap;
		/* the merge space follows at the next sort */
		free(ld->recs_tmp);
		free(ld->runs);
		ld->recs_tmp = NULL;
		ld->runs = NULL;
	}
	memcpy(ld->arena + ld->arena_len, data, keep);
	r = &ld->recs[ld->n_recs];
	r->ts = h->ts_ns;
	r->off = ld->arena_len;
	r->size = keep;
	r->order = ld->n_recs;
	ld->n_recs++;
	ld->arena_len += (keep + 7) & ~7UL;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct batch_rec *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order);
}

/* A natural merge (loader.h): qsort's log n passes were 3.5% of the agent's CPU under load. */
void loader__sort_batch(struct batch_rec *recs, size_t n, struct batch_rec *tmp, size_t *runs)
{
	struct batch_rec *src = recs, *dst, *t;
	size_t n_runs = 0, i, r, w;

	for (i = 1; i < n && src[i - 1].ts <= src[i].ts; i++)
		;
	if (i >= n)
		return;
	if (!tmp || !runs) {
		qsort(src, n, sizeof(*src), rec_cmp);
		return;
	}
	runs[n_runs++] = 0;
	for (i = 1; i < n; i++)
		if (src[i].ts < src[i - 1].ts)
			runs[n_runs++] = i;
	if (n_runs > n / 4) {
		qsort(src, n, sizeof(*src), rec_cmp); /* no order to speak of */
		return;
	}
	runs[n_runs] = n;
	dst = tmp;
	while (n_runs > 1) {
		for (r = 0, w = 0; r < n_runs; r += 2) {
			size_t a = runs[r], am = runs[r + 1], b = am, bm = r + 2 <= n_runs ? runs[r + 2] : am,
			       o = a;

			if (r + 1 == n_runs) {
				/* an odd run out: copied as it is */
				memcpy(dst + a, src + a, (runs[r + 1] - a) * sizeof(*src));
				runs[w++] = a;
				continue;
			}
			while (a < am && b < bm)
				dst[o++] = src[b].ts < src[a].ts ? src[b++] : src[a++];
			memcpy(dst + o, src + a, (am - a) * sizeof(*src));
			o += am - a;
			memcpy(dst + o, src + b, (bm - b) * sizeof(*src));
			runs[w++] = runs[r];
		}
		runs[w] = n;
		n_runs = w;
		t = src;
		src = dst;
		dst = t;
	}
	if (src != recs)
		memcpy(recs, src, n * sizeof(*src));
}

static void sort_recs(struct loader *ld)
{
	if (!ld->recs_tmp || !ld->runs) {
		free(ld->recs_tmp);
		free(ld->runs);
		ld->recs_tmp = malloc(ld->recs_cap * sizeof(*ld->recs_tmp));
		ld->runs = malloc((ld->recs_cap + 1) * sizeof(*ld->runs));
	}
	loader__sort_batch(ld->recs, ld->n_recs, ld->recs_tmp, ld->runs);
}

/* What a batch keeps between drains at most, when it uses little of it. */
#define ARENA_KEEP (1u << 20)
#define RECS_KEEP 4096

/* Keep records [from, n_recs) of the batch for the next one: sizes and bytes, 8-aligned. */
static int carry_tail(struct loader *ld, size_t from)
{
	size_t i, need = 0, at = 0;
	uint8_t *c;

	for (i = from; i < ld->n_recs; i++)
		need += 8 + ((ld->recs[i].size + 7) & ~7UL);
	if (need > ld->carry_cap) {
		c = realloc(ld->carry, need);
		if (!c)
			return -ENOMEM;
		ld->carry = c;
		ld->carry_cap = need;
	}
	for (i = from; i < ld->n_recs; i++) {
		uint64_t size = ld->recs[i].size;

		memcpy(ld->carry + at, &size, 8);
		memcpy(ld->carry + at + 8, ld->arena + ld->recs[i].off, size);
		at += 8 + ((size + 7) & ~7UL);
	}
	ld->carry_len = at;
	return 0;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* How long after its stamp a record may still be uncommitted in its ring (see loader__poll). */
#define COMMIT_SLACK_NS 5000000ULL

int loader__poll(struct loader *ld, size_t budget, bool all)
{
	size_t i, end, at;
	uint64_t cutoff;
	int err;

	if (all)
		ld->n_ready = ld->n_recs;
	if (ld->next_rec >= ld->n_ready) {
		/* What the last drain found newer than itself goes first into this one. */
		err = carry_tail(ld, ld->n_ready);
		if (err)
			return err;
		/*
		 * A burst (a drain after records waited for export room, or after the loop was
		 * kept off the CPU) should not pin a large batch for the agent's whole life: once a
		 * batch uses under a quarter of the space, the space goes back (main() keeps large
		 * blocks mmapped, so free() returns them to the kernel).
		 */
		if (ld->arena_cap > ARENA_KEEP && ld->arena_len < ld->arena_cap / 4) {
			free(ld->arena);
			ld->arena = NULL;
			ld->arena_cap = 0;
		}
		if (ld->recs_cap > RECS_KEEP && ld->n_recs < ld->recs_cap / 4) {
			free(ld->recs);
			free(ld->recs_tmp);
			free(ld->runs);
			ld->recs = NULL;
			ld->recs_tmp = NULL;
			ld->runs = NULL;
			ld->recs_cap = 0;
		}
		ld->n_recs = 0;
		ld->next_rec = 0;
		ld->n_ready = 0;
		ld->arena_len = 0;
		for (at = 0; at < ld->carry_len;) {
			uint64_t size;

			memcpy(&size, ld->carry + at, 8);
			err = batch_append(ld, ld->carry + at + 8, size);
			if (err)
				return err;
			at += 8 + ((size + 7) & ~7UL);
		}
		ld->carry_len = 0;
		/*
		 * The rings are read one after the other, and a CPU goes on writing into a ring
		 * while the others are read (longer when the loop is preempted meanwhile). A record
		 * stamped after the drain started may have older ones still unread in another ring:
		 * it waits for the next drain, so that no record is ever delivered after a newer one
		 * of another CPU. A program stamps its record when it starts and commits it a few
		 * microseconds later, or later still when interrupts and their network softirq
		 * (up to 2 ms a round by default) come in between: until then the ring reads stop
		 * before it. So records stamped in the last COMMIT_SLACK_NS before the drain wait
		 * too, for the older ones still being written.
		 */
		cutoff = all ? UINT64_MAX : monotonic_ns() - COMMIT_SLACK_NS;
		err = ld->consume ? ld->consume(ld, ld->consume_arg) : ring_buffer__consume(ld->rb);
		if (err < 0)
			return err;
		if (ld->n_recs > 1)
			sort_recs(ld);
		for (ld->n_ready = ld->n_recs; ld->n_ready && ld->recs[ld->n_ready - 1].ts > cutoff;)
			ld->n_ready--;
	}
	end = ld->n_ready - ld->next_rec > budget ? ld->next_rec + budget : ld->n_ready;
	for (i = ld->next_rec; i < end; i++)
		ld->cb(ld->cb_ctx, ld->arena + ld->recs[i].off, ld->recs[i].size);
	err = (int)(end - ld->next_rec);
	ld->next_rec = end;
	return err;
}

size_t loader__pending(const struct loader *ld)
{
	return ld->n_ready - ld->next_rec;
}

struct loader *loader__new_for_test(loader_event_cb cb, void *ctx,
				    int (*consume)(struct loader *ld, void *arg), void *arg)
{
	struct loader *ld = calloc(1, sizeof(*ld));

	if (!ld)
		return NULL;
	ld->cb = cb;
	ld->cb_ctx = ctx;
	ld->consume = consume;
	ld->consume_arg = arg;
	return ld;
}

int loader__test_record(struct loader *ld, const void *rec, size_t size)
{
	return on_record(ld, (void *)rec, size);
}

size_t loader__carried(const struct loader *ld)
{
	return ld->n_recs - ld->n_ready;
}

void loader__set_quiet(struct loader *ld, bool quiet)
{
	if (ld->skel && ld->skel->bss)
		__atomic_store_n(&ld->skel->bss->agent_quiet, quiet ? 1u : 0u, __ATOMIC_RELEASE);
}

int loader__rings(const struct loader *ld, const int **fds)
{
	*fds = ld->ring_fds;
	return ld->n_rings;
}

int loader__epoll_fd(const struct loader *ld)
{
	return ring_buffer__epoll_fd(ld->rb);
}

int loader__conn_state(struct loader *ld, uint64_t sock_key, struct sonde_conn_state *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.conns), &sock_key, out))
		return -errno;
	return 0;
}

int loader__ignore_conn(struct loader *ld, uint64_t sock_key)
{
	int fd = bpf_map__fd(ld->skel->maps.conns);
	struct sonde_conn_state st;

	/* The programs may update the same entry meanwhile: at worst one I/O's counters are lost,
	 * for a connection whose counters no longer matter. */
	if (bpf_map_lookup_elem(fd, &sock_key, &st))
		return -errno;
	st.ignored = 1;
	if (bpf_map_update_elem(fd, &sock_key, &st, BPF_EXIST))
		return -errno;
	return 0;
}

/* The net/http functions whose entries tie a writeLoop's writes to the handler that asked. */
static const char *const go_funcs[2] = {
	"net/http.(*persistConn).roundTrip",
	"net/http.(*Request).write",
};

int loader__attach_go(struct loader *ld, uint32_t pid)
{
	struct bpf_program *progs[2] = { ld->skel->progs.sonde_go_round_trip,
					 ld->skel->progs.sonde_go_request_write };
	struct bpf_link *l[2] = {};
	char path[64];
	struct stat st;
	int i, err = 0;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (stat(path, &st))
		return -ESRCH; /* gone */
	for (i = 0; i < ld->n_go_exes; i++)
		if (ld->go_exes[i].dev == st.st_dev && ld->go_exes[i].ino == st.st_ino)
			return ld->go_exes[i].err;
	if (ld->n_go_exes == GO_EXES_MAX)
		return -E2BIG;
	quiet_libbpf = true; /* a missing symbol is the caller's note, not libbpf's warning */
	for (i = 0; i < 2 && !err; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = go_funcs[i]);

		/* pid -1: every process of this executable (uprobes go by inode) */
		l[i] = bpf_program__attach_uprobe_opts(progs[i], -1, path, 0, &o);
		if (!l[i])
			err = -errno;
	}
	quiet_libbpf = false;
	if (err) {
		bpf_link__destroy(l[0]);
		bpf_link__destroy(l[1]);
	} else {
		ld->go_links[ld->n_go_links++] = l[0];
		ld->go_links[ld->n_go_links++] = l[1];
		ld->skel->bss->go_uprobes = 1;
	}
	ld->go_exes[ld->n_go_exes].dev = st.st_dev;
	ld->go_exes[ld->n_go_exes].ino = st.st_ino;
	ld->go_exes[ld->n_go_exes++].err = err;
	return err;
}

int loader__capture_policy(struct loader *ld, uint64_t sock_key, uint8_t mode)
{
	/* Summaries are --http-responses status's: with full responses nothing changes. */
	if (mode == SONDE_CAPTURE_HTTP1_STATUS && !ld->skel->rodata->http1_summaries)
		return 0;
	/* A separate map, not the conns entry: the programs own that one's run counters. */
	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.conn_policy), &sock_key, &mode, BPF_ANY))
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
	size_t i;
	int j;

	if (!ld)
		return;
	ring_buffer__free(ld->rb);
	for (i = 0; i < (size_t)ld->n_links; i++)
		bpf_link__destroy(ld->links[i]);
	for (j = 0; j < ld->n_go_links; j++)
		bpf_link__destroy(ld->go_links[j]);
	/* The map would take the program with it when freed below; say it in order. */
	if (ld->sk_msg_prog_fd > 0)
		bpf_prog_detach2(ld->sk_msg_prog_fd, ld->out_socks_fd, BPF_SK_MSG_VERDICT);
	for (j = 0; j < ld->n_rings; j++)
		close(ld->ring_fds[j]);
	free(ld->ring_fds);
	sonde_bpf__destroy(ld->skel);
	free(ld->arena);
	free(ld->recs);
	free(ld->carry);
	free(ld->recs_tmp);
	free(ld->runs);
	free(ld);
}

/* Attach p unless an earlier row did; the start-up line names every hook attached. */
static int attach_once(struct loader *ld, struct bpf_program *p)
{
	const char *sec = bpf_program__section_name(p);
	int n;

	for (n = 0; n < ld->n_links; n++)
		if (ld->link_progs[n] == p)
			return 0;
	if (ld->n_links >= (int)MAX_LINKS)
		return -E2BIG;
	ld->links[ld->n_links] = bpf_program__attach(p);
	if (!ld->links[ld->n_links])
		return -errno;
	ld->link_progs[ld->n_links++] = p;
	snprintf(ld->hooks + strlen(ld->hooks), sizeof(ld->hooks) - strlen(ld->hooks), "%s%s",
		 ld->hooks[0] ? " " : "", sec);
	return 0;
}

/*
 * Header injection on: the sk_msg program on the sockhash, then sockops on the cgroup v2 root
 * (from then on new outgoing connections join the map). Both go when sonde's fds close, however
 * it ends: the cgroup attachment is a link, the sk_msg one lives in a map nothing pins.
 */
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
	if (ld->n_links >= (int)MAX_LINKS) {
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

/* Say why loading failed in words a user can act on. */
static void explain_failure(const char *what, int err)
{
	char caps[128];

	missing_caps(caps, sizeof(caps));
	if ((err == -EPERM || err == -EACCES) && caps[0])
		fprintf(stderr,
			"sonde: cannot %s: %s (missing %s: run as root or grant CAP_BPF, "
			"CAP_PERFMON and CAP_NET_ADMIN)\n",
			what, strerror(-err), caps);
	else
		fprintf(stderr, "sonde: cannot %s: %s (run sonde --check to see what this kernel allows)\n",
			what, strerror(-err));
}

struct loader *loader__start(const struct sonde_config *cfg, loader_event_cb cb, void *ctx)
{
	size_t i, missing = 0;
	bool chosen[N_PROBES];
	struct bpf_program *p;
	struct btf *btf = NULL;
	bool header = false, tcp = false, socket_hooks, task_storage;
	struct loader *ld;
	uint8_t one = 1;
	int err, j, k;
	char why[256];

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

	/* The probe table decides before anything is loaded. */
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
		explain_failure("open the BPF object", err);
		goto fail;
	}
	if (probes__choose(btf, ld->skel->obj, cfg->hooks, chosen, &missing)) {
		fprintf(stderr, "sonde: this kernel has no hook for %s%s%s%s (",
			probes[missing].capability, cfg->hooks ? " among those --hooks " : "",
			cfg->hooks ? hooks_name(cfg->hooks) : "", cfg->hooks ? " allows" : "");
		for (i = missing, k = 0; i < N_PROBES &&
				  !strcmp(probes[i].capability, probes[missing].capability);
		     i++)
			if (set_allowed(cfg->hooks, probes[i].set))
				fprintf(stderr, "%s%s needs %s", k++ ? "; " : "", probes[i].hook,
					probes[i].needs);
		fprintf(stderr, "): run sonde --check\n");
		err = -ENOTSUP;
		goto fail;
	}
	/* Load only the chosen rows' programs: the losers are never verified nor attached. The
	 * Go uprobes are loaded always, and attached to Go executables as they are seen. */
	bpf_object__for_each_program(p, ld->skel->obj)
		bpf_program__set_autoload(p, p == ld->skel->progs.sonde_go_round_trip ||
					     p == ld->skel->progs.sonde_go_request_write);
	for (i = 0; i < N_PROBES; i++) {
		if (!chosen[i])
			continue;
		for (k = 0; k < PROBE_MAX_PROGS && probes[i].progs[k]; k++)
			bpf_program__set_autoload(
				bpf_object__find_program_by_name(ld->skel->obj, probes[i].progs[k]),
				true);
		if (probes[i].effect == EFFECT_SYS_SEND)
			ld->skel->rodata->sys_send = 1;
		else if (probes[i].effect == EFFECT_SYS_RECV)
			ld->skel->rodata->sys_recv = 1;
	}

	/*
	 * Header and TCP-option propagation: only with the socket tracepoints (the sk_msg verdict
	 * and the socket storage reach the record through sock_send_length and sock_recv_length),
	 * and only where their self-tests pass. Without them, nothing of them is loaded and their
	 * maps shrink to nothing.
	 */
	snprintf(ld->propagation, sizeof(ld->propagation), "%s",
		 !cfg->propagation ? "off" : cfg->propagation & PROPAGATION_LINK ? "link" : "");
	socket_hooks = capture_on_socket_hooks(chosen);
	if (cfg->propagation & PROPAGATION_HEADER) {
		if (!socket_hooks)
			snprintf(why, sizeof(why), "it needs the socket tracepoints (kernel 6.3+), "
						   "not the syscall fallback");
		header = socket_hooks && !header_selftest(why, sizeof(why));
		if (!header)
			fprintf(stderr, "sonde: warning: header injection refused: %s; tracing goes on "
					"without it (sonde --check tells more)\n", why);
	}
	if (cfg->propagation & PROPAGATION_TCP) {
		if (!socket_hooks)
			snprintf(why, sizeof(why), "it needs the socket tracepoints (kernel 6.3+), "
						   "not the syscall fallback");
		tcp = socket_hooks && !tcp_option_selftest(why, sizeof(why));
		if (!tcp)
			fprintf(stderr, "sonde: warning: TCP-option propagation refused: %s; tracing "
					"goes on without it (sonde --check tells more)\n", why);
	}
	if (header) {
		ld->skel->rodata->header_mode = 1;
		bpf_program__set_autoload(ld->skel->progs.sonde_inject, true);
		bpf_program__set_autoload(ld->skel->progs.sonde_sockops, true);
	} else {
		bpf_map__set_max_entries(ld->skel->maps.sending, 1);
		bpf_map__set_max_entries(ld->skel->maps.out_socks, 1);
	}
	if (tcp) {
		ld->skel->rodata->tcp_mode = 1;
		bpf_program__set_autoload(ld->skel->progs.sonde_tcpopt, true);
	}
	if (!header && !tcp)
		bpf_map__set_max_entries(ld->skel->maps.serving, 1);

	/*
	 * A thread's response notes: in its task storage when both directions are on the socket
	 * tracepoints, else in a hash both directions share. The task storage map is created
	 * wherever the kernel has the type (every kernel with the socket tracepoints does: their
	 * programs refer to it even when they use the hash); the hash shrinks when unused.
	 */
	task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1;
	bpf_map__set_autocreate(ld->skel->maps.resp_notes_task, task_storage);
	ld->skel->rodata->task_notes = socket_hooks && task_storage;
	if (socket_hooks && task_storage)
		bpf_map__set_max_entries(ld->skel->maps.resp_notes, 1);

	ld->skel->rodata->self_tgid = getpid();
	ld->skel->rodata->http1_summaries = !cfg->http_full_responses;
	ld->skel->rodata->capture_bytes = cfg->capture_bytes;
	ld->skel->rodata->run_captures = cfg->run_captures;
	ld->skel->rodata->sample_threshold = cfg->sample_threshold;
	/* --exe is decided in the agent (process_table__selected): names need /proc */
	ld->skel->rodata->filter_pids = cfg->n_pids > 0;
	ld->skel->rodata->filter_ports = cfg->n_ports > 0;
	ld->skel->rodata->wakeup_bytes = cfg->ring_bytes / 4;
	bpf_map__set_max_entries(ld->skel->maps.rings, ld->n_cpus);
	err = create_rings(ld, cfg->ring_bytes);
	if (err) {
		explain_failure("create the ring buffers", err);
		goto fail;
	}

	err = sonde_bpf__load(ld->skel);
	if (err) {
		explain_failure("load the BPF programs", err);
		goto fail;
	}
	err = fill_ring_array(ld);
	if (err) {
		explain_failure("fill the ring-buffer array", err);
		goto fail;
	}
	for (j = 0; j < cfg->n_pids; j++) {
		err = loader__set_pid(ld, cfg->pids[j], true);
		if (err) {
			explain_failure("set the pid filter", err);
			goto fail;
		}
	}
	for (j = 0; j < cfg->n_ports; j++) {
		err = bpf_map_update_elem(bpf_map__fd(ld->skel->maps.port_filter), &cfg->ports[j],
					  &one, BPF_ANY);
		if (err) {
			err = -errno;
			explain_failure("set the port filter", err);
			goto fail;
		}
	}

	ld->rb = ring_buffer__new(ld->ring_fds[0], on_record, ld, NULL);
	if (!ld->rb) {
		err = -errno;
		explain_failure("open the ring buffers", err);
		goto fail;
	}
	for (j = 1; j < ld->n_rings; j++) {
		err = ring_buffer__add(ld->rb, ld->ring_fds[j], on_record, ld);
		if (err) {
			explain_failure("open the ring buffers", err);
			goto fail;
		}
	}

	/* Attach the chosen rows, each program once (the syscall pair serves two rows). */
	for (i = 0; i < N_PROBES; i++) {
		if (!chosen[i])
			continue;
		for (k = 0; k < PROBE_MAX_PROGS && probes[i].progs[k]; k++) {
			p = bpf_object__find_program_by_name(ld->skel->obj, probes[i].progs[k]);
			err = attach_once(ld, p);
			if (!err)
				continue;
			if (probes[i].required) {
				char what[96];

				snprintf(what, sizeof(what), "attach %s", bpf_program__section_name(p));
				explain_failure(what, err);
				goto fail;
			}
			fprintf(stderr, "sonde: warning: %s not attached (%s): %s unavailable\n",
				bpf_program__section_name(p), strerror(-err), probes[i].capability);
		}
	}
	if (header) {
		err = attach_header(ld, why, sizeof(why));
		if (err) {
			/* Nothing of the client side runs; the server ids still go to the agent. */
			fprintf(stderr, "sonde: warning: header injection refused: %s; tracing goes "
					"on without it\n", why);
			header = false;
		}
	}
	if (tcp) {
		err = attach_sockops(ld, ld->skel->progs.sonde_tcpopt, "+tcp-option", why,
				     sizeof(why));
		if (err) {
			/* The send and receive programs find no socket storage: they do nothing. */
			fprintf(stderr, "sonde: warning: TCP-option propagation refused: %s; tracing "
					"goes on without it\n", why);
			tcp = false;
		}
	}
	/* the modes that work, then those refused */
	propagation_says(ld, "header", header, false);
	propagation_says(ld, "tcp", tcp, false);
	propagation_says(ld, "header", false, !header && (cfg->propagation & PROPAGATION_HEADER));
	propagation_says(ld, "tcp", false, !tcp && (cfg->propagation & PROPAGATION_TCP));
	btf__free(btf);
	return ld;
fail:
	btf__free(btf);
	loader__stop(ld);
	errno = -err;
	return NULL;
}
