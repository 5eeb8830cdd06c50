// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The start-up self-tests of the propagation modes. Each loads its program alone from a second
 * copy of the object (small maps, one small ring), runs it over a real loopback connection and
 * checks what the kernel did; a failure refuses the mode with the reason, and tracing goes on
 * without it. sonde --check runs the same tests.
 *
 * Tests may force a verdict, but only in build/sonde-testing (make testing: this file compiled
 * with -DSONDE_TESTING): the production binary has no switch to read, so nothing in its
 * environment can make it inject where its self-test failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "loader_impl.h"

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
#define SELFTEST_TIMEOUT_MS 2000
#define SELFTEST_BULK (64 * 1024)

#ifdef SONDE_TESTING
/* sonde-testing: the tests force the refusal, to check the path that takes it. */
#define SELFTEST_FAIL_ENV "SONDE_TEST_FAIL_SOCKHASH_SELFTEST"
/*
 * sonde-testing: go on past a wrong FIONREAD (the regression the test machines' kernel has) to
 * exercise injection itself. Never in production: an application that asks FIONREAD on an
 * outgoing connection would be told 0 bytes are waiting.
 */
#define SELFTEST_FIONREAD_ENV "SONDE_TEST_IGNORE_FIONREAD"

static bool test_switch(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] && strcmp(v, "0");
}

static bool forced_failure(char *why, size_t len)
{
	if (!test_switch(SELFTEST_FAIL_ENV))
		return false;
	snprintf(why, len, "the self-test was made to fail (%s is set)", SELFTEST_FAIL_ENV);
	return true;
}

static bool fionread_ignored(int avail, const char **note)
{
	if (!test_switch(SELFTEST_FIONREAD_ENV))
		return false;
	fprintf(stderr, "sonde: warning: FIONREAD is wrong for a socket in the sockhash (%d for "
			"1000 bytes waiting), ignored because %s is set (tests only)\n",
		avail, SELFTEST_FIONREAD_ENV);
	*note = SELFTEST_FIONREAD_ENV " is set (tests only)";
	return true;
}
#else
/* The production binary: no switch, the kernel's verdict stands. */
static bool forced_failure(char *why, size_t len)
{
	return false;
}

static bool fionread_ignored(int avail, const char **note)
{
	return false;
}
#endif

/* The cgroup v2 hierarchy's mount point (sockops attaches to its root), from /proc/mounts. */
int cgroup2_root(char *path, size_t len)
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
static const char *selftest_conn(int cli, int srv, const char **note)
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
	if ((ioctl(cli, FIONREAD, &avail) || avail != 1000) && !fionread_ignored(avail, note)) {
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
 * sockhash and run the checks over a loopback connection in that map. 0, or -errno with why;
 * *note says when a tests-only switch let a check pass (sonde-testing), else stays NULL.
 */
int selftest__header(char *why, size_t len, const char **note)
{
	const char *fail = NULL;
	struct sonde_bpf *skel = NULL;
	int ring = -1, cli = -1, srv = -1, err, map_fd, prog_fd;
	uint64_t cookie = 0, fd64;
	socklen_t cl = sizeof(cookie);

	*note = NULL;
	if (forced_failure(why, len))
		return -EPERM;
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
	fail = selftest_conn(cli, srv, note);
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
 * One request over a loopback connection the sockops program watches: the bytes arrive
 * unchanged, the sender's socket storage holds ids, and the receiver's the same ids over the
 * request's bytes. NULL, or what went wrong.
 */
static const char *tcp_option_exchange(struct sonde_bpf *skel, int cli, int srv)
{
	static const char msg[] = "sonde tcp option self-test\n";
	struct sonde_tcp_tx tx;
	struct sonde_tcp_rx rx;
	char got[sizeof(msg)];
	const char *fail;
	int i;

	if ((fail = write_all(cli, msg, sizeof(msg) - 1)) ||
	    (fail = read_exact(srv, got, sizeof(msg) - 1)))
		return fail;
	if (memcmp(got, msg, sizeof(msg) - 1))
		return "the bytes arrived changed";
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tcp_tx), &cli, &tx) || !tx.decided)
		return "the sending side decided no ids";
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tcp_rx), &srv, &rx))
		return "no option arrived (the kernel did not write it, or something on the path "
		       "strips unknown options)";
	for (i = 0; i < SONDE_TCP_RX_SLOTS; i++)
		if (rx.slot[i].seq == tx.start_seq &&
		    rx.slot[i].end - rx.slot[i].seq == sizeof(msg) - 1 &&
		    !memcmp(rx.slot[i].trace_id, tx.trace_id, 16) &&
		    !memcmp(rx.slot[i].span_id, tx.span_id, 8))
			return NULL;
	return "the option that arrived does not hold the ids sent over the request's bytes";
}

/*
 * TCP-option propagation (--propagation tcp): the sockops program alone from a second copy of
 * the object, attached to the cgroup v2 root for the test's few milliseconds, with filters that
 * let only the test's own connection through; one request over loopback, then the sender's
 * socket storage must hold ids and the receiver's the same ids over the request's first byte.
 * It proves that this kernel writes and parses header options (5.10+) and that nothing on the
 * path strips them. 0, or -errno with why.
 */
int selftest__tcp_option(char *why, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	struct sonde_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	int ring = -1, l = -1, cli = -1, srv = -1, cg = -1, err;
	const char *fail;
	char cgpath[256];

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
	fail = tcp_option_exchange(skel, cli, srv);
	if (fail) {
		snprintf(why, len, "TCP option self-test: %s", fail);
		err = -EIO;
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
