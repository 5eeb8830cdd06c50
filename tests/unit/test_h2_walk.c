// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP/2 frame walk in the kernel (bpf/h2_frames.bpf.h), run for real as
 * test_capture_policy runs the capture: the syscall fallback's exit program, loaded alone and
 * driven with BPF_PROG_RUN, as if this thread sent a connection's bytes in I/Os of every size.
 * The records' payloads, put end to end, must be the stream with the left-out payloads (DATA,
 * PING, WINDOW_UPDATE) removed and nothing else, wherever the I/Os cut it past the preface
 * (which a client writes whole, and the kernel reads from its first buffer; inside a frame
 * header at each of its 9 bytes, inside a kept payload, inside a left-out one), from a plain
 * buffer or an iovec array cut anywhere; and each record's walk fields must say where its I/O
 * started. Needs root (CAP_BPF, CAP_PERFMON): without it the test says so and counts nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "exit_prog.h"
#include "sonde_event.h"
#include "unit.h"

/* As bpf/syscall_args.bpf.h and bpf/maps/syscall_io.bpf.h have them (BPF-only headers). */
#define BUF_PLAIN 1
#define BUF_IOVEC 2
struct syscall_io {
	__u64 sk, arg, go_g;
	__u32 flags;
	__u16 kind, dir;
};

static struct sonde_bpf *skel;
static int ring_fd = -1;
static struct ring_buffer *rb;

/* The connection's bytes, and what the records must hold of them. */
static uint8_t stream[4096], want[4096];
static size_t stream_len, want_len;
/* Where each frame header starts in the stream, and whether its payload is kept. */
static size_t heads[64];
static bool kept[64];
static size_t n_heads;

/* What the records gave, end to end. */
static uint8_t got[8192];
static size_t got_len;
static int records, bad_walk;
static uint64_t io_start; /* the stream offset of the I/O under way */

static void frame(uint8_t type, uint8_t flags, uint32_t sid, size_t len, uint8_t fill)
{
	uint8_t *p = stream + stream_len;
	bool keep = type == 1 || type == 3 || type == 4 || type == 5 || type == 7 || type == 9;

	heads[n_heads] = stream_len;
	kept[n_heads++] = keep;
	p[0] = (uint8_t)(len >> 16), p[1] = (uint8_t)(len >> 8), p[2] = (uint8_t)len;
	p[3] = type, p[4] = flags;
	p[5] = (uint8_t)(sid >> 24), p[6] = (uint8_t)(sid >> 16), p[7] = (uint8_t)(sid >> 8);
	p[8] = (uint8_t)sid;
	memset(p + 9, fill, len);
	memcpy(want + want_len, p, 9 + (keep ? len : 0));
	want_len += 9 + (keep ? len : 0);
	stream_len += 9 + len;
}

/* A client's start: the preface, SETTINGS, a request, a large body, a PING, another request. */
static void build(void)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	stream_len = want_len = n_heads = 0;
	memcpy(stream, preface, 24);
	memcpy(want, preface, 24);
	stream_len = want_len = 24;
	frame(4, 0, 0, 12, 0x11);	  /* SETTINGS */
	frame(8, 0, 0, 4, 0x22);	  /* WINDOW_UPDATE: left out */
	frame(1, 4, 1, 40, 0x33);	  /* HEADERS */
	frame(0, 0, 1, 1500, 0x44);	  /* DATA: left out */
	frame(0, 1, 1, 0, 0);		  /* DATA, END_STREAM, empty */
	frame(6, 0, 0, 8, 0x55);	  /* PING: left out */
	frame(1, 1, 3, 20, 0x66);	  /* HEADERS, END_STREAM... */
	frame(9, 4, 3, 30, 0x77);	  /* ... and its CONTINUATION */
	frame(3, 0, 3, 4, 0x88);	  /* RST_STREAM */
}

/* The walk's cursor at stream offset at, as the kernel keeps it: payload left, header part. */
static void cursor_at(size_t at, uint32_t *left, uint8_t *part, bool *elided)
{
	size_t i, end;

	*left = 0, *part = 0, *elided = false;
	if (at < 24) { /* inside the preface, walked as a kept payload */
		*left = (uint32_t)(24 - at);
		return;
	}
	for (i = 0; i < n_heads; i++) {
		end = i + 1 < n_heads ? heads[i + 1] : stream_len;
		if (at >= heads[i] && at < end) {
			if (at - heads[i] < 9) {
				*part = (uint8_t)(at - heads[i]);
			} else {
				*left = (uint32_t)(end - at);
				*elided = !kept[i];
			}
			return;
		}
	}
}

static int on_rec(void *ctx, void *data, size_t size)
{
	const struct sonde_data_event *ev = data;
	uint32_t left;
	uint8_t part;
	bool elided;

	(void)ctx;
	if (ev->head.kind != SONDE_EV_DATA)
		return 0;
	records++;
	if (!(ev->walk_flags & SONDE_WALK_ON) || (ev->walk_flags & SONDE_WALK_LOST) ||
	    ev->cap_len > size - offsetof(struct sonde_data_event, payload)) {
		bad_walk++;
		return 0;
	}
	cursor_at(io_start, &left, &part, &elided);
	if (ev->walk_left != left || ev->walk_part != part ||
	    (left && elided != !!(ev->walk_flags & SONDE_WALK_ELIDED)))
		bad_walk++;
	memcpy(got + got_len, ev->payload, ev->cap_len);
	got_len += ev->cap_len;
	return 0;
}

/* One I/O of the stream's bytes [at, at + n) on sock, sent from a plain buffer or, with
 * cut > 0, from two iovec entries split cut bytes in. */
static int io(uint64_t sock, size_t at, size_t n, size_t cut)
{
	uint64_t pid_tgid = (uint64_t)getpid() << 32 | (uint32_t)syscall(SYS_gettid);
	struct iovec v[2] = {{stream + at, cut}, {stream + at + cut, n - cut}};
	struct syscall_io saved = {.sk = sock, .dir = SONDE_DIR_EGRESS};
	__u64 args[2] = {0, (__u64)n}; /* regs (unused), ret */
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	saved.kind = cut ? BUF_IOVEC : BUF_PLAIN;
	saved.arg = cut ? (uintptr_t)v : (uintptr_t)(stream + at);
	io_start = at;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.syscall_io), &pid_tgid, &saved, BPF_ANY) ||
	    bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sonde_sys_exit), &o)) {
		fprintf(stderr, "BPF_PROG_RUN: %s\n", strerror(errno));
		return -1;
	}
	ring_buffer__consume(rb);
	return 0;
}

static void reset(void)
{
	got_len = 0, records = 0, bad_walk = 0;
}

static bool same(void)
{
	return got_len == want_len && !memcmp(got, want, want_len);
}

static int load(void)
{
	skel = exit_prog__open(4096);
	if (!skel)
		return -errno;
	skel->rodata->run_captures = 4;
	skel->rodata->capture_bytes = SONDE_PAYLOAD_MAX;
	return exit_prog__load(skel, 1 << 20, on_rec, &ring_fd, &rb);
}

static uint64_t next_sock = 0x10000;

TEST(one_write_keeps_headers_and_header_blocks_only)
{
	build();
	reset();
	io(next_sock++, 0, stream_len, 0);
	CHECK_EQ_INT(records, 1);
	CHECK_EQ_INT(bad_walk, 0);
	CHECK(same());
}

/* Two writes, cut at every offset past the preface (the kernel reads the preface from the
 * first I/O's first buffer: clients write it whole), headers cut at each of their bytes. */
TEST(two_writes_cut_anywhere)
{
	size_t cut, fails = 0;

	build();
	for (cut = 24; cut < stream_len; cut++) {
		reset();
		io(next_sock, 0, cut, 0);
		io(next_sock++, cut, stream_len - cut, 0);
		if (!same() || bad_walk) {
			if (!fails++)
				fprintf(stderr, "  first failing cut: %zu (%zu bytes, want %zu)\n", cut,
					got_len, want_len);
		}
	}
	CHECK_EQ_INT(fails, 0);
}

/* Writes of 7 bytes: no frame header in one piece; most writes hold left-out bytes only. */
TEST(small_writes_and_skipped_records)
{
	size_t at;

	build();
	reset();
	io(next_sock, 0, 24, 0);
	for (at = 24; at < stream_len; at += 7)
		io(next_sock, at, stream_len - at < 7 ? stream_len - at : 7, 0);
	next_sock++;
	CHECK_EQ_INT(bad_walk, 0);
	CHECK(same());
	CHECK(records < (int)(stream_len / 7)); /* the DATA payload's writes wrote nothing */
}

/* One write from two iovec entries, cut at every offset (grpcio's sendmsg). */
TEST(iovec_entries_cut_anywhere)
{
	size_t cut, fails = 0;

	build();
	for (cut = 24; cut < stream_len; cut++) {
		reset();
		io(next_sock++, 0, stream_len, cut);
		if (!same() || bad_walk || records != 1)
			if (!fails++)
				fprintf(stderr, "  first failing iovec cut: %zu\n", cut);
	}
	CHECK_EQ_INT(fails, 0);
}

TEST(a_connection_without_the_preface_is_not_walked)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	uint64_t sock = next_sock++;
	struct sonde_conn_state st;

	memcpy(stream, req, sizeof(req) - 1);
	stream_len = sizeof(req) - 1;
	reset();
	io(sock, 0, stream_len, 0);
	CHECK_EQ_INT(bad_walk, 1); /* a record, but not a walked one */
	CHECK_EQ_INT(bpf_map_lookup_elem(bpf_map__fd(skel->maps.conns), &sock, &st), 0);
	CHECK_EQ_INT(st.policy, SONDE_CAPTURE_RUNS);
}

int main(void)
{
	int err;

	if (geteuid() != 0) {
		printf("test_h2_walk: skipped, it needs root (BPF_PROG_RUN)\n");
		UNIT_DONE();
	}
	libbpf_set_print(NULL);
	err = load();
	if (err) {
		fprintf(stderr, "cannot load the exit program: %s\n", strerror(-err));
		unit_tests_failed++;
		UNIT_DONE();
	}
	RUN(one_write_keeps_headers_and_header_blocks_only);
	RUN(two_writes_cut_anywhere);
	RUN(small_writes_and_skipped_records);
	RUN(iovec_entries_cut_anywhere);
	RUN(a_connection_without_the_preface_is_not_walked);
	ring_buffer__free(rb);
	sonde_bpf__destroy(skel);
	close(ring_fd);
	UNIT_DONE();
}
