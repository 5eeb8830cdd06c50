/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for grpc-go's stream hand-offs (agent/go_streams.c) over the real thread table
 * (agent/linker.c): a handler goroutine serves its stream's request whichever of the SERVE
 * record and the operation comes first, through the connection's reader or its accepting
 * goroutine, until the response starts; an accepting goroutine's g reused by the next
 * connection mixes nothing up; a reused goroutine serves only its new stream; a
 * retrace reaches its calls; a client stream's owner is given once.
 */
#include <string.h>

#include "go_streams.h"
#include "linker.h"
#include "unit.h"

#define TGID 7

static struct linker *l;
static struct go_streams *gs;

static void setup(void)
{
	l = linker__new();
	gs = go_streams__new(l);
}

static void teardown(void)
{
	go_streams__free(gs);
	linker__free(l);
}

/* The span id the handler goroutine g's calls at ts go under, its first byte; 0 for none. */
static int parent(uint64_t g, uint64_t ts)
{
	uint8_t t[16], s[8];

	return linker__parent_at(l, TGID, g, ts, 0, t, s) ? s[0] : 0;
}

/* A SERVE record: g handles stream, read by io_g or first_g, taken as readers since 0 (these
 * tests send no ROLE record) unless they say otherwise. */
static void serve(uint64_t g, uint64_t io_g, uint64_t first_g, uint32_t stream, uint64_t ts)
{
	struct go_stream_readers r = {.io_g = io_g, .first_g = first_g};

	go_streams__serve(gs, TGID, g, &r, stream, ts);
}

static int parent_trace(uint64_t g, uint64_t ts)
{
	uint8_t t[16], s[8];

	return linker__parent_at(l, TGID, g, ts, 0, t, s) ? t[0] : 0;
}

TEST(handler_serves_its_stream_either_order)
{
	uint8_t t1[16] = {1}, s1[8] = {11}, t2[16] = {2}, s2[8] = {12};
	struct go_streams_stats st;

	setup();
	/* the operation first (the reader's read), then the handler's SERVE record */
	go_streams__server_begin(gs, TGID, 100, 1, 1000, t1, s1);
	CHECK_EQ_INT(parent(200, 1050), 0);
	serve(200, 100, 0, 1, 1100);
	CHECK_EQ_INT(parent(200, 1200), 11);
	CHECK_EQ_INT(parent(100, 1200), 0); /* the reader serves nothing */
	go_streams__server_answered(gs, TGID, 100, 1, s1, 1500);
	CHECK_EQ_INT(parent(200, 1600), 0);
	go_streams__server_done(gs, TGID, 100, 1, s1, 1700);
	/* the SERVE record first */
	serve(201, 100, 0, 3, 2000);
	CHECK_EQ_INT(parent(201, 2100), 0);
	go_streams__server_begin(gs, TGID, 100, 3, 1990, t2, s2);
	CHECK_EQ_INT(parent(201, 2100), 12);
	/* done without an answer: it stops serving too */
	go_streams__server_done(gs, TGID, 100, 3, s2, 2500);
	CHECK_EQ_INT(parent(201, 2600), 0);
	go_streams__stats(gs, &st);
	CHECK_EQ_INT(st.served, 2);
	teardown();
}

TEST(first_requests_read_by_the_accepting_goroutine)
{
	uint8_t t1[16] = {1}, s1[8] = {21};
	struct go_streams_stats st;

	setup();
	/* the accepting goroutine 300's read held stream 1; the reader is 301 */
	go_streams__server_begin(gs, TGID, 300, 1, 1000, t1, s1);
	serve(400, 301, 300, 1, 1100);
	CHECK_EQ_INT(parent(400, 1200), 21);
	/* a connection accepted before the uprobes: no reader known, nothing tied */
	serve(401, 0, 0, 5, 1300);
	CHECK_EQ_INT(parent(401, 1400), 0);
	go_streams__stats(gs, &st);
	CHECK_EQ_INT(st.served, 1);
	CHECK_EQ_INT(st.unread, 1);
	teardown();
}

/*
 * An accepting goroutine exits once it has read its connection's preface, and the next
 * connection's often gets its g: two connections' first streams, same ids, read by the same
 * g. Each handler is tied to its own connection's request, by when its accepting goroutine
 * began (a fresh-clone CI run put 12 of 300 calls under another connection's request).
 */
TEST(accepting_goroutine_reused_by_the_next_connection)
{
	uint8_t t[16] = {1}, a1[8] = {51}, a3[8] = {53}, b1[8] = {61};
	struct go_stream_readers ra1 = {.io_g = 301, .io_since = 1005, .first_g = 300,
					.first_since = 900},
				 rb1 = {.io_g = 302, .io_since = 1025, .first_g = 300,
					.first_since = 1010};

	setup();
	go_streams__role(gs, TGID, 300, 900); /* accepts A, reads its streams 1 and 3 */
	go_streams__server_begin(gs, TGID, 300, 1, 1000, t, a1);
	go_streams__server_begin(gs, TGID, 300, 3, 1001, t, a3);
	go_streams__role(gs, TGID, 301, 1005); /* A's reader */
	go_streams__role(gs, TGID, 300, 1010); /* the same g accepts B, reads its stream 1 */
	go_streams__server_begin(gs, TGID, 300, 1, 1020, t, b1);
	go_streams__role(gs, TGID, 302, 1025); /* B's reader */
	go_streams__serve(gs, TGID, 400, &ra1, 1, 1030);
	go_streams__serve(gs, TGID, 401, &rb1, 1, 1040);
	go_streams__serve(gs, TGID, 402, &ra1, 3, 1050);
	CHECK_EQ_INT(parent(400, 1060), 51);
	CHECK_EQ_INT(parent(401, 1060), 61);
	CHECK_EQ_INT(parent(402, 1060), 53);
	/* A's stream 1 answered: its handler stops serving; B's goes on */
	go_streams__server_done(gs, TGID, 300, 1, a1, 1070);
	CHECK_EQ_INT(parent(400, 1080), 0);
	CHECK_EQ_INT(parent(401, 1080), 61);
	/* B's reader reads stream 3 of B: it is not A's stream 3 */
	go_streams__server_begin(gs, TGID, 302, 3, 1090, t, a1);
	CHECK_EQ_INT(parent(402, 1100), 53);
	teardown();
}

/* grpc-go reuses a goroutine whose handler returned before its response was written. */
TEST(reused_goroutine_serves_only_its_new_stream)
{
	uint8_t t1[16] = {1}, s1[8] = {31}, t2[16] = {2}, s2[8] = {32};

	setup();
	go_streams__server_begin(gs, TGID, 100, 1, 1000, t1, s1);
	serve(500, 100, 0, 1, 1010);
	go_streams__server_begin(gs, TGID, 100, 3, 1020, t2, s2);
	serve(500, 100, 0, 3, 1030);
	CHECK_EQ_INT(parent(500, 1040), 32);
	CHECK_EQ_INT(parent(500, 1025), 31); /* before the reuse, the first one */
	/* the first one's response, written late, changes nothing for the second */
	go_streams__server_answered(gs, TGID, 100, 1, s1, 1050);
	CHECK_EQ_INT(parent(500, 1060), 32);
	teardown();
}

TEST(retrace_reaches_the_handlers_calls)
{
	uint8_t t1[16] = {1}, s1[8] = {41}, caller[16] = {9};

	setup();
	go_streams__server_begin(gs, TGID, 100, 1, 1000, t1, s1);
	serve(600, 100, 0, 1, 1010);
	CHECK_EQ_INT(parent_trace(600, 1020), 1);
	go_streams__server_retrace(gs, TGID, 100, 1, s1, caller);
	CHECK_EQ_INT(parent_trace(600, 1030), 9);
	teardown();
}

TEST(client_stream_owner_given_once)
{
	struct go_streams_stats st;

	setup();
	go_streams__open(gs, TGID, 700, 800, 1, 1000);
	go_streams__open(gs, TGID, 701, 800, 3, 1001);
	CHECK(go_streams__owner(gs, TGID, 800, 3) == 701);
	CHECK(go_streams__owner(gs, TGID, 800, 1) == 700);
	CHECK(go_streams__owner(gs, TGID, 800, 1) == 0);
	CHECK(go_streams__owner(gs, TGID, 801, 5) == 0);
	CHECK(go_streams__owner(gs, TGID + 1, 800, 3) == 0);
	go_streams__stats(gs, &st);
	CHECK_EQ_INT(st.opened, 2);
	teardown();
}

/* Many streams at once, more than a window holds per slot: each finds its own. */
TEST(many_streams)
{
	uint8_t t[16] = {1}, s[8];
	uint32_t i;
	int bad = 0;

	setup();
	for (i = 0; i < 1000; i++) {
		memcpy(s, &i, sizeof(i));
		go_streams__server_begin(gs, TGID, 100 + i % 7, 2 * i + 1, 1000 + i, t, s);
		go_streams__open(gs, TGID, 5000 + i, 900 + i % 5, 2 * i + 1, 1000 + i);
	}
	for (i = 0; i < 1000; i++) {
		serve(3000 + i, 100 + i % 7, 0, 2 * i + 1, 3000);
		bad += parent(3000 + i, 3001) != (int)(i & 0xff);
		bad += go_streams__owner(gs, TGID, 900 + i % 5, 2 * i + 1) != 5000 + i;
	}
	CHECK_EQ_INT(bad, 0);
	teardown();
}

int main(void)
{
	RUN(handler_serves_its_stream_either_order);
	RUN(first_requests_read_by_the_accepting_goroutine);
	RUN(accepting_goroutine_reused_by_the_next_connection);
	RUN(reused_goroutine_serves_only_its_new_stream);
	RUN(retrace_reaches_the_handlers_calls);
	RUN(client_stream_owner_given_once);
	RUN(many_streams);
	UNIT_DONE();
}
