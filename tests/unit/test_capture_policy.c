// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The capture policy in the kernel (bpf/capture.bpf.h), run for real: the syscall fallback's
 * exit program is loaded alone and driven with BPF_PROG_RUN, as if this thread had sent and
 * received on a socket (the entry's saved arguments are written to syscall_io by hand, the
 * payload is this test's memory). The records it writes are counted. RUNS records the first
 * run_captures I/Os of a run; EVERY_IO, taken at the next run start after the policy is written
 * (as loader__capture_policy does: the map, then the generation), every I/O of every run in
 * either direction; back to RUNS at the run after. Needs root (CAP_BPF, CAP_PERFMON): without
 * it the test says so and counts nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "exit_prog.h"
#include "sonde_event.h"
#include "unit.h"

/* As bpf/syscall_args.bpf.h and bpf/maps/syscall_io.bpf.h have them (BPF-only headers). */
#define BUF_PLAIN 1
struct syscall_io {
	__u64 sk, arg, go_g;
	__u32 flags;
	__u16 kind, dir;
};

static struct sonde_bpf *skel;
static int ring_fd = -1;
static struct ring_buffer *rb;
static int data_records, other_records;
static char payload[64] = "GET /policy HTTP/1.1\r\nHost: x\r\n\r\n";

static int on_rec(void *ctx, void *data, size_t size)
{
	const struct sonde_event_head *h = data;

	if (h->kind == SONDE_EV_DATA)
		data_records++;
	else
		other_records++;
	return 0;
}

/* One I/O of bytes on sock in dir, through the exit program; the records it wrote. */
static int io(uint64_t sock, uint16_t dir, long bytes)
{
	uint64_t pid_tgid = (uint64_t)getpid() << 32 | (uint32_t)syscall(SYS_gettid);
	struct syscall_io saved = {.sk = sock, .arg = (uintptr_t)payload, .kind = BUF_PLAIN,
				   .dir = dir};
	__u64 args[2] = {0, (__u64)bytes}; /* regs (unused), ret */
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));
	int before = data_records;

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.syscall_io), &pid_tgid, &saved, BPF_ANY) ||
	    bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sonde_sys_exit), &o)) {
		fprintf(stderr, "BPF_PROG_RUN: %s\n", strerror(errno));
		return -1;
	}
	ring_buffer__consume(rb);
	return data_records - before;
}

/* n I/Os in a row; the data records they wrote. */
static int run(uint64_t sock, uint16_t dir, int n)
{
	int i, got = 0;

	for (i = 0; i < n; i++)
		got += io(sock, dir, 10);
	return got;
}

/* As loader__capture_policy: the entry (for connection conn_id), then the generation the
 * programs compare. */
static void ask_policy(uint64_t sock, uint64_t conn_id, uint8_t policy)
{
	struct sonde_policy_ask ask = {.conn_id = conn_id, .policy = policy};

	CHECK_EQ_INT(bpf_map_update_elem(bpf_map__fd(skel->maps.conn_policy), &sock, &ask,
					 BPF_ANY), 0);
	__atomic_add_fetch(&skel->bss->conn_policy_gen, 1, __ATOMIC_RELEASE);
}

/* The id the kernel gave the connection at sock (0 when it has none). */
static uint64_t conn_id_of(uint64_t sock)
{
	struct sonde_conn_state st;

	return bpf_map_lookup_elem(bpf_map__fd(skel->maps.conns), &sock, &st) ? 0 : st.conn_id;
}

/* For the connection at sock now. */
static void set_policy(uint64_t sock, uint8_t policy)
{
	ask_policy(sock, conn_id_of(sock), policy);
}

static int load(void)
{
	skel = exit_prog__open(64);
	if (!skel)
		return -errno;
	skel->rodata->run_captures = 4;
	return exit_prog__load(skel, 1 << 16, on_rec, &ring_fd, &rb);
}

TEST(runs_records_the_first_captures_of_a_run)
{
	const uint64_t sock = 0x1000;

	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 10), 4);
	CHECK_EQ_INT(run(sock, SONDE_DIR_INGRESS, 3), 3);
	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 6), 4);
	CHECK(other_records >= 2); /* the connection's OPEN and the process's PROC */
}

TEST(every_io_records_every_io_from_the_next_run_on)
{
	const uint64_t sock = 0x2000;
	struct sonde_conn_state st;

	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 2), 2);
	set_policy(sock, SONDE_CAPTURE_EVERY_IO);
	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 5), 2); /* the same run: 4 in all, as before */
	CHECK_EQ_INT(run(sock, SONDE_DIR_INGRESS, 9), 9); /* the next run takes it: every I/O */
	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 12), 12); /* and in the other direction */
	CHECK_EQ_INT(bpf_map_lookup_elem(bpf_map__fd(skel->maps.conns), &sock, &st), 0);
	CHECK_EQ_INT(st.policy, SONDE_CAPTURE_EVERY_IO);
	CHECK_EQ_INT(st.run_captures, 0);
	/* the entry was taken: the map holds nothing for the connection now */
	{
		struct sonde_policy_ask v;

		CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.conn_policy), &sock, &v) != 0);
	}
	set_policy(sock, SONDE_CAPTURE_RUNS);
	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 3), 3); /* the run under way goes on */
	CHECK_EQ_INT(run(sock, SONDE_DIR_INGRESS, 8), 4); /* RUNS again from the next one */
}

TEST(a_policy_written_for_another_connection_changes_nothing)
{
	const uint64_t sock = 0x3000;

	set_policy(0x4000, SONDE_CAPTURE_EVERY_IO);
	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 7), 4);
	CHECK_EQ_INT(run(sock, SONDE_DIR_INGRESS, 7), 4);
}

/*
 * The agent reads the records behind the kernel: an ask it makes for a connection that closed
 * meanwhile may find a later connection at the socket's address. That one keeps its policy
 * (the last CI's HTTP/2 over TLS connection took the summaries asked for the HTTP/1.1 one
 * before it, and was never walked), and the ask is dropped.
 */
TEST(an_ask_for_an_earlier_connection_at_the_address_is_dropped)
{
	const uint64_t sock = 0x5000;
	struct sonde_policy_ask v;
	struct sonde_conn_state st;

	CHECK_EQ_INT(run(sock, SONDE_DIR_EGRESS, 2), 2);
	CHECK(conn_id_of(sock) != 0);
	ask_policy(sock, conn_id_of(sock) - 1, SONDE_CAPTURE_EVERY_IO);
	CHECK_EQ_INT(run(sock, SONDE_DIR_INGRESS, 7), 4); /* still RUNS */
	CHECK_EQ_INT(bpf_map_lookup_elem(bpf_map__fd(skel->maps.conns), &sock, &st), 0);
	CHECK_EQ_INT(st.policy, SONDE_CAPTURE_RUNS);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.conn_policy), &sock, &v) != 0);
}

int main(void)
{
	int err;

	if (geteuid() != 0) {
		printf("test_capture_policy: skipped, it needs root (BPF_PROG_RUN)\n");
		UNIT_DONE();
	}
	libbpf_set_print(NULL);
	err = load();
	if (err) {
		fprintf(stderr, "cannot load the exit program: %s\n", strerror(-err));
		unit_tests_failed++;
		UNIT_DONE();
	}
	RUN(runs_records_the_first_captures_of_a_run);
	RUN(every_io_records_every_io_from_the_next_run_on);
	RUN(a_policy_written_for_another_connection_changes_nothing);
	RUN(an_ask_for_an_earlier_connection_at_the_address_is_dropped);
	ring_buffer__free(rb);
	sonde_bpf__destroy(skel);
	close(ring_fd);
	UNIT_DONE();
}
