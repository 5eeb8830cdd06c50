/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the PostgreSQL decoder over byte streams built here message by message, in the
 * layout of the protocol 3 documentation: startup with SSL and GSS refusals, a cancel
 * connection, simple queries and batches, the extended protocol pipelined, errors with their
 * SQLSTATE, named statements reused and evicted, COPY both ways, answers bigger than the
 * capture, splits at every byte, detection of other protocols, and closes mid-query.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/db.h"
#include "decoders/postgres.h"
#include "unit.h"

#define MAX_OPS 64

struct sink {
	struct db_op ops[MAX_OPS];
	int n;
	int lost[2];  /* lost calls, by from_client */
	int bad_head; /* ops reported with the core's part of the head not zero */
	int other;    /* calls a database decoder never makes (begin, answered, give_up) */
	int policies; /* capture policies asked for */
	uint8_t policy; /* ... the last one */
};

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void collect(void *ctx, struct op_head *h)
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

static void on_give_up(void *ctx, bool not_mine)
{
	((struct sink *)ctx)->other++;
}

/* A byte stream under construction. */
struct buf {
	uint8_t b[16384];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {v >> 24, v >> 16, v >> 8, v};

	put(b, x, 4);
}

/* A typed message: type, length, then body. */
static void msg(struct buf *b, char type, const void *body, size_t n)
{
	put(b, &type, 1);
	put32(b, (uint32_t)n + 4);
	put(b, body, n);
}

/* A body from a C string list: "a\0b\0" style with explicit length. */
#define MSG(b, t, lit) msg((b), (t), (lit), sizeof(lit) - 1)

static void startup(struct buf *b, const char *user, const char *db)
{
	struct buf body = {.n = 0};

	put32(&body, 0x00030000);
	put(&body, "user", 5);
	put(&body, user, strlen(user) + 1);
	if (db) {
		put(&body, "database", 9);
		put(&body, db, strlen(db) + 1);
	}
	put(&body, "application_name\0psql\0", 22);
	put(&body, "", 1);
	put32(b, (uint32_t)body.n + 4);
	put(b, body.b, body.n);
}

/* What a server sends after a startup with trust authentication. */
static void auth_ok(struct buf *b)
{
	MSG(b, 'R', "\0\0\0\0");
	MSG(b, 'S', "server_version\00015.8\0");
	MSG(b, 'S', "client_encoding\0UTF8\0");
	MSG(b, 'K', "\0\0\x30\x39\x12\x34\x56\x78");
	MSG(b, 'Z', "I");
}

static void query(struct buf *b, const char *sql)
{
	msg(b, 'Q', sql, strlen(sql) + 1);
}

static void complete(struct buf *b, const char *tag)
{
	msg(b, 'C', tag, strlen(tag) + 1);
}

static void error(struct buf *b, const char *sqlstate)
{
	struct buf body = {.n = 0};

	put(&body, "SERROR\0VERROR\0C", 15);
	put(&body, sqlstate, strlen(sqlstate) + 1);
	put(&body, "Mrelation \"nope\" does not exist\0", 32);
	put(&body, "", 1);
	msg(b, 'E', body.b, body.n);
}

static void parse(struct buf *b, const char *name, const char *sql)
{
	struct buf body = {.n = 0};

	put(&body, name, strlen(name) + 1);
	put(&body, sql, strlen(sql) + 1);
	put(&body, "\0\0", 2);
	msg(b, 'P', body.b, body.n);
}

static void bind(struct buf *b, const char *stmt)
{
	struct buf body = {.n = 0};

	put(&body, "", 1); /* unnamed portal */
	put(&body, stmt, strlen(stmt) + 1);
	put(&body, "\0\0\0\0\0\0", 6); /* no formats, no parameters, no result formats */
	msg(b, 'B', body.b, body.n);
}

static void execute(struct buf *b)
{
	MSG(b, 'E', "\0\0\0\0\0");
}

static void sync_(struct buf *b)
{
	msg(b, 'S', "", 0);
}

static void row_desc_and_rows(struct buf *b, int rows, size_t width)
{
	static uint8_t cell[8192];
	struct buf r = {.n = 0};
	int i;

	MSG(b, 'T', "\0\1abalance\0\0\0\0\0\0\0\0\0\0\x17\0\4\xff\xff\xff\xff\0\0");
	memset(cell, 'x', sizeof(cell));
	for (i = 0; i < rows; i++) {
		r.n = 0;
		put(&r, "\0\1", 2);
		put32(&r, (uint32_t)width);
		put(&r, cell, width);
		msg(b, 'D', r.b, r.n);
	}
}

/* The decoder under test, with the capture of the kernel: cap bytes of each I/O. */
struct conn {
	const struct decoder *d;
	void *st;
	struct sink sink;
	struct decoder_sink out;
	struct conn_info info;
	struct sonde_config cfg;
	uint64_t ts;
	bool last_client;
	bool started;
};

static void conn_init(struct conn *c, enum db_query_mode mode)
{
	struct decoder_env env = {.cfg = &c->cfg, .conn = &c->info};

	memset(c, 0, sizeof(*c));
	c->cfg.db.query_mode = mode;
	c->d = &postgres_decoder;
	c->st = c->d->create(&env);
	c->out = (struct decoder_sink){.begin = on_begin, .answered = on_answered, .done = collect,
				       .lost = on_lost, .policy = on_policy,
				       .give_up = on_give_up, .ctx = &c->sink};
	c->ts = 1000;
}

/* The run of one direction ended, its last byte at ts. */
static void run_end(struct conn *c, bool client, uint64_t ts)
{
	struct sonde_run_summary run = {.last_ts_ns = ts};

	c->d->run_end(c->st, client, &run, &c->out);
}

/*
 * Everything the decoder counts as trouble: framing lost, messages cut by the capture, requests
 * beyond the queue, statements evicted or not stored. Every framing loss went to the sink once.
 */
static uint64_t errors(struct conn *c)
{
	struct postgres_counts n;

	postgres_get_counts(c->st, &n);
	CHECK_EQ_INT(n.lost, c->sink.lost[0] + c->sink.lost[1]);
	return n.lost + n.cut + n.refused + n.nomem + n.evictions;
}

/* The detector, with the ports of a connection (0: unknown). */
static enum detect_result det(const uint8_t *p, size_t n, uint16_t lport, uint16_t rport)
{
	struct conn_info info = {.have_tuple = lport || rport, .sport = lport, .dport = rport};

	return postgres_decoder.detect(p, n, &info);
}

/* One I/O of n bytes from a direction, of which the first cap are captured. */
static void io(struct conn *c, bool client, const uint8_t *p, size_t n, size_t cap, uint64_t gap)
{
	struct decoder_chunk f = {0};
	uint8_t *copy;

	if (c->started && client != c->last_client)
		run_end(c, c->last_client, c->ts);
	f.run_start = !c->started || client != c->last_client;
	c->started = true;
	c->last_client = client;
	c->ts += 10;
	if (cap > n)
		cap = n;
	copy = malloc(cap ? cap : 1); /* exact size: ASan sees a read past it */
	memcpy(copy, p, cap);
	f.data = copy;
	f.len = cap;
	f.gap = gap;
	f.tail = n - cap;
	f.ts = c->ts;
	f.actor = client ? 101 : 202;
	f.tid = client ? 1101 : 1202;
	c->d->feed(c->st, client, &f, &c->out);
	free(copy);
}

/* A run of I/Os of at most 1024 bytes, all captured (the kernel captures 4 per run). */
static void send_all(struct conn *c, bool client, const struct buf *b)
{
	size_t at = 0, k;

	do {
		k = b->n - at < 1024 ? b->n - at : 1024;
		io(c, client, b->b + at, k, 1024, 0);
		at += k;
	} while (at < b->n);
}

static void conn_free(struct conn *c)
{
	CHECK_EQ_INT(c->sink.bad_head, 0);
	CHECK_EQ_INT(c->sink.other, 0);
	/* once, at its first bytes: every I/O gathered whole, for pipelines */
	CHECK(c->sink.policies <= 1);
	if (c->sink.policies)
		CHECK_EQ_INT(c->sink.policy, SONDE_CAPTURE_STREAM);
	c->d->destroy(c->st);
}

/* A simple Query from the client, in one I/O. */
static void ask(struct conn *c, const char *sql)
{
	struct buf b = {.n = 0};

	query(&b, sql);
	send_all(c, true, &b);
}

/* The server's answer to a statement that returns no rows: its tag, then ReadyForQuery. */
static void answer(struct conn *c, const char *tag)
{
	struct buf b = {.n = 0};

	complete(&b, tag);
	MSG(&b, 'Z', "I");
	send_all(c, false, &b);
}

static void connect_(struct conn *c, const char *db)
{
	struct buf b = {.n = 0};

	startup(&b, "alice", db);
	send_all(c, true, &b);
	b.n = 0;
	auth_ok(&b);
	send_all(c, false, &b);
}

TEST(test_detect)
{
	struct buf b = {.n = 0};
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};
	static const char redis[] = "*1\r\n$4\r\nPING\r\n";
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	static const uint8_t gss[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
	static const uint8_t cancel[] = {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39,
					 1, 2, 3, 4};
	/* a MySQL greeting: length 3 bytes, sequence 0, protocol 10 */
	static const uint8_t mysql[] = {0x4a, 0, 0, 0, 0x0a, '8', '.', '0', '.', '3', '6', 0};

	startup(&b, "postgres", "shop");
	CHECK_EQ_INT(det(b.b, b.n, 0, 0), DETECT_CLIENT);
	CHECK_EQ_INT(det(ssl, sizeof(ssl), 0, 0), DETECT_CLIENT);
	CHECK_EQ_INT(det(gss, sizeof(gss), 0, 0), DETECT_CLIENT);
	CHECK_EQ_INT(det(cancel, sizeof(cancel), 0, 0), DETECT_CLIENT);
	CHECK_EQ_INT(det((const uint8_t *)http, sizeof(http) - 1, 0, 5432),
		     DETECT_NO);
	CHECK_EQ_INT(det(tls, sizeof(tls), 0, 5432), DETECT_NO);
	CHECK_EQ_INT(det((const uint8_t *)redis, sizeof(redis) - 1, 0, 5432),
		     DETECT_NO);
	CHECK_EQ_INT(det(mysql, sizeof(mysql), 0, 3306), DETECT_NO);
	CHECK_EQ_INT(det(ssl, 7, 0, 0), DETECT_NO);

	/* mid-session: a whole Query whose NUL is where its length says */
	b.n = 0;
	query(&b, "SELECT 1");
	CHECK_EQ_INT(det(b.b, b.n, 40000, 6543), DETECT_CLIENT);
	/* cut by the capture: only on PostgreSQL's port */
	CHECK_EQ_INT(det(b.b, b.n - 3, 40000, 6543), DETECT_NO);
	CHECK_EQ_INT(det(b.b, b.n - 3, 40000, 5432), DETECT_CLIENT);
	/* a length that disagrees with the text, or text that is not SQL */
	b.b[4]--;
	CHECK_EQ_INT(det(b.b, b.n, 40000, 5432), DETECT_NO);
	b.n = 0;
	query(&b, "Quit now");
	CHECK_EQ_INT(det(b.b, b.n, 0, 0), DETECT_CLIENT); /* a word: QUIT */
	b.n = 0;
	query(&b, "\x01\x02\x03");
	CHECK_EQ_INT(det(b.b, b.n, 0, 5432), DETECT_NO);
	/* a Parse */
	b.n = 0;
	parse(&b, "", "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	bind(&b, "");
	CHECK_EQ_INT(det(b.b, b.n, 0, 0), DETECT_CLIENT);
	/* a server's complete answer, as when sonde starts mid-session */
	b.n = 0;
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	CHECK_EQ_INT(det(b.b, b.n, 5432, 0), DETECT_SERVER);
	CHECK_EQ_INT(det(b.b, b.n - 1, 5432, 0), DETECT_NO);
}

TEST(test_simple_query)
{
	struct conn c;
	struct buf b = {.n = 0};
	struct db_op *op;

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	CHECK_EQ_INT(c.sink.n, 0); /* the startup and authentication are no operation */
	query(&b, "SELECT abalance FROM pgbench_accounts WHERE aid = 42");
	send_all(&c, true, &b);
	CHECK(c.d->waiting(c.st));
	b.n = 0;
	row_desc_and_rows(&b, 1, 4);
	MSG(&b, 'N', "SNOTICE\0C00000\0Mhello\0\0"); /* a notice is not the answer */
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK(!c.d->waiting(c.st));
	CHECK_EQ_INT(c.sink.n, 1);
	op = &c.sink.ops[0];
	CHECK_EQ_INT(op->system, DB_POSTGRESQL);
	CHECK_STR(op->namespace_, "shop");
	CHECK_STR(op->operation, "SELECT");
	CHECK_STR(op->collection, "pgbench_accounts");
	CHECK_STR(op->summary, "SELECT pgbench_accounts");
	CHECK_STR(op->query, "SELECT abalance FROM pgbench_accounts WHERE aid = ?");
	CHECK_EQ_INT(op->returned_rows, 1);
	CHECK_EQ_INT(op->head.actor, 101);
	CHECK_EQ_INT(op->head.tid, 1101);
	CHECK_EQ_INT(op->head.start_ns, 1030);
	CHECK_EQ_INT(op->head.end_ns, 1040);
	CHECK(!op->error && !op->head.incomplete);
	CHECK_EQ_INT(op->batch_size, 0);
	CHECK_EQ_INT(errors(&c), 0);
	conn_free(&c);
}

/* The same exchange split into two I/Os at every byte, both directions: the same op. */
TEST(test_split_every_byte)
{
	struct buf q = {.n = 0}, a = {.n = 0};
	size_t k;
	int bad = 0;

	query(&q, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)");
	complete(&a, "INSERT 0 1");
	complete(&a, "INSERT 0 1");
	MSG(&a, 'Z', "I");
	for (k = 0; k <= q.n + a.n; k++) {
		struct conn c;
		size_t kq = k < q.n ? k : q.n, ka = k > q.n ? k - q.n : 0;

		conn_init(&c, DB_QUERY_SANITIZED);
		connect_(&c, NULL);
		io(&c, true, q.b, kq, 1024, 0);
		c.started = true; /* the second piece continues the run */
		{
			struct decoder_chunk f = {.data = q.b + kq, .len = q.n - kq, .ts = c.ts,
						  .actor = 101, .tid = 1101};

			c.d->feed(c.st, true, &f, &c.out);
		}
		io(&c, false, a.b, ka, 1024, 0);
		{
			struct decoder_chunk f = {.data = a.b + ka, .len = a.n - ka,
						  .ts = c.ts + 5};

			c.d->feed(c.st, false, &f, &c.out);
		}
		if (c.sink.n != 1 || c.sink.ops[0].batch_size != 2 ||
		    strcmp(c.sink.ops[0].summary, "BATCH INSERT t") ||
		    strcmp(c.sink.ops[0].namespace_, "alice") || errors(&c)) {
			fprintf(stderr, "split at %zu: %d ops\n", k, c.sink.n);
			bad++;
		}
		conn_free(&c);
	}
	CHECK_EQ_INT(bad, 0);
}

/* An SSLRequest answered with reply, then a session in database db, as the decoder sees it. */
static void ssl_then_session(char reply, const char *db)
{
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	io(&c, true, ssl, sizeof(ssl), 1024, 0);
	io(&c, false, (const uint8_t *)&reply, 1, 1024, 0);
	connect_(&c, db);
	query(&b, "SELECT 1");
	send_all(&c, true, &b);
	b.n = 0;
	row_desc_and_rows(&b, 1, 1);
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK_STR(c.sink.ops[0].namespace_, db);
	CHECK_STR(c.sink.ops[0].summary, "SELECT");
	CHECK_EQ_INT(errors(&c), 0);
	conn_free(&c);
}

TEST(test_ssl_refused_then_startup)
{
	ssl_then_session('N', "inventory");
}

/* sslmode=require: after 'S' the kernel records the TLS library's plaintext, which starts
 * with the startup packet as on a clear connection. */
TEST(test_ssl_accepted_then_startup_in_plaintext)
{
	ssl_then_session('S', "secure_db");
}

/* Ciphertext where plaintext was expected (a kernel that did not mark the connection): no
 * span is made of it. */
TEST(test_ssl_accepted_ciphertext_makes_no_span)
{
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0x10, 'Q', 0, 0, 0, 9, 'x'};
	struct conn c;

	conn_init(&c, DB_QUERY_SANITIZED);
	io(&c, true, ssl, sizeof(ssl), 1024, 0);
	io(&c, false, (const uint8_t *)"S", 1, 1024, 0);
	io(&c, true, hello, sizeof(hello), 1024, 0);
	io(&c, false, hello, sizeof(hello), 1024, 0);
	CHECK(!c.d->waiting(c.st));
	c.d->close(c.st, 5000, &c.out);
	CHECK_EQ_INT(c.sink.n, 0);
	conn_free(&c);
}

TEST(test_cancel_connection)
{
	static const uint8_t cancel[] = {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39,
					 1, 2, 3, 4};
	struct conn c;

	conn_init(&c, DB_QUERY_SANITIZED);
	io(&c, true, cancel, sizeof(cancel), 1024, 0);
	CHECK(!c.d->waiting(c.st));
	c.d->close(c.st, 5000, &c.out);
	CHECK_EQ_INT(c.sink.n, 0);
	CHECK_EQ_INT(errors(&c), 0);
	conn_free(&c);
}

TEST(test_query_error)
{
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	query(&b, "SELECT * FROM nope");
	send_all(&c, true, &b);
	b.n = 0;
	error(&b, "42P01");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK(c.sink.ops[0].error);
	CHECK_STR(c.sink.ops[0].status_code, "42P01");
	CHECK_STR(c.sink.ops[0].error_type, "42P01");
	CHECK_STR(c.sink.ops[0].summary, "SELECT nope");
	CHECK_EQ_INT(c.sink.ops[0].returned_rows, -1);
	conn_free(&c);
}

TEST(test_extended_pipeline)
{
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_RAW);
	connect_(&c, "shop");
	/* three Executes before one Sync; the second fails, the third is skipped */
	parse(&b, "", "SELECT a FROM t1 WHERE id = $1");
	bind(&b, "");
	MSG(&b, 'D', "P\0");
	execute(&b);
	parse(&b, "", "UPDATE t2 SET a = $1");
	bind(&b, "");
	execute(&b);
	parse(&b, "", "DELETE FROM t3");
	bind(&b, "");
	execute(&b);
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, '1', "");
	MSG(&b, '2', "");
	row_desc_and_rows(&b, 3, 2);
	complete(&b, "SELECT 3");
	MSG(&b, '1', "");
	MSG(&b, '2', "");
	error(&b, "23505");
	MSG(&b, 'Z', "E");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 2);
	CHECK_STR(c.sink.ops[0].summary, "SELECT t1");
	CHECK_STR(c.sink.ops[0].query, "SELECT a FROM t1 WHERE id = $1");
	CHECK_EQ_INT(c.sink.ops[0].returned_rows, 3);
	CHECK(!c.sink.ops[0].error);
	CHECK_STR(c.sink.ops[1].summary, "UPDATE t2");
	CHECK(c.sink.ops[1].error);
	CHECK_STR(c.sink.ops[1].status_code, "23505");
	CHECK(!c.d->waiting(c.st));

	/* the next group pairs right after the error */
	b.n = 0;
	parse(&b, "", "SELECT 1");
	bind(&b, "");
	execute(&b);
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, '1', "");
	MSG(&b, '2', "");
	row_desc_and_rows(&b, 1, 1);
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 3);
	CHECK_STR(c.sink.ops[2].query, "SELECT 1");
	CHECK(!c.sink.ops[2].error);
	CHECK_EQ_INT(errors(&c), 0);
	conn_free(&c);
}

/* Two Sync groups sent before any answer (libpq pipeline mode). */
TEST(test_pipelined_groups)
{
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, NULL);
	parse(&b, "", "SELECT x FROM bad");
	bind(&b, "");
	execute(&b);
	sync_(&b);
	parse(&b, "", "INSERT INTO good VALUES (1)");
	bind(&b, "");
	execute(&b);
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	error(&b, "42703");
	MSG(&b, 'Z', "I");
	MSG(&b, '1', "");
	MSG(&b, '2', "");
	complete(&b, "INSERT 0 1");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 2);
	CHECK(c.sink.ops[0].error);
	CHECK_STR(c.sink.ops[0].summary, "SELECT bad");
	CHECK(!c.sink.ops[1].error);
	CHECK_STR(c.sink.ops[1].summary, "INSERT good");
	CHECK_STR(c.sink.ops[1].query, "INSERT INTO good VALUES (?)");
	conn_free(&c);
}

TEST(test_named_statements)
{
	struct conn c;
	struct buf b = {.n = 0};
	char name[16], sql[64];
	int i;

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, NULL);
	/* prepared once (as pgbench -M prepared does), executed many times later */
	parse(&b, "P0_1", "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	MSG(&b, 'D', "SP0_1\0");
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, '1', "");
	MSG(&b, 't', "\0\1\0\0\0\x17");
	MSG(&b, 'T', "\0\0");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 0);
	for (i = 0; i < 3; i++) {
		b.n = 0;
		bind(&b, "P0_1");
		execute(&b);
		sync_(&b);
		send_all(&c, true, &b);
		b.n = 0;
		MSG(&b, '2', "");
		row_desc_and_rows(&b, 1, 4);
		complete(&b, "SELECT 1");
		MSG(&b, 'Z', "I");
		send_all(&c, false, &b);
	}
	CHECK_EQ_INT(c.sink.n, 3);
	for (i = 0; i < 3 && i < c.sink.n; i++) {
		CHECK_STR(c.sink.ops[i].summary, "SELECT pgbench_accounts");
		CHECK_EQ_INT(c.sink.ops[i].returned_rows, 1);
	}

	/* 40 more statements: the table keeps 32, the oldest unused go, and are counted */
	b.n = 0;
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(sql, sizeof(sql), "SELECT * FROM tab%d", i);
		parse(&b, name, sql);
	}
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	for (i = 0; i < 40; i++)
		MSG(&b, '1', "");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(errors(&c), 9); /* P0_1 and s0..s7 */
	{
		struct postgres_counts n;

		postgres_get_counts(c.st, &n);
		CHECK_EQ_INT(n.evictions, 9);
	}
	b.n = 0;
	bind(&b, "s39");
	execute(&b);
	bind(&b, "s3"); /* evicted: executed without a known text */
	execute(&b);
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, '2', "");
	complete(&b, "SELECT 0");
	MSG(&b, '2', "");
	complete(&b, "SELECT 0");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 5);
	CHECK_STR(c.sink.ops[3].summary, "SELECT tab39");
	CHECK_STR(c.sink.ops[4].summary, "");
	CHECK_EQ_INT(c.sink.ops[4].returned_rows, 0);

	/* Close frees the name: a new statement of the same name is the new text */
	b.n = 0;
	MSG(&b, 'C', "Ss39\0");
	parse(&b, "s39", "DELETE FROM gone");
	bind(&b, "s39");
	execute(&b);
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, '3', "");
	MSG(&b, '1', "");
	MSG(&b, '2', "");
	complete(&b, "DELETE 4");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 6);
	CHECK_STR(c.sink.ops[5].summary, "DELETE gone");
	CHECK_EQ_INT(c.sink.ops[5].returned_rows, -1);
	conn_free(&c);
}

TEST(test_copy_in_and_out)
{
	struct conn c;
	struct buf b = {.n = 0};
	int i;

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	query(&b, "COPY items (id, name) FROM STDIN");
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, 'G', "\0\0\2\0\0\0\0");
	send_all(&c, false, &b);
	/* the data: many CopyData messages, most of them past the capture */
	b.n = 0;
	for (i = 0; i < 200; i++)
		MSG(&b, 'd', "42\tsome item name\n");
	MSG(&b, 'c', "");
	io(&c, true, b.b, b.n, 512, 0);
	CHECK_EQ_INT(c.sink.n, 0);
	answer(&c, "COPY 200");
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK_STR(c.sink.ops[0].summary, "COPY items");
	CHECK(!c.sink.ops[0].error);

	/* COPY out, binary: the header and rows go by as counted bytes */
	ask(&c, "COPY items TO STDOUT (FORMAT binary)");
	b.n = 0;
	MSG(&b, 'H', "\1\0\2\0\1\0\1");
	MSG(&b, 'd', "PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
	for (i = 0; i < 300; i++)
		MSG(&b, 'd', "\0\2\0\0\0\4\0\0\0\x2a\0\0\0\4name");
	MSG(&b, 'd', "\xff\xff");
	MSG(&b, 'c', "");
	complete(&b, "COPY 300");
	MSG(&b, 'Z', "I");
	/* in I/Os of 1000 bytes with 512 captured: the framing holds over the counted parts */
	for (i = 0; (size_t)i * 1000 < b.n; i++) {
		size_t n = b.n - (size_t)i * 1000 < 1000 ? b.n - (size_t)i * 1000 : 1000;
		struct decoder_chunk f = {.data = b.b + i * 1000, .len = n < 512 ? n : 512,
				    .tail = n > 512 ? n - 512 : 0, .ts = 9000 + i,
				    .run_start = i == 0};

		c.d->feed(c.st, false, &f, &c.out);
	}
	CHECK_EQ_INT(c.sink.n, 1); /* the tail of the last I/O held ReadyForQuery */
	run_end(&c, false, 9999);
	CHECK_EQ_INT(c.sink.n, 2);
	CHECK_STR(c.sink.ops[1].summary, "COPY items");
	CHECK_EQ_INT(c.sink.ops[1].head.end_ns, 9999);
	conn_free(&c);
}

/* A result bigger than the capture: the answer's end comes from run_end, then all is well. */
TEST(test_huge_result)
{
	struct conn c;
	struct buf b = {.n = 0};
	uint64_t before;

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	query(&b, "SELECT * FROM big");
	send_all(&c, true, &b);
	b.n = 0;
	row_desc_and_rows(&b, 30, 300);
	complete(&b, "SELECT 30");
	MSG(&b, 'Z', "I");
	/* 4 captured I/Os of 512, then a gap of everything else */
	io(&c, false, b.b, 2048, 512, 0);
	CHECK_EQ_INT(c.sink.n, 0);
	before = errors(&c);
	CHECK(before >= 1); /* lost the framing: counted */
	CHECK_EQ_INT(c.sink.lost[0], 1); /* the server's, once */
	CHECK_EQ_INT(c.sink.lost[1], 0);
	CHECK(c.d->waiting(c.st));
	run_end(&c, false, 77777);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK_STR(c.sink.ops[0].summary, "SELECT big");
	CHECK_EQ_INT(c.sink.ops[0].head.end_ns, 77777);
	CHECK_EQ_INT(c.sink.ops[0].returned_rows, -1);
	CHECK(!c.sink.ops[0].error && !c.sink.ops[0].head.incomplete);
	c.started = false; /* run_end done by hand */

	/* the next exchange decodes in full again */
	b.n = 0;
	query(&b, "SELECT count(*) FROM big");
	io(&c, true, b.b, b.n, 1024, 0);
	b.n = 0;
	row_desc_and_rows(&b, 1, 2);
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	io(&c, false, b.b, b.n, 1024, 0);
	CHECK_EQ_INT(c.sink.n, 2);
	CHECK_STR(c.sink.ops[1].summary, "SELECT big");
	CHECK_EQ_INT(c.sink.ops[1].returned_rows, 1);
	CHECK_EQ_INT(errors(&c), before);
	conn_free(&c);
}

/*
 * A driver's pipeline in more I/Os than the kernel captures per run (psycopg's executemany):
 * the Executes that went by uncaptured are known from their answers, with the bound statement.
 */
TEST(test_pipeline_past_capture)
{
	struct conn c;
	struct buf b = {.n = 0};
	int i;

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	parse(&b, "", "INSERT INTO items VALUES ($1, $2)");
	bind(&b, "");
	execute(&b);
	send_all(&c, true, &b);
	for (i = 1; i < 6; i++) {
		struct decoder_chunk f = {.data = b.b, .len = 0, .ts = c.ts + i, .actor = 101,
					  .tid = 1101};

		b.n = 0;
		bind(&b, "");
		execute(&b);
		if (i == 5)
			sync_(&b);
		f.len = b.n;
		if (i >= 4) { /* the 5th and 6th I/O of the run: counted only */
			f.gap = 0;
			f.tail = b.n;
			f.len = 0;
		}
		c.d->feed(c.st, true, &f, &c.out);
	}
	b.n = 0;
	MSG(&b, '1', "");
	for (i = 0; i < 6; i++) {
		MSG(&b, '2', "");
		complete(&b, "INSERT 0 1");
	}
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 6);
	for (i = 0; i < c.sink.n && i < 6; i++) {
		CHECK_STR(c.sink.ops[i].summary, "INSERT items");
		CHECK(!c.sink.ops[i].error && !c.sink.ops[i].head.incomplete);
	}
	CHECK(!c.d->waiting(c.st));

	/* answers alone, with no uncaptured request bytes to stand for, make nothing */
	ask(&c, "SELECT 1");
	b.n = 0;
	complete(&b, "SELECT 1");
	complete(&b, "SELECT 1");
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 7);
	conn_free(&c);
}

TEST(test_mid_session)
{
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	query(&b, "UPDATE accounts SET balance = 0 WHERE id = 7");
	send_all(&c, true, &b);
	b.n = 0;
	complete(&b, "UPDATE 1");
	MSG(&b, 'Z', "T");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK_STR(c.sink.ops[0].summary, "UPDATE accounts");
	CHECK_STR(c.sink.ops[0].namespace_, ""); /* the startup was not seen */
	conn_free(&c);

	/* classified on the server's answer to a query sonde did not see: the next pairs right */
	conn_init(&c, DB_QUERY_SANITIZED);
	b.n = 0;
	complete(&b, "SELECT 3");
	MSG(&b, 'Z', "I");
	CHECK_EQ_INT(det(b.b, b.n, 5432, 40000), DETECT_SERVER);
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 0);
	b.n = 0;
	parse(&b, "", "SELECT name FROM users WHERE id = $1");
	bind(&b, "");
	execute(&b);
	sync_(&b);
	send_all(&c, true, &b);
	b.n = 0;
	MSG(&b, '1', "");
	MSG(&b, '2', "");
	row_desc_and_rows(&b, 1, 5);
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK_STR(c.sink.ops[0].summary, "SELECT users");
	CHECK_EQ_INT(c.sink.ops[0].returned_rows, 1);
	CHECK_EQ_INT(errors(&c), 0);
	conn_free(&c);
}

/* Asynchronous server messages between answers pair with nothing. */
TEST(test_async_messages)
{
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	query(&b, "LISTEN jobs");
	send_all(&c, true, &b);
	answer(&c, "LISTEN");
	b.n = 0;
	MSG(&b, 'A', "\0\0\x30\x39jobs\0payload\0");
	MSG(&b, 'S', "TimeZone\0UTC\0");
	MSG(&b, 'N', "SWARNING\0C01000\0Mx\0\0");
	send_all(&c, false, &b);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK(!c.d->waiting(c.st));
	CHECK_STR(c.sink.ops[0].summary, "LISTEN");
	CHECK_EQ_INT(errors(&c), 0);
	conn_free(&c);
}

TEST(test_close_mid_query)
{
	struct conn c;
	struct buf b = {.n = 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	query(&b, "SELECT pg_sleep(10)");
	send_all(&c, true, &b);
	CHECK(c.d->waiting(c.st));
	c.d->close(c.st, 99999, &c.out);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK(c.sink.ops[0].head.incomplete && !c.sink.ops[0].error);
	CHECK_EQ_INT(c.sink.ops[0].head.end_ns, 99999);
	CHECK(!c.d->waiting(c.st));
	conn_free(&c);
}

/* Garbage after a startup, truncated packets, wild lengths: no op, no crash, counted. */
TEST(test_bad_input)
{
	struct conn c;
	struct buf b = {.n = 0};
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t wild[] = {'Q', 0xff, 0xff, 0xff, 0xff, 'S', 'E', 'L'};
	static const uint8_t trunc[] = {'Q', 0, 0};

	conn_init(&c, DB_QUERY_SANITIZED);
	connect_(&c, "shop");
	io(&c, true, (const uint8_t *)http, sizeof(http) - 1, 1024, 0);
	io(&c, false, (const uint8_t *)"HTTP/1.1 400 Bad\r\n\r\n", 20, 1024, 0);
	io(&c, true, wild, sizeof(wild), 1024, 0);
	io(&c, true, trunc, sizeof(trunc), 1024, 0);
	CHECK_EQ_INT(c.sink.n, 0);
	CHECK(errors(&c) >= 1);
	CHECK(c.sink.lost[1] >= 1); /* the client's framing */
	/* a real query at a run start brings it back */
	b.n = 0;
	query(&b, "SELECT 1");
	io(&c, false, (const uint8_t *)"x", 1, 1024, 0);
	io(&c, true, b.b, b.n, 1024, 0);
	b.n = 0;
	complete(&b, "SELECT 1");
	MSG(&b, 'Z', "I");
	io(&c, false, b.b, b.n, 1024, 0);
	CHECK_EQ_INT(c.sink.n, 1);
	CHECK_STR(c.sink.ops[0].summary, "SELECT");
	c.d->close(c.st, 99999, &c.out);
	CHECK_EQ_INT(c.sink.n, 1);
	conn_free(&c);

	/* a startup whose length is absurd */
	conn_init(&c, DB_QUERY_SANITIZED);
	b.n = 0;
	put32(&b, 0x7fffffff);
	put32(&b, 0x00030000);
	io(&c, true, b.b, b.n, 1024, 0);
	io(&c, false, (const uint8_t *)"R", 1, 1024, 0);
	c.d->close(c.st, 99999, &c.out);
	CHECK_EQ_INT(c.sink.n, 0);
	conn_free(&c);
}

/* The query mode: raw keeps literals, off keeps no text, the summary stays. */
TEST(test_query_modes)
{
	enum db_query_mode modes[] = {DB_QUERY_RAW, DB_QUERY_OFF};
	const char *want[] = {"SELECT * FROM t WHERE name = 'bob'", ""};
	int i;

	for (i = 0; i < 2; i++) {
		struct conn c;
		struct buf b = {.n = 0};

		conn_init(&c, modes[i]);
		connect_(&c, NULL);
		query(&b, "SELECT * FROM t WHERE name = 'bob'");
		send_all(&c, true, &b);
		answer(&c, "SELECT 0");
		CHECK_EQ_INT(c.sink.n, 1);
		CHECK_STR(c.sink.ops[0].query, want[i]);
		CHECK_STR(c.sink.ops[0].summary, "SELECT t");
		conn_free(&c);
	}
}

int main(void)
{
	RUN(test_detect);
	RUN(test_simple_query);
	RUN(test_split_every_byte);
	RUN(test_ssl_refused_then_startup);
	RUN(test_ssl_accepted_then_startup_in_plaintext);
	RUN(test_ssl_accepted_ciphertext_makes_no_span);
	RUN(test_cancel_connection);
	RUN(test_query_error);
	RUN(test_extended_pipeline);
	RUN(test_pipelined_groups);
	RUN(test_named_statements);
	RUN(test_copy_in_and_out);
	RUN(test_huge_result);
	RUN(test_pipeline_past_capture);
	RUN(test_mid_session);
	RUN(test_async_messages);
	RUN(test_close_mid_query);
	RUN(test_bad_input);
	RUN(test_query_modes);
	UNIT_DONE();
}
