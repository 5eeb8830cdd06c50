// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The stream cursor (agent/stream.c): what every decoder is handed, from the kernel's runs. A
 * decoder that records each call stands in for a protocol (it is the cursor under test, not a
 * decoder).
 */
#include <string.h>

#include "stream.h"
#include "unit.h"

#define MAX_CALLS 16

struct call {
	char what; /* 'f' feed, 'e' run end */
	bool from_client;
	bool run_start;
	bool run_end;	  /* feed: the rest of a run that ends */
	uint64_t gap, tail, ts;
	size_t len;
	uint32_t seq;	  /* run end: the run's number */
	uint16_t status; /* run end: http1_status */
};

static struct call calls[MAX_CALLS];
static int n_calls;

static void rec_feed(void *st, bool from_client, const struct decoder_chunk *c,
		     const struct decoder_sink *out)
{
	if (n_calls < MAX_CALLS)
		calls[n_calls++] = (struct call){'f', from_client, c->run_start, c->run_end, c->gap,
						 c->tail, c->ts, c->len, 0, 0};
}

static void rec_run_end(void *st, bool from_client, const struct sonde_run_summary *run,
			const struct decoder_sink *out)
{
	if (n_calls < MAX_CALLS)
		calls[n_calls++] = (struct call){'e', from_client, false, false, 0, 0,
						 run->last_ts_ns, 0, run->seq, run->http1_status};
}

static const struct decoder recorder = {.name = "recorder", .feed = rec_feed,
					.run_end = rec_run_end};
static struct decoder_sink sink;
static const struct stream_target target = {&recorder, NULL, true, &sink};

static void io(struct stream *s, uint32_t seq, uint64_t off, uint32_t bytes, uint32_t cap,
	       uint64_t ts)
{
	static const uint8_t data[64];
	struct stream_io x = {seq, off, bytes, data, cap, ts, 7, 7};

	stream__io(s, &target, &x);
}

static void run_end(struct stream *s, uint32_t seq, uint64_t bytes, uint64_t last,
		    uint16_t status)
{
	struct sonde_run_summary r = {.first_ts_ns = last, .last_ts_ns = last, .bytes = bytes,
				      .seq = seq, .dir = SONDE_DIR_EGRESS, .http1_status = status};

	stream__run_end(s, &target, &r);
}

/* Captured bytes, the uncaptured rest of an I/O, an I/O without a record, the run's end. */
TEST(gaps_and_tails_and_the_end)
{
	struct stream s = {0};

	n_calls = 0;
	io(&s, 1, 0, 100, 40, 10);    /* 40 captured of 100 */
	io(&s, 1, 150, 20, 20, 30);   /* 50 bytes went by with no record */
	run_end(&s, 1, 400, 50, 0);   /* 230 more after the last record */
	CHECK_EQ_INT(n_calls, 4);
	CHECK(calls[0].what == 'f' && calls[0].run_start && !calls[0].run_end &&
	      calls[0].gap == 0 && calls[0].len == 40 && calls[0].tail == 60);
	CHECK(calls[1].what == 'f' && !calls[1].run_start && calls[1].gap == 50 &&
	      calls[1].len == 20 && calls[1].tail == 0);
	CHECK(calls[2].what == 'f' && calls[2].run_end && calls[2].gap == 230 &&
	      calls[2].len == 0 && calls[2].ts == 50);
	CHECK(calls[3].what == 'e' && calls[3].seq == 1 && calls[3].ts == 50);
	/* the same end again (the close after the next record's prev): nothing */
	run_end(&s, 1, 400, 50, 0);
	CHECK_EQ_INT(n_calls, 4);
}

/* A record delivered twice is dropped; a new run starts afresh. */
TEST(duplicates_and_new_runs)
{
	struct stream s = {0};

	n_calls = 0;
	io(&s, 3, 0, 10, 10, 1);
	io(&s, 3, 0, 10, 10, 1);
	CHECK_EQ_INT(n_calls, 1);
	io(&s, 5, 0, 8, 8, 2);
	CHECK_EQ_INT(n_calls, 2);
	CHECK(calls[1].run_start && calls[1].gap == 0);
	/* an older run's end after a newer run began: nothing */
	run_end(&s, 3, 10, 1, 0);
	CHECK_EQ_INT(n_calls, 2);
}

/* A run with no record at all: lost to a full ring (one gap, from a run start), or summarized
 * by a capture policy (its bytes are accounted for: no gap, just the end with its status). */
TEST(runs_without_records)
{
	struct stream s = {0};

	n_calls = 0;
	io(&s, 1, 0, 10, 10, 1);
	run_end(&s, 3, 700, 9, 0);
	CHECK_EQ_INT(n_calls, 3);
	CHECK(calls[1].what == 'f' && calls[1].run_start && calls[1].run_end &&
	      calls[1].gap == 700 && calls[1].len == 0);
	CHECK(calls[2].what == 'e' && calls[2].seq == 3);
	run_end(&s, 5, 120, 12, 200);
	CHECK_EQ_INT(n_calls, 4);
	CHECK(calls[3].what == 'e' && calls[3].seq == 5 && calls[3].status == 200);
	/* the run ended: the agent's stop does nothing more */
	stream__stop(&s, &target, SONDE_DIR_EGRESS, 99);
	CHECK_EQ_INT(n_calls, 4);
}

/* The agent stops mid-run: the run ends where it stands, once. */
TEST(stop_mid_run)
{
	struct stream s = {0};

	n_calls = 0;
	stream__stop(&s, &target, SONDE_DIR_EGRESS, 5); /* no run yet */
	CHECK_EQ_INT(n_calls, 0);
	io(&s, 2, 0, 30, 30, 4);
	stream__stop(&s, &target, SONDE_DIR_EGRESS, 6);
	stream__stop(&s, &target, SONDE_DIR_EGRESS, 7);
	CHECK_EQ_INT(n_calls, 2);
	CHECK(calls[1].what == 'e' && calls[1].seq == 2 && calls[1].ts == 6);
}

/* The kernel's context goes to the operation that starts at its I/O, once. */
TEST(kernel_context_taken_once_by_start)
{
	struct sonde_trace_ctx k = {.kind = SONDE_CTX_SERVER, .trace_id = {1}}, out;
	struct stream s = {0};

	stream__set_kctx(&s, &k, 100);
	CHECK(!stream__take_kctx(&s, 99, &out));
	CHECK(stream__take_kctx(&s, 100, &out));
	CHECK(out.kind == SONDE_CTX_SERVER && out.trace_id[0] == 1);
	CHECK(!stream__take_kctx(&s, 100, &out));
}

int main(void)
{
	RUN(gaps_and_tails_and_the_end);
	RUN(duplicates_and_new_runs);
	RUN(runs_without_records);
	RUN(stop_mid_run);
	RUN(kernel_context_taken_once_by_start);
	UNIT_DONE();
}
