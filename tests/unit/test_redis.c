/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the Redis decoder over byte sequences as redis-cli, redis-py and redis-server
 * send them: detection, commands and replies of every RESP2 and RESP3 type, inline commands,
 * pipelines split at every byte boundary, errors, SELECT, MULTI/EXEC, pub/sub and MONITOR
 * pushes, bytes the kernel only counted (skipped bulk strings, lost framing, huge replies),
 * the bounded FIFO, query text modes and connections that close.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/db.h"
#include "decoders/redis.h"
#include "unit.h"

#define MAX_OPS 600

struct sink {
	struct db_op ops[MAX_OPS];
	int n;
	int lost[2];	/* lost calls, by from_client */
	int give_up;	/* give_up calls */
	int not_mine;	/* ... that said the other end does not speak the protocol */
	int bad_head;	/* ops reported with the core's part of the head not zero */
	int other;	/* calls a database decoder never makes (begin, answered) */
	int policies;	/* capture policies asked for */
	uint8_t policy; /* ... the last one */
};

static struct sink snk;

/* Longer than the server's quiet stretch after which a pipelining client that lost its
 * framing is read again (RD_QUIET_NS). */
#define QUIET 60000000ULL

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void on_op(void *ctx, struct op_head *h)
{
	struct sink *s = ctx;

	if (h->has_ctx || !zero(&h->ctx, sizeof(h->ctx)) || h->begun || h->awaiting_peer ||
	    !zero(h->trace_id, 16) || !zero(h->span_id, 8) || !zero(h->parent_id, 8))
		s->bad_head++;
	if (s->n < MAX_OPS)
		s->ops[s->n] = *(const struct db_op *)h;
	s->n++;
}

static void on_lost(void *ctx, bool from_client)
{
	struct sink *s = ctx;

	s->lost[from_client]++;
}

static void on_give_up(void *ctx, bool not_mine)
{
	struct sink *s = ctx;

	s->give_up++;
	s->not_mine += not_mine;
}

static void on_begin(void *ctx, struct op_head *h)
{
	((struct sink *)ctx)->other++;
}

static void on_answered(void *ctx, struct op_head *h, uint64_t ts)
{
	((struct sink *)ctx)->other++;
}

static void on_policy(void *ctx, uint8_t policy)
{
	struct sink *s = ctx;

	s->policies++;
	s->policy = policy;
}

static const struct decoder_sink out = {
	.begin = on_begin, .answered = on_answered, .done = on_op, .lost = on_lost,
	.policy = on_policy, .give_up = on_give_up, .ctx = &snk,
};

static struct sonde_config cfg;
static struct conn_info info;

static void *new_state(enum db_query_mode mode)
{
	struct decoder_env env = { .cfg = &cfg, .conn = &info };

	snk.n = 0;
	snk.lost[0] = snk.lost[1] = 0;
	snk.give_up = snk.not_mine = snk.bad_head = snk.other = snk.policies = 0;
	snk.policy = 0;
	cfg.db.query_mode = mode;
	return redis_decoder.create(&env);
}

/* The decoder's state goes, after the checks every test makes of what it reported. */
static void free_state(void *st)
{
	CHECK_EQ_INT(snk.bad_head, 0);
	CHECK_EQ_INT(snk.other, 0);
	/* once, at its first bytes: every I/O gathered whole (bpf/gather.bpf.h) */
	CHECK(snk.policies <= 1);
	if (snk.policies)
		CHECK_EQ_INT(snk.policy, SONDE_CAPTURE_STREAM);
	redis_decoder.destroy(st);
}

/* The run of one direction ended, its last byte at ts. */
static void end_run(void *st, bool cli, uint64_t ts)
{
	struct sonde_run_summary r = { .last_ts_ns = ts };

	redis_decoder.run_end(st, cli, &r, &out);
}

/* One I/O: its bytes from an exact-size heap copy (ASan sees any read past them). */
static void io(void *st, bool cli, const void *s, size_t n, uint64_t gap, uint64_t tail,
	       uint64_t ts, bool run_start)
{
	uint8_t *b = malloc(n ? n : 1);
	struct decoder_chunk f = { 0 };

	memcpy(b, s, n);
	f.data = b;
	f.len = n;
	f.gap = gap;
	f.tail = tail;
	f.ts = ts;
	f.actor = cli ? 100 : 200;
	f.tid = cli ? 1100 : 1200;
	f.run_start = run_start;
	redis_decoder.feed(st, cli, &f, &out);
	free(b);
}

/* A captured I/O of a C string. */
static void ios(void *st, bool cli, const char *s, uint64_t ts, bool run_start)
{
	io(st, cli, s, strlen(s), 0, 0, ts, run_start);
}

/* A whole run in one I/O, the other direction's run ended before it. */
static void run(void *st, bool cli, const char *s, uint64_t ts)
{
	end_run(st, !cli, ts);
	io(st, cli, s, strlen(s), 0, 0, ts, true);
}

/* The decoder's counters; every framing loss counted went to the sink once. */
static struct redis_counts counts(void *st)
{
	struct redis_counts c;

	redis_get_counts(st, &c);
	CHECK_EQ_INT(c.lost, snk.lost[0] + snk.lost[1]);
	return c;
}

/* Everything the decoder counts as trouble: framing lost, commands dropped, replies unpaired. */
static uint64_t error_count(void *st)
{
	struct redis_counts c = counts(st);

	return c.lost + c.dropped + c.unpaired;
}

static enum detect_result det(const char *s, uint16_t lport, uint16_t rport)
{
	struct conn_info ci = { .have_tuple = lport || rport, .sport = lport, .dport = rport };
	size_t n = strlen(s);
	uint8_t *b = malloc(n ? n : 1);
	enum detect_result r;

	memcpy(b, s, n);
	r = redis_decoder.detect(b, n, &ci);
	free(b);
	return r;
}

TEST(detect_commands)
{
	CHECK_EQ_INT(det("*1\r\n$4\r\nPING\r\n", 40000, 51234), DETECT_CLIENT);
	CHECK_EQ_INT(det("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n", 40000, 51234),
		     DETECT_CLIENT);
	CHECK_EQ_INT(det("*2\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n", 1, 2), DETECT_CLIENT);
	/* unknown name, wrong length, cut before the name ends, zero or absurd counts */
	CHECK_EQ_INT(det("*1\r\n$4\r\nPONG\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("*1\r\n$3\r\nPING\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("*1\r\n$4\r\nPI", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("*0\r\n$4\r\nPING\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("*01\r\n$4\r\nPING\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("*99999999999\r\n$4\r\nPING\r\n", 6379, 1), DETECT_NO);
	/* replies alone do not claim a connection */
	CHECK_EQ_INT(det("+OK\r\n", 1, 6379), DETECT_NO);
	CHECK_EQ_INT(det("$5\r\nhello\r\n", 1, 6379), DETECT_NO);
	CHECK_EQ_INT(det("*2\r\n$7\r\nmessage\r\n", 1, 6379), DETECT_NO);
	CHECK_EQ_INT(det("-ERR unknown command\r\n", 1, 6379), DETECT_NO);
}

TEST(detect_inline)
{
	CHECK_EQ_INT(det("PING\r\n", 6379, 50000), DETECT_CLIENT);
	CHECK_EQ_INT(det("ping\n", 50000, 6379), DETECT_CLIENT);
	CHECK_EQ_INT(det("PING\r\n", 50000, 50001), DETECT_CLIENT);
	CHECK_EQ_INT(det("hgetall user:1\r\n", 50000, 50001), DETECT_CLIENT);
	/* words other protocols share: Redis only on its port */
	CHECK_EQ_INT(det("get key\r\n", 50000, 11211), DETECT_NO); /* memcached */
	CHECK_EQ_INT(det("get key\r\n", 50000, 6379), DETECT_CLIENT);
	CHECK_EQ_INT(det("QUIT\r\n", 50000, 21), DETECT_NO);
	CHECK_EQ_INT(det("PING :irc.example\r\n", 50000, 6667), DETECT_NO);
	CHECK_EQ_INT(det("AUTH PLAIN abc\r\n", 50000, 25), DETECT_NO);
	/* not a whole printable line, not a command */
	CHECK_EQ_INT(det("PING", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("PING\x01\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("HELO example.org\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("SSH-2.0-OpenSSH_9.2\r\n", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("\x16\x03\x01\x02\x00\x01", 6379, 1), DETECT_NO);
	CHECK_EQ_INT(det("", 6379, 1), DETECT_NO);
}

TEST(known_command_table)
{
	static const char *names[] = { "ACL", "ZUNIONSTORE", "GET", "get", "Set", "HGETALL",
				       "RESTORE-ASKING", "GEORADIUSBYMEMBER_RO", "EVAL_RO",
				       "SUNSUBSCRIBE", "XREADGROUP", "BITFIELD_RO" };
	size_t i;

	/* bsearch finds both ends and the odd characters only if the table is sorted */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(redis_known_command((const uint8_t *)names[i], strlen(names[i])));
	CHECK(!redis_known_command((const uint8_t *)"GETT", 4));
	CHECK(!redis_known_command((const uint8_t *)"GE", 2));
	CHECK(!redis_known_command((const uint8_t *)"", 0));
}

TEST(get_set_spans)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*3\r\n$3\r\nSET\r\n$4\r\nuser\r\n$5\r\nalice\r\n", 1000);
	CHECK(redis_decoder.waiting(st));
	run(st, false, "+OK\r\n", 1500);
	run(st, true, "*2\r\n$3\r\nget\r\n$4\r\nuser\r\n", 2000);
	run(st, false, "$5\r\nalice\r\n", 2600);
	run(st, true, "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n", 3000);
	run(st, false, "$-1\r\n", 3100);
	CHECK(!redis_decoder.waiting(st));
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[0].operation, "SET");
	CHECK_STR(snk.ops[0].query, "SET ? ?");
	CHECK_STR(snk.ops[0].namespace_, "0");
	CHECK_EQ_INT(snk.ops[0].system, DB_REDIS);
	CHECK_EQ_INT(snk.ops[0].head.start_ns, 1000);
	CHECK_EQ_INT(snk.ops[0].head.end_ns, 1500);
	CHECK_EQ_INT(snk.ops[0].head.actor, 100);
	CHECK_EQ_INT(snk.ops[0].head.tid, 1100);
	CHECK(!snk.ops[0].error && !snk.ops[0].head.incomplete);
	CHECK_EQ_INT(snk.ops[0].returned_rows, -1);
	CHECK_STR(snk.ops[1].operation, "GET");
	CHECK_STR(snk.ops[1].query, "GET ?");
	CHECK_EQ_INT(snk.ops[1].head.end_ns, 2600);
	CHECK_STR(snk.ops[2].summary, "");
	CHECK_EQ_INT(snk.ops[2].head.end_ns, 3100);
	CHECK_EQ_INT(counts(st).commands, 3);
	CHECK_EQ_INT(error_count(st), 0);
	free_state(st);
}

/* A redis-py style pipeline of five commands and its five replies. */
static const char pipe_cmds[] = "*1\r\n$5\r\nMULTI\r\n"
				"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
				"*2\r\n$4\r\nINCR\r\n$1\r\na\r\n"
				"*2\r\n$5\r\nLPUSH\r\n$1\r\na\r\n"
				"*1\r\n$4\r\nEXEC\r\n"
				"*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
static const char pipe_replies[] = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
				   "*3\r\n+OK\r\n:2\r\n-WRONGTYPE Operation against a key holding "
				   "the wrong kind of value\r\n"
				   "$1\r\n2\r\n";
static const char *const pipe_ops[] = { "MULTI", "SET", "INCR", "LPUSH", "EXEC", "GET" };

static void check_pipeline(const char *what, size_t split)
{
	int i;

	if (snk.n != 6) {
		fprintf(stderr, "%s split %zu: %d ops\n", what, split, snk.n);
		CHECK_EQ_INT(snk.n, 6);
		return;
	}
	for (i = 0; i < 6; i++) {
		if (strcmp(snk.ops[i].operation, pipe_ops[i]) || snk.ops[i].error ||
		    snk.ops[i].head.end_ns != 2000) {
			fprintf(stderr, "%s split %zu: op %d is %s\n", what, split, i,
				snk.ops[i].operation);
			CHECK(0);
		}
	}
	CHECK_EQ_INT(snk.ops[4].returned_rows, 3);
	CHECK_STR(snk.ops[1].query, "SET ? ?");
	/* EXEC runs the three commands sent since MULTI: a batch; the others are none */
	CHECK_EQ_INT(snk.ops[4].batch_size, 3);
	for (i = 0; i < 6; i++)
		if (i != 4)
			CHECK_EQ_INT(snk.ops[i].batch_size, 0);
}

TEST(pipeline_split_everywhere)
{
	size_t k, nc = strlen(pipe_cmds), nr = strlen(pipe_replies);
	void *st;

	/* the client's bytes split in two I/Os at every boundary */
	for (k = 0; k <= nc; k++) {
		st = new_state(DB_QUERY_SANITIZED);
		io(st, true, pipe_cmds, k, 0, 0, 1000, true);
		io(st, true, pipe_cmds + k, nc - k, 0, 0, 1001, false);
		run(st, false, pipe_replies, 2000);
		check_pipeline("client", k);
		CHECK_EQ_INT(error_count(st), 0);
		free_state(st);
	}
	/* the server's bytes likewise */
	for (k = 0; k <= nr; k++) {
		st = new_state(DB_QUERY_SANITIZED);
		run(st, true, pipe_cmds, 1000);
		end_run(st, true, 1000);
		io(st, false, pipe_replies, k, 0, 0, k == nr ? 2000 : 1999, true);
		io(st, false, pipe_replies + k, nr - k, 0, 0, 2000, false);
		/* every reply ends at the I/O that held its last byte */
		CHECK_EQ_INT(snk.n, 6);
		CHECK_EQ_INT(error_count(st), 0);
		free_state(st);
	}
	/* and one byte per I/O on both sides */
	st = new_state(DB_QUERY_SANITIZED);
	for (k = 0; k < nc; k++)
		io(st, true, pipe_cmds + k, 1, 0, 0, 1000, k == 0);
	end_run(st, true, 1000);
	for (k = 0; k < nr; k++)
		io(st, false, pipe_replies + k, 1, 0, 0, 2000, k == 0);
	check_pipeline("bytewise", 1);
	free_state(st);
}

TEST(errors)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*1\r\n$6\r\nFOOBAR\r\n", 10);
	run(st, false, "-ERR unknown command 'FOOBAR', with args beginning with: \r\n", 20);
	run(st, true, "*2\r\n$5\r\nLPUSH\r\n$1\r\ns\r\n", 30);
	run(st, false, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
	    40);
	run(st, true, "*1\r\n$4\r\nPING\r\n", 50);
	run(st, false, "-NOAUTH Authentication required.\r\n", 60);
	run(st, true, "*1\r\n$4\r\nPING\r\n", 70);
	run(st, false, "-this is not a code\r\n", 80);
	CHECK_EQ_INT(snk.n, 4);
	CHECK_STR(snk.ops[0].operation, "FOOBAR");
	CHECK(snk.ops[0].error);
	CHECK_STR(snk.ops[0].status_code, "ERR");
	CHECK_STR(snk.ops[0].error_type, "ERR");
	CHECK_STR(snk.ops[1].status_code, "WRONGTYPE");
	CHECK(snk.ops[1].error);
	CHECK_STR(snk.ops[2].status_code, "NOAUTH");
	CHECK_STR(snk.ops[3].status_code, "ERR");
	free_state(st);
}

TEST(resp3_types)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	static const char *const replies[] = {
		",3.14159\r\n",
		"#t\r\n",
		"(3492890328409238509324850943850943825024385\r\n",
		"=15\r\ntxt:Some string\r\n",
		"!21\r\nSYNTAX invalid syntax\r\n",
		"_\r\n",
		"~2\r\n+a\r\n:1\r\n",
		"%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n$1\r\nx\r\n,inf\r\n",
		"|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039\r\n:9543\r\n",
		"*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n(12\r\n",
		"*-1\r\n",
		"*0\r\n",
	};
	size_t i;

	run(st, true, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 1);
	run(st, false, "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n", 2);
	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 10 + 10 * i);
		/* a push (client tracking) may come before any reply: it is no reply */
		if (i == 3)
			ios(st, false, ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", 14 + 10 * i,
			    true);
		io(st, false, replies[i], strlen(replies[i]), 0, 0, 15 + 10 * i, i != 3);
	}
	CHECK_EQ_INT(snk.n, 1 + (int)(sizeof(replies) / sizeof(replies[0])));
	CHECK_STR(snk.ops[0].operation, "HELLO");
	CHECK_STR(snk.ops[0].query, "HELLO ?");
	for (i = 1; i < (size_t)snk.n && i < MAX_OPS; i++) {
		CHECK_EQ_INT(snk.ops[i].head.end_ns, 15 + 10 * (i - 1));
		CHECK_EQ_INT(snk.ops[i].error, i - 1 == 4);
	}
	CHECK_STR(snk.ops[5].status_code, "SYNTAX");
	CHECK_EQ_INT(snk.ops[7].returned_rows, 2); /* a set of two */
	CHECK_EQ_INT(snk.ops[8].returned_rows, 2); /* a map of two pairs */
	CHECK_EQ_INT(snk.ops[9].returned_rows, 2); /* the array after its attribute */
	CHECK_EQ_INT(snk.ops[11].returned_rows, -1);
	CHECK_EQ_INT(snk.ops[12].returned_rows, 0);
	CHECK_EQ_INT(counts(st).pushes, 1);
	CHECK_EQ_INT(error_count(st), 0);
	/* a length no int64 holds is no null bulk: the framing is lost, nothing is paired */
	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 500);
	run(st, false, "$9999999999999999999\r\n", 501);
	CHECK_EQ_INT(snk.n, 1 + (int)(sizeof(replies) / sizeof(replies[0])));
	CHECK_EQ_INT(counts(st).lost, 1);
	free_state(st);
}

TEST(select_namespace)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n", 1);
	run(st, false, "+OK\r\n", 2);
	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 3);
	run(st, false, "$-1\r\n", 4);
	/* a refused SELECT changes nothing */
	run(st, true, "*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 5);
	run(st, false, "-ERR DB index is out of range\r\n$-1\r\n", 6);
	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 7);
	run(st, false, "$-1\r\n", 8);
	/* inside MULTI it takes effect at EXEC */
	run(st, true, "*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n"
		      "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nEXEC\r\n"
		      "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 9);
	run(st, false, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$-1\r\n$-1\r\n", 10);
	CHECK_EQ_INT(snk.n, 10);
	CHECK_STR(snk.ops[0].namespace_, "0");
	CHECK_STR(snk.ops[1].namespace_, "2");
	CHECK_STR(snk.ops[2].operation, "SELECT");
	CHECK(snk.ops[2].error);
	CHECK_STR(snk.ops[3].namespace_, "99"); /* sent while the SELECT was in flight */
	CHECK_STR(snk.ops[4].namespace_, "2");
	CHECK_STR(snk.ops[8].operation, "EXEC");
	CHECK_STR(snk.ops[8].namespace_, "2");
	CHECK_STR(snk.ops[9].namespace_, "5");
	free_state(st);
}

TEST(multi_exec)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*1\r\n$5\r\nMULTI\r\n", 1);
	run(st, false, "+OK\r\n", 2);
	run(st, true, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", 3);
	run(st, false, "+QUEUED\r\n", 4);
	run(st, true, "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n", 5);
	run(st, false, "+QUEUED\r\n", 6);
	run(st, true, "*1\r\n$4\r\nEXEC\r\n", 7);
	run(st, false, "*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n", 8);
	run(st, true, "*1\r\n$5\r\nMULTI\r\n*1\r\n$3\r\nBAD\r\n*1\r\n$4\r\nEXEC\r\n", 9);
	run(st, false, "+OK\r\n-ERR unknown command 'BAD'\r\n"
		       "-EXECABORT Transaction discarded because of previous errors.\r\n", 10);
	CHECK_EQ_INT(snk.n, 7);
	CHECK_STR(snk.ops[3].operation, "EXEC");
	CHECK(!snk.ops[3].error); /* the transaction ran; one of its commands failed */
	CHECK_EQ_INT(snk.ops[3].returned_rows, 2);
	CHECK_EQ_INT(snk.ops[3].head.end_ns, 8);
	CHECK_EQ_INT(snk.ops[3].batch_size, 2); /* SET and INCR */
	CHECK_STR(snk.ops[6].status_code, "EXECABORT");
	CHECK(snk.ops[5].error);
	CHECK_EQ_INT(snk.ops[6].batch_size, 1); /* one command: not a batch on the span */
	free_state(st);
}

/* An EXEC without its MULTI seen (a connection joined half-way) says no batch size. */
TEST(exec_without_multi)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*1\r\n$4\r\nEXEC\r\n", 1);
	run(st, false, "+QUEUED\r\n*1\r\n:1\r\n", 2);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_STR(snk.ops[1].operation, "EXEC");
	CHECK_EQ_INT(snk.ops[1].batch_size, 0);
	free_state(st);
}

static void pubsub_messages(void *st, int n, uint64_t ts, bool resp3)
{
	char b[128];
	int i;

	for (i = 0; i < n; i++) {
		int k = snprintf(b, sizeof(b), "%c3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$%d\r\nhello %d\r\n",
				 resp3 ? '>' : '*', i < 10 ? 7 : i < 100 ? 8 : 9, i);

		io(st, false, b, (size_t)k, 0, 0, ts + (uint64_t)i, i == 0);
	}
}

TEST(pubsub_resp2)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	struct redis_counts c;

	run(st, true, "*3\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n$6\r\nsports\r\n", 1);
	run(st, false, "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n", 2);
	CHECK_EQ_INT(snk.n, 0); /* one channel of two confirmed */
	ios(st, false, "*3\r\n$9\r\nsubscribe\r\n$6\r\nsports\r\n:2\r\n", 3, false);
	CHECK_EQ_INT(snk.n, 1);
	CHECK_STR(snk.ops[0].operation, "SUBSCRIBE");
	CHECK_STR(snk.ops[0].query, "SUBSCRIBE ? ?");
	CHECK_EQ_INT(snk.ops[0].head.end_ns, 3);
	pubsub_messages(st, 200, 100, false);
	CHECK_EQ_INT(snk.n, 1);
	CHECK(!redis_decoder.waiting(st));
	/* a PING while subscribed answers with an array too */
	run(st, true, "*1\r\n$4\r\nPING\r\n", 400);
	ios(st, false, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nx\r\n"
		       "*2\r\n$4\r\npong\r\n$0\r\n\r\n", 401, true);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_STR(snk.ops[1].operation, "PING");
	CHECK_EQ_INT(snk.ops[1].head.end_ns, 401);
	/* PSUBSCRIBE then pmessages, then UNSUBSCRIBE of everything */
	run(st, true, "*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nn*\r\n", 500);
	run(st, false, "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n"
		       "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$1\r\ny\r\n", 501);
	run(st, true, "*1\r\n$11\r\nUNSUBSCRIBE\r\n", 600);
	run(st, false, "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n"
		       "*3\r\n$11\r\nunsubscribe\r\n$6\r\nsports\r\n:1\r\n", 601);
	CHECK_EQ_INT(snk.n, 4);
	CHECK_STR(snk.ops[3].operation, "UNSUBSCRIBE");
	/* still subscribed to the pattern, then out of pub/sub: arrays are replies again */
	run(st, true, "*1\r\n$12\r\nPUNSUBSCRIBE\r\n", 700);
	run(st, false, "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n", 701);
	run(st, true, "*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n", 800);
	run(st, false, "*2\r\n$7\r\nmessage\r\n$1\r\nz\r\n", 801);
	CHECK_EQ_INT(snk.n, 6);
	CHECK_STR(snk.ops[5].operation, "LRANGE");
	CHECK_EQ_INT(snk.ops[5].returned_rows, 2);
	c = counts(st);
	CHECK_EQ_INT(c.pushes, 200 + 1 + 1 + 1); /* messages, pmessage, extra unsubscribe */
	CHECK_EQ_INT(c.unpaired, 0);
	free_state(st);
}

TEST(pubsub_resp3)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 1);
	run(st, false, "%1\r\n$5\r\nproto\r\n:3\r\n", 2);
	run(st, true, "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n", 3);
	run(st, false, ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n", 4);
	pubsub_messages(st, 50, 10, true);
	/* RESP3 lets a subscriber run any command; its array reply is a reply */
	run(st, true, "*2\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n", 100);
	run(st, false, ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nq\r\n"
		       "*2\r\n$7\r\nmessage\r\n$1\r\nz\r\n", 101);
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[1].operation, "SUBSCRIBE");
	CHECK_STR(snk.ops[2].operation, "LRANGE");
	CHECK_EQ_INT(snk.ops[2].returned_rows, 2);
	CHECK_EQ_INT(counts(st).pushes, 51);
	free_state(st);
}

TEST(monitor)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	const char *mon = "+1700000000.123456 [0 127.0.0.1:50000] \"get\" \"k\"\r\n";
	int i;

	run(st, true, "*1\r\n$7\r\nMONITOR\r\n", 1);
	run(st, false, "+OK\r\n", 2);
	for (i = 0; i < 30; i++)
		io(st, false, mon, strlen(mon), 0, 0, 10 + (uint64_t)i, i == 0);
	CHECK_EQ_INT(snk.n, 1);
	CHECK_STR(snk.ops[0].operation, "MONITOR");
	CHECK_EQ_INT(counts(st).pushes, 30);
	CHECK(!redis_decoder.waiting(st));
	free_state(st);
}

/* CLIENT REPLY OFF and SKIP silence replies: those commands end as sent, the rest still pair. */
TEST(client_reply_off_skip)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"
		      "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
		      "*3\r\n$6\r\nclient\r\n$5\r\nreply\r\n$2\r\non\r\n"
		      "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
		      "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"
		      "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
		      "*1\r\n$4\r\nPING\r\n", 10);
	CHECK_EQ_INT(snk.n, 4); /* OFF, SET, SKIP, SET: nothing will answer them */
	run(st, false, "+OK\r\n$1\r\n1\r\n+PONG\r\n", 20);
	CHECK_EQ_INT(snk.n, 7);
	CHECK_STR(snk.ops[0].operation, "CLIENT REPLY");
	CHECK_STR(snk.ops[1].operation, "SET");
	CHECK_EQ_INT(snk.ops[1].head.end_ns, 10);
	CHECK_STR(snk.ops[2].operation, "CLIENT REPLY");
	CHECK_STR(snk.ops[3].operation, "SET");
	CHECK_STR(snk.ops[4].operation, "CLIENT REPLY"); /* ON, answered +OK */
	CHECK_EQ_INT(snk.ops[4].head.end_ns, 20);
	CHECK_STR(snk.ops[5].operation, "GET");
	CHECK_STR(snk.ops[6].operation, "PING");
	CHECK(!redis_decoder.waiting(st));
	CHECK_EQ_INT(error_count(st), 0);
	free_state(st);
}

TEST(inline_commands)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "PING\r\n", 1);
	run(st, false, "+PONG\r\n", 2);
	run(st, true, "set  greeting   hello\r\n\r\nhgetall h\n", 3);
	run(st, false, "+OK\r\n*0\r\n", 4);
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[0].operation, "PING");
	CHECK_STR(snk.ops[0].query, "PING");
	CHECK_STR(snk.ops[1].operation, "SET");
	CHECK_STR(snk.ops[1].query, "SET ? ?");
	CHECK_STR(snk.ops[2].operation, "HGETALL");
	CHECK_EQ_INT(error_count(st), 0);
	free_state(st);
}

TEST(two_word_operations)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n"
		      "*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$3\r\napp\r\n"
		      "*2\r\n$6\r\nCLIENT\r\n$6\r\n$x y z\r\n"
		      "*2\r\n$4\r\nJSON.GET\r\n", 1);
	run(st, false, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n+OK\r\n-ERR x\r\n", 2);
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[0].operation, "CONFIG GET");
	CHECK_STR(snk.ops[0].query, "CONFIG GET ?");
	CHECK_STR(snk.ops[1].operation, "CLIENT SETNAME");
	CHECK_STR(snk.ops[2].operation, "CLIENT"); /* a second word that is no word */
	/* "$4\r\nJSON.GET" is 8 bytes where 4 were announced: framing lost, nothing invented */
	CHECK_EQ_INT(counts(st).lost, 1);
	free_state(st);
}

TEST(query_modes)
{
	void *st = new_state(DB_QUERY_RAW);

	run(st, true, "*3\r\n$3\r\nSET\r\n$5\r\nu:\"1\"\r\n$6\r\na b\x01\r\n\r\n", 1);
	run(st, false, "+OK\r\n", 2);
	run(st, true, "get k\r\n", 3);
	run(st, false, "$-1\r\n", 4);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_STR(snk.ops[0].query, "SET \"u:\\\"1\\\"\" \"a b\\x01\\x0d\\x0a\"");
	CHECK_STR(snk.ops[1].query, "get \"k\"");
	free_state(st);

	st = new_state(DB_QUERY_OFF);
	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 1);
	run(st, false, "$-1\r\n", 2);
	CHECK_EQ_INT(snk.n, 1);
	CHECK_STR(snk.ops[0].query, "");
	CHECK_STR(snk.ops[0].operation, "GET");
	free_state(st);
}

TEST(big_value_skipped_by_length)
{
	void *st = new_state(DB_QUERY_RAW);
	const char *head = "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100000\r\nxxxxxxxx";
	size_t hn = strlen(head);

	/* the first 512 bytes of a 100 kB SET, the rest only counted in the same I/O */
	io(st, true, head, hn, 0, 100000 - 8 + 2, 1, true);
	run(st, false, "+OK\r\n", 2);
	/* a 1 MB GET reply: a captured head, one more captured I/O, then bytes counted */
	run(st, true, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 3);
	ios(st, false, "$1000000\r\nyyyy", 4, true);
	ios(st, false, "yyyy", 5, false);
	CHECK_EQ_INT(snk.n, 1);
	io(st, false, "", 0, 1000000 - 8 + 2, 0, 9, false); /* counted at the run's end */
	CHECK_EQ_INT(snk.n, 2);
	CHECK_EQ_INT(snk.ops[1].head.end_ns, 9);
	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 10);
	run(st, false, "$1\r\nv\r\n", 11);
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[0].query, "SET \"big\" \"xxxxxxxx\"...");
	CHECK_STR(snk.ops[2].operation, "GET");
	CHECK_EQ_INT(snk.ops[2].head.end_ns, 11);
	CHECK_EQ_INT(counts(st).lost, 0);
	CHECK_EQ_INT(counts(st).cut, 1);
	free_state(st);
}

TEST(huge_reply_ends_at_run_end)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	struct redis_counts c;

	run(st, true, "*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n", 1);
	/* an array of 50000 elements: the head, then bytes the framing cannot follow */
	const char *head = "*50000\r\n$5\r\nitem0\r\n$5\r\nit";

	io(st, false, head, strlen(head), 0, 500000, 2, true);
	CHECK_EQ_INT(snk.n, 0);
	CHECK(redis_decoder.waiting(st));
	end_run(st, false, 77);
	CHECK_EQ_INT(snk.n, 1);
	CHECK_STR(snk.ops[0].operation, "LRANGE");
	CHECK_EQ_INT(snk.ops[0].head.end_ns, 77);
	CHECK_EQ_INT(snk.ops[0].returned_rows, 50000);
	CHECK(!snk.ops[0].error && !snk.ops[0].head.incomplete);
	/* the next exchange is decoded again */
	ios(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 80, true);
	run(st, false, "$1\r\nv\r\n", 81);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_EQ_INT(snk.ops[1].head.end_ns, 81);
	c = counts(st);
	CHECK_EQ_INT(c.lost, 1);
	CHECK_EQ_INT(c.pending, 0);
	free_state(st);
}

/* A pipeline longer than the capture: 3 commands seen, the rest only counted. */
TEST(pipeline_longer_than_capture)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	struct redis_counts c;
	int i;

	const char *cmds = "*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n"
			   "*2\r\n$3\r\nGET\r\n$2\r\nk3\r\n*2\r\n$3\r\nG";

	io(st, true, cmds, strlen(cmds), 0, 2000, 1, true);
	CHECK(redis_decoder.waiting(st));
	/* 100 replies come back: three pair, the others belong to unseen commands */
	end_run(st, true, 1);
	for (i = 0; i < 100; i++)
		ios(st, false, "$2\r\nv1\r\n", 10 + (uint64_t)i, i == 0);
	CHECK_EQ_INT(snk.n, 3);
	for (i = 0; i < 3; i++)
		CHECK_EQ_INT(snk.ops[i].head.end_ns, 10 + i);
	c = counts(st);
	CHECK_EQ_INT(c.unpaired, 97);
	CHECK_EQ_INT(c.lost, 1);
	/* the client speaks again at once: a pipelining client writes on while replies to its
	 * unseen commands may still come, so its commands are not taken yet */
	run(st, true, "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n", 200);
	run(st, false, ":1\r\n", 201);
	CHECK_EQ_INT(snk.n, 3);
	/* after a quiet stretch of the server: pairing starts over */
	run(st, true, "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n", QUIET + 300);
	run(st, false, ":1\r\n", QUIET + 301);
	CHECK_EQ_INT(snk.n, 4);
	CHECK_STR(snk.ops[3].operation, "DEL");
	CHECK_EQ_INT(snk.ops[3].head.end_ns, QUIET + 301);
	CHECK(!redis_decoder.waiting(st));
	free_state(st);
}

/* After lost framing, a client run that starts inside an argument is no command (not inline). */
TEST(resync_needs_a_command_start)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	const char *cmds = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$5\r\npipel";

	io(st, true, cmds, strlen(cmds), 0, 100, 1, true);
	run(st, false, "$1\r\nA\r\n+OK\r\n", 2);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_STR(snk.ops[1].operation, "SET"); /* its name was seen, the rest only counted */
	CHECK(!snk.ops[1].error);
	run(st, true, "ine:counter\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", 3);
	run(st, false, "+OK\r\n$1\r\nB\r\n", 4);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_EQ_INT(counts(st).unpaired, 2);
	run(st, true, "*1\r\n$4\r\nPING\r\n", QUIET + 5);
	run(st, false, "+PONG\r\n", QUIET + 6);
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[2].operation, "PING");
	CHECK_EQ_INT(snk.ops[2].head.end_ns, QUIET + 6);
	CHECK_EQ_INT(counts(st).cut, 1);
	free_state(st);
}

/* The client speaks again while a reply to an unseen command is still coming in. */
TEST(unseen_reply_in_flight)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	const char *cmds = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nG";

	io(st, true, cmds, strlen(cmds), 0, 50, 1, true);
	run(st, false, "$1\r\nA\r\n$5\r\nab", 2);
	CHECK_EQ_INT(snk.n, 1);
	/* (after a quiet stretch: the server's reply paused that long) */
	run(st, true, "*1\r\n$4\r\nPING\r\n", QUIET + 3);
	run(st, false, "cde\r\n", QUIET + 4); /* the end of the unseen command's reply */
	ios(st, false, "+PONG\r\n", QUIET + 5, false);
	CHECK_EQ_INT(snk.n, 2);
	CHECK_STR(snk.ops[1].operation, "PING");
	CHECK_EQ_INT(snk.ops[1].head.end_ns, QUIET + 5);
	CHECK_EQ_INT(counts(st).unpaired, 1);
	CHECK(!redis_decoder.waiting(st));
	free_state(st);
}

/* A server whose framing is lost in a pipelined answer: no reply is guessed. */
TEST(server_lost_in_pipeline)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"
		      "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n", 1);
	io(st, false, "$3\r\nabc\r\n$100\r\nxx", strlen("$3\r\nabc\r\n$100\r\nxx"), 0,
	   98 + 2 + 200, 5, true);
	CHECK_EQ_INT(snk.n, 1);
	end_run(st, false, 9);
	/* b's reply started and ended in the run; c's may have: it is dropped, not guessed */
	CHECK_EQ_INT(snk.n, 2);
	CHECK_EQ_INT(snk.ops[1].head.end_ns, 9);
	CHECK_EQ_INT(counts(st).dropped, 1);
	run(st, true, "*1\r\n$4\r\nPING\r\n", 20);
	run(st, false, "+PONG\r\n", 21);
	CHECK_EQ_INT(snk.n, 3);
	CHECK_STR(snk.ops[2].operation, "PING");
	CHECK_EQ_INT(snk.ops[2].head.end_ns, 21);
	free_state(st);
}

/* More commands in flight than the FIFO holds: the ones beyond are counted, the pairing holds. */
TEST(bounded_fifo)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	struct redis_counts c;
	int i, bad = 0;

	for (i = 0; i < 400; i++)
		ios(st, true, "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n", 1000 + (uint64_t)i, i == 0);
	end_run(st, true, 1399);
	for (i = 0; i < 400; i++)
		ios(st, false, ":1\r\n", 5000 + (uint64_t)i, i == 0);
	c = counts(st);
	CHECK_EQ_INT(snk.n + (int)c.dropped, 400);
	CHECK(snk.n >= 200 && snk.n < 400);
	CHECK_EQ_INT(c.unpaired, c.dropped);
	/* every span got its own reply: the n-th command, the n-th reply */
	for (i = 0; i < snk.n && i < MAX_OPS; i++)
		if (snk.ops[i].head.end_ns - snk.ops[i].head.start_ns != 4000)
			bad++;
	CHECK_EQ_INT(bad, 0);
	CHECK(!redis_decoder.waiting(st));
	free_state(st);
}

TEST(close_mid_reply)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", 1);
	ios(st, false, "$10\r\nabc", 2, true);
	redis_decoder.close(st, 3, &out);
	CHECK_EQ_INT(snk.n, 2);
	CHECK(snk.ops[0].head.incomplete && snk.ops[1].head.incomplete);
	CHECK_EQ_INT(snk.ops[0].head.end_ns, 3);
	CHECK(!redis_decoder.waiting(st));
	free_state(st);
}

TEST(garbage_after_classification)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	uint8_t junk[600];
	uint32_t x = 12345;
	int i;

	run(st, true, "*1\r\n$4\r\nPING\r\n", 1);
	run(st, false, "+PONG\r\n", 2);
	for (i = 0; i < (int)sizeof(junk); i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	junk[0] = 0x80; /* not a command start */
	io(st, true, junk, sizeof(junk), 0, 0, 3, true);
	io(st, false, junk, sizeof(junk), 0, 0, 4, true);
	/* an HTTP request sent to Redis: an inline command GET with args, then headers */
	run(st, true, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 5);
	run(st, false, "-ERR unknown command 'Host:'\r\n", 6);
	redis_decoder.close(st, 7, &out);
	CHECK_EQ_INT(snk.n >= 1, 1);
	CHECK_STR(snk.ops[0].operation, "PING");
	for (i = 1; i < snk.n && i < MAX_OPS; i++)
		CHECK(!strcmp(snk.ops[i].operation, "GET") ||
		      !strcmp(snk.ops[i].operation, "HOST:"));
	free_state(st);
}

/*
 * Redis commands sent to an HTTP server (Python's http.server answers "*1" with an HTML error
 * page): no span for either end, and the decoder says it is not Redis.
 */
TEST(first_answer_not_resp)
{
	void *st = new_state(DB_QUERY_SANITIZED);

	run(st, true, "*1\r\n$4\r\nPING\r\n", 1);
	run(st, false, "<!DOCTYPE HTML>\n<html lang=\"en\">", 2);
	CHECK(snk.give_up == 1 && snk.not_mine == 1); /* the decoder says it is not Redis */
	CHECK_EQ_INT(snk.lost[0] + snk.lost[1], 0);   /* which is no lost framing */
	run(st, true, "*1\r\n$4\r\nPING\r\n", 3);
	end_run(st, false, 4);
	redis_decoder.close(st, 5, &out);
	CHECK_EQ_INT(snk.n, 0);
	CHECK(!redis_decoder.waiting(st));
	CHECK_EQ_INT(snk.give_up, 1); /* said once */
	free_state(st);

	/* a first reply that starts well and is then lost is a real server's */
	st = new_state(DB_QUERY_SANITIZED);
	run(st, true, "*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n", 1);
	io(st, false, "*400\r\n$3\r\nget\r\n*10\r\n", strlen("*400\r\n$3\r\nget\r\n*10\r\n"),
	   0, 90000, 2, true);
	end_run(st, false, 9);
	CHECK_EQ_INT(snk.give_up, 0);
	CHECK_EQ_INT(snk.n, 1);
	CHECK_STR(snk.ops[0].operation, "COMMAND DOCS");
	free_state(st);
}

/*
 * A pipelining client's writes: each command knows its place in its write, how many the write
 * held, and when the write before it was, whether its reply comes before or after the next
 * write went out (linker__parent_in_batch).
 */
TEST(batch_places)
{
	void *st = new_state(DB_QUERY_SANITIZED);
	static const char three[] = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
				    "*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n"
				    "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n";
	static const char two[] = "*2\r\n$3\r\nGET\r\n$1\r\nd\r\n"
				  "*2\r\n$3\r\nGET\r\n$1\r\ne\r\n";
	int i;

	run(st, true, "*1\r\n$4\r\nPING\r\n", 1000);
	run(st, false, "+PONG\r\n", 1100);
	/* three commands in one write, then two more before any reply (a second turn) */
	run(st, true, three, 2000);
	ios(st, true, two, 2500, false);
	/* the first write's replies, then a lone command, then the rest */
	run(st, false, "$1\r\nx\r\n:1\r\n$-1\r\n", 3000);
	run(st, true, "*2\r\n$3\r\nGET\r\n$1\r\nf\r\n", 3500);
	run(st, false, "$-1\r\n$-1\r\n$1\r\ny\r\n", 4000);
	CHECK_EQ_INT(snk.n, 7);
	CHECK_EQ_INT(error_count(st), 0);
	/* PING alone */
	CHECK_EQ_INT(snk.ops[0].head.batch_n, 1);
	CHECK_EQ_INT(snk.ops[0].head.batch_pos, 0);
	CHECK_EQ_INT(snk.ops[0].head.batch_after_ns, 0);
	for (i = 0; i < 3; i++) {
		CHECK_EQ_INT(snk.ops[1 + i].head.batch_n, 3);
		CHECK_EQ_INT(snk.ops[1 + i].head.batch_pos, i);
		CHECK_EQ_INT(snk.ops[1 + i].head.batch_after_ns, 1000);
	}
	for (i = 0; i < 2; i++) {
		CHECK_EQ_INT(snk.ops[4 + i].head.batch_n, 2);
		CHECK_EQ_INT(snk.ops[4 + i].head.batch_pos, i);
		CHECK_EQ_INT(snk.ops[4 + i].head.batch_after_ns, 2000);
	}
	CHECK_EQ_INT(snk.ops[6].head.batch_n, 1);
	CHECK_EQ_INT(snk.ops[6].head.batch_after_ns, 2500);
	CHECK_EQ_INT(snk.policies, 1);
	free_state(st);
}

int main(void)
{
	RUN(detect_commands);
	RUN(detect_inline);
	RUN(known_command_table);
	RUN(get_set_spans);
	RUN(pipeline_split_everywhere);
	RUN(errors);
	RUN(resp3_types);
	RUN(select_namespace);
	RUN(multi_exec);
	RUN(exec_without_multi);
	RUN(pubsub_resp2);
	RUN(pubsub_resp3);
	RUN(monitor);
	RUN(client_reply_off_skip);
	RUN(inline_commands);
	RUN(two_word_operations);
	RUN(query_modes);
	RUN(big_value_skipped_by_length);
	RUN(huge_reply_ends_at_run_end);
	RUN(pipeline_longer_than_capture);
	RUN(resync_needs_a_command_start);
	RUN(unseen_reply_in_flight);
	RUN(server_lost_in_pipeline);
	RUN(bounded_fifo);
	RUN(close_mid_reply);
	RUN(garbage_after_classification);
	RUN(first_answer_not_resp);
	RUN(batch_places);
	UNIT_DONE();
}
