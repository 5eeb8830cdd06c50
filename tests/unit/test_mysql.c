/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the MySQL/MariaDB decoder over conversations built here packet by packet:
 * detection, the handshake (flavour, database), queries with result sets in both EOF styles,
 * errors, COM_INIT_DB and USE, prepared statements executed many times and the bounded table,
 * answers split at every byte, bytes the kernel only counted, multi-results, LOCAL INFILE,
 * MariaDB's direct execute and progress reports, TLS, garbage and connections that close.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/db.h"
#include "decoders/mysql.h"
#include "unit.h"

#define CAPS_BASE (0x00000001u | 0x00000008u | 0x00000200u | 0x00008000u | 0x00080000u)
#define CAP_MULTI 0x00010000u
#define CAP_DEPRECATE_EOF 0x01000000u
#define CAP_SSL 0x00000800u

struct w {
	uint8_t b[200000];
	size_t n;
};

static void put(struct w *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void pkt(struct w *w, uint8_t seq, const void *payload, size_t len)
{
	uint8_t h[4] = { (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), seq };

	put(w, h, 4);
	put(w, payload, len);
}

static void pkts(struct w *w, uint8_t seq, const char *s)
{
	pkt(w, seq, s, strlen(s));
}

/* A command: its byte then its text. */
static void cmd(struct w *w, uint8_t c, const char *text)
{
	uint8_t b[4096];
	size_t n = strlen(text);

	b[0] = c;
	memcpy(b + 1, text, n);
	pkt(w, 0, b, n + 1);
}

static void greeting(struct w *w, const char *version, uint32_t caps)
{
	uint8_t b[256];
	size_t n = 0, v = strlen(version);

	b[n++] = 0x0a;
	memcpy(b + n, version, v + 1);
	n += v + 1;
	memcpy(b + n, "\x2a\x00\x00\x00" "abcdefgh" "\x00", 13);
	n += 13;
	b[n++] = (uint8_t)caps;
	b[n++] = (uint8_t)(caps >> 8);
	b[n++] = 45;
	b[n++] = 2;
	b[n++] = 0;
	b[n++] = (uint8_t)(caps >> 16);
	b[n++] = (uint8_t)(caps >> 24);
	b[n++] = 21;
	memset(b + n, 0, 10);
	n += 10;
	memcpy(b + n, "ijklmnopqrst\0mysql_native_password\0", 35);
	n += 35;
	pkt(w, 0, b, n);
}

static void response(struct w *w, uint32_t caps, const char *db)
{
	uint8_t b[256];
	size_t n = 0;

	if (!db)
		caps &= ~0x8u; /* no CLIENT_CONNECT_WITH_DB */
	b[n++] = (uint8_t)caps;
	b[n++] = (uint8_t)(caps >> 8);
	b[n++] = (uint8_t)(caps >> 16);
	b[n++] = (uint8_t)(caps >> 24);
	memcpy(b + n, "\x00\x00\x00\x01\x21", 5);
	n += 5;
	memset(b + n, 0, 23);
	n += 23;
	memcpy(b + n, "app", 4);
	n += 4;
	b[n++] = 20;
	memset(b + n, 0x5a, 20);
	n += 20;
	if (db) {
		memcpy(b + n, db, strlen(db) + 1);
		n += strlen(db) + 1;
	}
	memcpy(b + n, "mysql_native_password", 22);
	n += 22;
	pkt(w, 1, b, n);
}

static const char ok_pkt[] = "\x00\x00\x00\x02\x00\x00\x00";
static const char eof_pkt[] = "\xfe\x00\x00\x02\x00";
static const char eof_more[] = "\xfe\x00\x00\x0a\x00"; /* status: more results exist */
static const char ok_end[] = "\xfe\x00\x00\x02\x00\x00\x00"; /* OK as result set end */
static const char err_1146[] = "\xff\x7a\x04#42S02Table 'shop.nope' doesn't exist";
static const char coldef[] = "\x03" "def\x04shop\x05users\x05users\x02id\x02id\x0c\x3f\x00"
			     "\x0b\x00\x00\x00\x03\x03\x42\x00\x00\x00";

static void ok(struct w *w, uint8_t seq)
{
	pkt(w, seq, ok_pkt, 7);
}

/* A text result set of `cols` columns and `rows` rows; classic EOFs or the deprecated form. */
static void result(struct w *w, uint8_t seq, int cols, int rows, bool deprecate_eof,
		   bool more)
{
	uint8_t c = (uint8_t)cols;
	int i;

	pkt(w, seq++, &c, 1);
	for (i = 0; i < cols; i++)
		pkt(w, seq++, coldef, sizeof(coldef) - 1);
	if (!deprecate_eof)
		pkt(w, seq++, eof_pkt, 5);
	for (i = 0; i < rows; i++)
		pkts(w, seq++, "\x01" "7\x03" "ada");
	if (deprecate_eof)
		pkt(w, seq++, more ? "\xfe\x00\x00\x0a\x00\x00\x00" : ok_end, 7);
	else
		pkt(w, seq++, more ? eof_more : eof_pkt, 5);
}

/* A conversation: the decoder, what it reported, and a clock. */
struct conv {
	void *st;
	int n;
	struct db_op ops[256];
	uint64_t ts;
	int dir; /* -1 none yet, 0 server, 1 client */
	bool run_start;
	int lost[2];  /* sink lost calls, by from_client */
	int bad_head; /* ops reported with the core's part of the head not zero */
	int other;    /* calls a database decoder never makes (begin, answered, policy, give_up) */
	struct conn_info info;
	struct sonde_config cfg;
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

static void on_op(void *ctx, struct op_head *h)
{
	struct conv *c = ctx;

	if (h->has_ctx || !zero(&h->ctx, sizeof(h->ctx)) || h->begun || h->awaiting_peer ||
	    !zero(h->trace_id, 16) || !zero(h->span_id, 8) || !zero(h->parent_id, 8))
		c->bad_head++;
	if (c->n < 256)
		c->ops[c->n] = *(const struct db_op *)h;
	c->n++;
}

static void on_lost(void *ctx, bool from_client)
{
	struct conv *c = ctx;

	c->lost[from_client]++;
}

static void on_begin(void *ctx, struct op_head *h)
{
	((struct conv *)ctx)->other++;
}

static void on_answered(void *ctx, struct op_head *h, uint64_t ts)
{
	((struct conv *)ctx)->other++;
}

static void on_policy(void *ctx, uint8_t policy)
{
	((struct conv *)ctx)->other++;
}

static void on_give_up(void *ctx, bool not_mine)
{
	((struct conv *)ctx)->other++;
}

static void conv_init(struct conv *c, enum db_query_mode mode)
{
	struct decoder_env env = { .cfg = &c->cfg, .conn = &c->info };

	memset(c, 0, sizeof(*c));
	c->cfg.db.query_mode = mode;
	c->st = mysql_decoder.create(&env);
	c->ts = 1000;
	c->dir = -1;
}

static struct decoder_sink sink(struct conv *c)
{
	struct decoder_sink s = { .begin = on_begin, .answered = on_answered, .done = on_op,
				  .lost = on_lost, .policy = on_policy, .give_up = on_give_up,
				  .ctx = c };

	return s;
}

static void run_end(struct conv *c, bool from_client, uint64_t ts)
{
	struct decoder_sink s = sink(c);
	struct sonde_run_summary run = { .last_ts_ns = ts };

	mysql_decoder.run_end(c->st, from_client, &run, &s);
}

/*
 * Everything the decoder counts as trouble: framing lost, statements evicted, commands beyond
 * the queue or memory. Every framing loss went to the sink once.
 */
static uint64_t errors(struct conv *c)
{
	struct mysql_counts n;

	mysql_get_counts(c->st, &n);
	CHECK_EQ_INT(n.lost, c->lost[0] + c->lost[1]);
	return n.lost + n.evictions + n.refused + n.nomem;
}

/* The detector, with the ports of a connection (0: unknown). */
static enum detect_result det(const uint8_t *p, size_t n, uint16_t lport, uint16_t rport)
{
	struct conn_info info = { .have_tuple = lport || rport, .sport = lport, .dport = rport };

	return mysql_decoder.detect(p, n, &info);
}

/* The direction turns: the other one's run ended at the current time. */
static void turn(struct conv *c, bool from_client)
{
	if (c->dir == (int)from_client)
		return;
	if (c->dir >= 0)
		run_end(c, c->dir == 1, c->ts);
	c->dir = from_client;
	c->run_start = true;
}

/* One I/O: data captured, with gap before and tail after. */
static void io(struct conv *c, bool from_client, const uint8_t *p, size_t n, uint64_t gap,
	       uint64_t tail)
{
	struct decoder_sink s = sink(c);
	struct decoder_chunk f = { 0 };
	uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees any read past n */

	memcpy(copy, p, n);
	turn(c, from_client);
	c->ts += 1000;
	f.data = copy;
	f.len = n;
	f.gap = gap;
	f.tail = tail;
	f.ts = c->ts;
	f.actor = from_client ? 11 : 22;
	f.tid = from_client ? 1011 : 1022;
	f.run_start = c->run_start;
	c->run_start = false;
	mysql_decoder.feed(c->st, from_client, &f, &s);
	free(copy);
}

static void send_w(struct conv *c, bool from_client, struct w *w)
{
	io(c, from_client, w->b, w->n, 0, 0);
	w->n = 0;
}

static void conv_end(struct conv *c)
{
	struct decoder_sink s = sink(c);

	mysql_decoder.close(c->st, c->ts + 1, &s);
	CHECK(!mysql_decoder.waiting(c->st));
	CHECK_EQ_INT(c->bad_head, 0);
	CHECK_EQ_INT(c->other, 0);
	mysql_decoder.destroy(c->st);
}

static struct w W;

/* Greeting, response with a database, OK. */
static void login(struct conv *c, const char *version, uint32_t caps, const char *db)
{
	greeting(&W, version, caps);
	send_w(c, false, &W);
	response(&W, caps, db);
	send_w(c, true, &W);
	ok(&W, 2);
	send_w(c, false, &W);
}

static const char MARIADB[] = "5.5.5-10.11.19-MariaDB-0+deb12u1";

TEST(test_detect)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char redis[] = "*1\r\n$4\r\nPING\r\n";
	static const uint8_t pg_startup[] = { 0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f };
	struct w w = { .n = 0 };
	size_t i;

	greeting(&w, MARIADB, CAPS_BASE);
	CHECK_EQ_INT(det(w.b, w.n, 3306, 50000), DETECT_SERVER);
	/* every cut short of the capabilities is too little to be sure */
	for (i = 0; i < 5 + sizeof(MARIADB) + 15; i++)
		CHECK_EQ_INT(det(w.b, i, 0, 0), DETECT_NO);
	w.b[5] = 'x'; /* a version must start with a digit */
	CHECK_EQ_INT(det(w.b, w.n, 0, 0), DETECT_NO);
	w.n = 0;
	greeting(&w, "8.0.36", CAPS_BASE & ~0x200u); /* no 4.1 protocol */
	CHECK_EQ_INT(det(w.b, w.n, 0, 0), DETECT_NO);

	w.n = 0;
	cmd(&w, 0x03, "SELECT * FROM users WHERE id = 1");
	CHECK_EQ_INT(det(w.b, w.n, 0, 3306), DETECT_CLIENT);
	CHECK_EQ_INT(det(w.b, w.n - 1, 0, 3306), DETECT_NO); /* length off */
	w.b[3] = 1; /* not sequence 0 */
	CHECK_EQ_INT(det(w.b, w.n, 0, 0), DETECT_NO);
	w.n = 0;
	cmd(&w, 0x03, "HELLO there");
	CHECK_EQ_INT(det(w.b, w.n, 0, 0), DETECT_NO);
	w.n = 0;
	cmd(&w, 0x03, "SELECT \x01\x02");
	CHECK_EQ_INT(det(w.b, w.n, 0, 0), DETECT_NO);

	CHECK_EQ_INT(det((const uint8_t *)http, strlen(http), 0, 0), DETECT_NO);
	CHECK_EQ_INT(det((const uint8_t *)redis, strlen(redis), 0, 0), DETECT_NO);
	CHECK_EQ_INT(det(pg_startup, sizeof(pg_startup), 0, 0), DETECT_NO);
}

TEST(test_session)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	CHECK_EQ_INT(c.n, 0);

	cmd(&W, 0x03, "SELECT id, name FROM users WHERE id > 10");
	send_w(&c, true, &W);
	CHECK(mysql_decoder.waiting(c.st));
	result(&W, 1, 2, 3, false, false);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 1);
	CHECK(!mysql_decoder.waiting(c.st));
	CHECK_EQ_INT(c.ops[0].system, DB_MARIADB);
	CHECK_STR(c.ops[0].namespace_, "shop");
	CHECK_STR(c.ops[0].operation, "SELECT");
	CHECK_STR(c.ops[0].collection, "users");
	CHECK_STR(c.ops[0].summary, "SELECT users");
	CHECK_STR(c.ops[0].query, "SELECT id, name FROM users WHERE id > ?");
	CHECK_EQ_INT(c.ops[0].returned_rows, 3);
	CHECK_EQ_INT(c.ops[0].head.actor, 11);
	CHECK_EQ_INT(c.ops[0].head.tid, 1011);
	CHECK_EQ_INT(c.ops[0].head.start_ns, c.ts - 1000);
	CHECK_EQ_INT(c.ops[0].head.end_ns, c.ts);
	CHECK(!c.ops[0].error && !c.ops[0].head.incomplete);

	cmd(&W, 0x03, "SELECT * FROM nope");
	send_w(&c, true, &W);
	pkt(&W, 1, err_1146, sizeof(err_1146) - 1);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 2);
	CHECK(c.ops[1].error);
	CHECK_STR(c.ops[1].status_code, "1146");
	CHECK_STR(c.ops[1].error_type, "1146");
	CHECK_EQ_INT(c.ops[1].returned_rows, -1);

	cmd(&W, 0x02, "other_db"); /* COM_INIT_DB */
	send_w(&c, true, &W);
	ok(&W, 1);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 3);
	CHECK_STR(c.ops[2].operation, "USE");
	CHECK_STR(c.ops[2].namespace_, "other_db");

	cmd(&W, 0x03, "UPDATE t SET a = 1");
	send_w(&c, true, &W);
	ok(&W, 1);
	send_w(&c, false, &W);
	CHECK_STR(c.ops[3].namespace_, "other_db");
	CHECK_EQ_INT(c.ops[3].returned_rows, -1); /* affected rows are not returned rows */

	cmd(&W, 0x02, "missing"); /* a failed COM_INIT_DB leaves the database as it was */
	send_w(&c, true, &W);
	pkt(&W, 1, "\xff\x19\x04#42000Unknown database", 23);
	send_w(&c, false, &W);
	CHECK(c.ops[4].error);

	cmd(&W, 0x03, "USE `third`");
	send_w(&c, true, &W);
	ok(&W, 1);
	send_w(&c, false, &W);
	cmd(&W, 0x0e, ""); /* COM_PING */
	send_w(&c, true, &W);
	ok(&W, 1);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 7);
	CHECK_STR(c.ops[5].namespace_, "third");
	CHECK_STR(c.ops[6].operation, "PING");
	CHECK_STR(c.ops[6].namespace_, "third");

	cmd(&W, 0x01, ""); /* COM_QUIT: no answer, no span */
	send_w(&c, true, &W);
	CHECK(!mysql_decoder.waiting(c.st));
	conv_end(&c);
	CHECK_EQ_INT(c.n, 7);
}

/* --ssl: an SSL request (the response's first 32 bytes with CLIENT_SSL), then the TLS
 * library's plaintext: the full response (sequence 2), the OK, the commands. */
TEST(test_ssl_request_then_plaintext_session)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	greeting(&W, MARIADB, CAPS_BASE | 0x800);
	send_w(&c, false, &W);
	response(&W, CAPS_BASE | 0x800, "shop");
	W.n = 4 + 32;
	W.b[0] = 32;
	W.b[1] = W.b[2] = 0;
	send_w(&c, true, &W);
	response(&W, CAPS_BASE | 0x800, "shop");
	W.b[3] = 2;
	send_w(&c, true, &W);
	ok(&W, 3);
	send_w(&c, false, &W);
	cmd(&W, 0x03, "SELECT 1");
	send_w(&c, true, &W);
	result(&W, 1, 1, 1, false, false);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 1);
	CHECK_STR(c.ops[0].namespace_, "shop");
	CHECK_STR(c.ops[0].summary, "SELECT");
	conv_end(&c);
}

TEST(test_mysql8_deprecate_eof)
{
	struct conv c;
	uint32_t caps = CAPS_BASE | CAP_DEPRECATE_EOF;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, "8.0.36", caps, NULL);
	cmd(&W, 0x03, "SELECT a FROM t");
	send_w(&c, true, &W);
	result(&W, 1, 1, 2, true, false);
	send_w(&c, false, &W);
	cmd(&W, 0x03, "SELECT a FROM empty_t");
	send_w(&c, true, &W);
	result(&W, 1, 1, 0, true, false);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.ops[0].system, DB_MYSQL);
	CHECK_STR(c.ops[0].namespace_, "");
	CHECK_EQ_INT(c.ops[0].returned_rows, 2);
	CHECK_EQ_INT(c.ops[1].returned_rows, 0);
	CHECK(!c.ops[1].head.incomplete);
}

/* Binary protocol: prepare OK (id, 1 column, 1 parameter), definitions and EOFs. */
static void prepare_ok(struct w *w, uint32_t id)
{
	uint8_t b[12] = { 0, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16),
			  (uint8_t)(id >> 24), 1, 0, 1, 0, 0, 0, 0 };

	pkt(w, 1, b, 12);
	pkt(w, 2, coldef, sizeof(coldef) - 1);
	pkt(w, 3, eof_pkt, 5);
	pkt(w, 4, coldef, sizeof(coldef) - 1);
	pkt(w, 5, eof_pkt, 5);
}

static void execute(struct w *w, uint32_t id)
{
	uint8_t b[] = { 0x17, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16),
			(uint8_t)(id >> 24), 0, 1, 0, 0, 0, 0, 1, 3, 0, 42, 0, 0, 0 };

	pkt(w, 0, b, sizeof(b));
}

static void binary_rows(struct w *w, int rows)
{
	uint8_t one = 1;
	uint8_t seq = 1;
	int i;

	pkt(w, seq++, &one, 1);
	pkt(w, seq++, coldef, sizeof(coldef) - 1);
	pkt(w, seq++, eof_pkt, 5);
	for (i = 0; i < rows; i++)
		pkt(w, seq++, "\x00\x00\x03" "ada", 6);
	pkt(w, seq++, eof_pkt, 5);
}

TEST(test_prepared_many_executes)
{
	struct conv c;
	int i;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x16, "SELECT name FROM users WHERE id = ?");
	send_w(&c, true, &W);
	prepare_ok(&W, 7);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 1);
	CHECK_STR(c.ops[0].operation, "PREPARE");
	CHECK_STR(c.ops[0].summary, "PREPARE SELECT users");
	CHECK_STR(c.ops[0].collection, "users");
	for (i = 0; i < 100; i++) {
		execute(&W, 7);
		send_w(&c, true, &W);
		binary_rows(&W, i % 3);
		send_w(&c, false, &W);
	}
	CHECK_EQ_INT(c.n, 101);
	for (i = 0; i < 100; i++) {
		const struct db_op *op = &c.ops[1 + i];

		CHECK_STR(op->summary, "SELECT users");
		CHECK_STR(op->operation, "SELECT");
		CHECK_STR(op->query, "SELECT name FROM users WHERE id = ?");
		CHECK_EQ_INT(op->returned_rows, i % 3);
		CHECK_STR(op->namespace_, "shop");
	}
	/* COM_STMT_CLOSE has no answer; the id is forgotten */
	pkt(&W, 0, "\x19\x07\x00\x00\x00", 5);
	send_w(&c, true, &W);
	CHECK(!mysql_decoder.waiting(c.st));
	execute(&W, 7);
	send_w(&c, true, &W);
	pkt(&W, 1, "\xff\x13\x05#HY000Unknown prepared statement handler", 44);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 102);
	CHECK_STR(c.ops[101].operation, "EXECUTE");
	CHECK_STR(c.ops[101].summary, "");
	CHECK(c.ops[101].error);
	CHECK_EQ_INT(errors(&c), 0);
	conv_end(&c);
}

TEST(test_statement_table_bounded)
{
	struct conv c;
	char q[64];
	uint32_t id;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	for (id = 1; id <= 200; id++) {
		snprintf(q, sizeof(q), "SELECT a FROM t%u WHERE b = ?", id);
		cmd(&W, 0x16, q);
		send_w(&c, true, &W);
		prepare_ok(&W, id);
		send_w(&c, false, &W);
	}
	CHECK_EQ_INT(c.n, 200);
	/* 64 kept: the 136 oldest were evicted, each counted */
	CHECK_EQ_INT(errors(&c), 136);
	{
		struct mysql_counts n;

		mysql_get_counts(c.st, &n);
		CHECK_EQ_INT(n.evictions, 136);
	}
	execute(&W, 200);
	send_w(&c, true, &W);
	binary_rows(&W, 1);
	send_w(&c, false, &W);
	CHECK_STR(c.ops[200].summary, "SELECT t200");
	execute(&W, 1);
	send_w(&c, true, &W);
	binary_rows(&W, 1);
	send_w(&c, false, &W);
	CHECK_STR(c.ops[201].operation, "EXECUTE");
	CHECK_EQ_INT(c.ops[201].returned_rows, 1);
	conv_end(&c);
}

/* The same answer in two I/Os cut at every byte gives the same op. */
TEST(test_split_every_byte)
{
	static struct w ans;
	struct conv c;
	size_t k;

	ans.n = 0;
	result(&ans, 1, 3, 4, false, false);
	for (k = 0; k <= ans.n; k++) {
		conv_init(&c, DB_QUERY_SANITIZED);
		login(&c, MARIADB, CAPS_BASE, "shop");
		cmd(&W, 0x03, "SELECT * FROM users");
		send_w(&c, true, &W);
		io(&c, false, ans.b, k, 0, 0);
		CHECK_EQ_INT(c.n, k == ans.n);
		io(&c, false, ans.b + k, ans.n - k, 0, 0);
		if (c.n != 1) {
			fprintf(stderr, "split at %zu: %d ops\n", k, c.n);
			CHECK_EQ_INT(c.n, 1);
		} else {
			/* it ended with the I/O that carried its last byte */
			CHECK_EQ_INT(c.ops[0].returned_rows, 4);
			CHECK_EQ_INT(c.ops[0].head.end_ns, k == ans.n ? c.ts - 1000 : c.ts);
		}
		/* and the framing is right for what follows */
		cmd(&W, 0x0e, "");
		send_w(&c, true, &W);
		ok(&W, 1);
		send_w(&c, false, &W);
		CHECK_EQ_INT(c.n, 2);
		conv_end(&c);
	}
}

/* A result set far larger than the capture: its end comes with the run's end. */
TEST(test_large_result_uncaptured)
{
	static struct w ans;
	struct conv c;
	struct decoder_sink s;
	uint64_t end;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	ans.n = 0;
	result(&ans, 1, 2, 5000, false, false);
	cmd(&W, 0x03, "SELECT * FROM big");
	send_w(&c, true, &W);
	io(&c, false, ans.b, 512, 0, 16384 - 512); /* the first read, cut by the capture */
	io(&c, false, ans.b + 16384, 512, 0, 16384 - 512);
	CHECK_EQ_INT(c.n, 0);
	CHECK(mysql_decoder.waiting(c.st));
	/* the rest only counted, then the run ends (idle or the next command) */
	s = sink(&c);
	{
		struct decoder_chunk f = { 0 };

		f.gap = ans.n - 32768;
		f.ts = c.ts + 5000;
		mysql_decoder.feed(c.st, false, &f, &s);
	}
	end = c.ts + 5000;
	CHECK_EQ_INT(c.n, 0);
	run_end(&c, false, end);
	CHECK_EQ_INT(c.n, 1);
	CHECK_STR(c.ops[0].summary, "SELECT big");
	CHECK_EQ_INT(c.ops[0].head.end_ns, end);
	CHECK_EQ_INT(c.ops[0].returned_rows, -1); /* not counted, so not said */
	CHECK(!c.ops[0].error && !c.ops[0].head.incomplete);
	CHECK(errors(&c) >= 1);
	CHECK_EQ_INT(c.lost[0], 1); /* the server's framing, once */
	CHECK_EQ_INT(c.lost[1], 0);
	c.dir = 0;
	c.ts = end;
	/* the next command and its answer are followed again */
	cmd(&W, 0x03, "SELECT 1");
	send_w(&c, true, &W);
	result(&W, 1, 1, 1, false, false);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.ops[1].returned_rows, 1);
	conv_end(&c);
}

/* A long query captured in part: framing holds over the counted rest of its packet. */
TEST(test_long_query_partly_captured)
{
	static char q[4000];
	struct conv c;
	size_t i;

	memcpy(q, "SELECT * FROM users WHERE name IN (", 35);
	for (i = 35; i < sizeof(q) - 2; i++)
		q[i] = i % 2 ? '1' : ',';
	q[sizeof(q) - 2] = ')';
	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, q);
	io(&c, true, W.b, 512, 0, W.n - 512);
	W.n = 0;
	result(&W, 1, 1, 2, false, false);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 1);
	CHECK_STR(c.ops[0].summary, "SELECT users");
	CHECK_EQ_INT(c.ops[0].returned_rows, 2);
	CHECK_EQ_INT(errors(&c), 0);
	conv_end(&c);
}

TEST(test_close_mid_query)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, "SELECT SLEEP(10)");
	send_w(&c, true, &W);
	/* a command cut short is not a command: no span for it */
	pkt(&W, 0, "\x03SELECT 1", 9);
	W.b[0] = 100;
	conv_end(&c);
	CHECK_EQ_INT(c.n, 1);
	CHECK(c.ops[0].head.incomplete && !c.ops[0].error);
	CHECK_EQ_INT(c.ops[0].head.end_ns, c.ts + 1);

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	io(&c, true, W.b, W.n, 0, 0); /* header says 100 bytes, 9 came */
	W.n = 0;
	conv_end(&c);
	CHECK_EQ_INT(c.n, 0);
}

TEST(test_garbage)
{
	struct conv c;
	uint8_t junk[600];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	/* after the greeting, noise instead of a handshake response */
	conv_init(&c, DB_QUERY_SANITIZED);
	greeting(&W, MARIADB, CAPS_BASE);
	send_w(&c, false, &W);
	io(&c, true, junk, sizeof(junk), 0, 0);
	io(&c, false, junk, sizeof(junk), 0, 0);
	CHECK(!mysql_decoder.waiting(c.st));
	conv_end(&c);
	CHECK_EQ_INT(c.n, 0);

	/* in the command phase: the client's framing is lost, nothing is made up */
	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	io(&c, true, junk, sizeof(junk), 0, 0);
	io(&c, false, junk, sizeof(junk), 0, 0);
	io(&c, true, junk, sizeof(junk), 0, 0);
	CHECK(errors(&c) >= 1);
	CHECK(c.lost[1] >= 1); /* the client's framing */
	conv_end(&c);
	CHECK_EQ_INT(c.n, 0);

	/* an answer out of sequence is not taken for the query's */
	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, "SELECT 1");
	send_w(&c, true, &W);
	result(&W, 5, 1, 1, false, false);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 0);
	cmd(&W, 0x0e, ""); /* the run ended: the query ends there, rows unknown */
	send_w(&c, true, &W);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.ops[0].returned_rows, -1);
	ok(&W, 1);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 2);
	CHECK_STR(c.ops[1].operation, "PING");
	conv_end(&c);
}

TEST(test_mid_session)
{
	struct conv c;

	conv_init(&c, DB_QUERY_RAW);
	cmd(&W, 0x03, "SELECT name FROM users WHERE id = 5");
	send_w(&c, true, &W);
	result(&W, 1, 1, 1, false, false);
	send_w(&c, false, &W);
	/* capabilities unknown: the EOF after the columns taught the style */
	cmd(&W, 0x03, "SELECT name FROM users");
	send_w(&c, true, &W);
	result(&W, 1, 1, 3, false, false);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.ops[0].system, DB_MYSQL); /* no greeting, no flavour */
	CHECK_STR(c.ops[0].query, "SELECT name FROM users WHERE id = 5");
	CHECK_EQ_INT(c.ops[0].returned_rows, 1);
	CHECK_EQ_INT(c.ops[1].returned_rows, 3);

	/* the same with the deprecated EOF style */
	conv_init(&c, DB_QUERY_SANITIZED);
	cmd(&W, 0x03, "SELECT name FROM users");
	send_w(&c, true, &W);
	result(&W, 1, 1, 2, true, false);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.ops[0].returned_rows, 2);
}

TEST(test_multi_results)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE | CAP_MULTI, "shop");
	cmd(&W, 0x03, "SELECT a FROM t; SELECT b FROM t");
	send_w(&c, true, &W);
	result(&W, 1, 1, 2, false, true);
	CHECK_EQ_INT(c.n, 0);
	result(&W, (uint8_t)(1 + 1 + 1 + 1 + 2 + 1), 1, 3, false, false);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.ops[0].returned_rows, 5);
	CHECK_EQ_INT(c.ops[0].batch_size, 2);
}

TEST(test_local_infile)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, "LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t");
	send_w(&c, true, &W);
	pkts(&W, 1, "\xfb/tmp/x");
	send_w(&c, false, &W);
	pkts(&W, 2, "1\n2\n3\n");
	pkt(&W, 3, "", 0);
	send_w(&c, true, &W);
	CHECK_EQ_INT(c.n, 0);
	ok(&W, 4);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 1);
	CHECK_STR(c.ops[0].operation, "LOAD");
	CHECK(!c.ops[0].error && !c.ops[0].head.incomplete);
}

/* MariaDB's connector sends the prepare and an execute of "the last statement" together. */
TEST(test_mariadb_direct_execute)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x16, "SELECT name FROM users WHERE id = ?");
	execute(&W, 0xffffffffu);
	send_w(&c, true, &W);
	prepare_ok(&W, 3);
	binary_rows(&W, 2);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 2);
	CHECK_STR(c.ops[0].summary, "PREPARE SELECT users");
	CHECK_STR(c.ops[1].summary, "SELECT users");
	CHECK_EQ_INT(c.ops[1].returned_rows, 2);
}

TEST(test_progress_report)
{
	struct conv c;

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, "ALTER TABLE t ADD COLUMN c INT");
	send_w(&c, true, &W);
	pkt(&W, 1, "\xff\xff\xff\x01\x01\x02\x10\x27\x00\x05stage", 15);
	send_w(&c, false, &W);
	CHECK_EQ_INT(c.n, 0);
	ok(&W, 2);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_EQ_INT(c.n, 1);
	CHECK(!c.ops[0].error && !c.ops[0].head.incomplete);
	CHECK_STR(c.ops[0].summary, "ALTER t");
}

TEST(test_tls_gives_up)
{
	struct conv c;
	uint8_t ssl[32] = { 0 };
	uint32_t caps = CAPS_BASE | CAP_SSL;

	conv_init(&c, DB_QUERY_SANITIZED);
	greeting(&W, MARIADB, caps);
	send_w(&c, false, &W);
	ssl[0] = (uint8_t)caps;
	ssl[1] = (uint8_t)(caps >> 8);
	ssl[2] = (uint8_t)(caps >> 16);
	pkt(&W, 1, ssl, sizeof(ssl));
	send_w(&c, true, &W);
	/* then TLS records, which may look like anything */
	cmd(&W, 0x03, "SELECT 1");
	send_w(&c, true, &W);
	result(&W, 1, 1, 1, false, false);
	send_w(&c, false, &W);
	CHECK(!mysql_decoder.waiting(c.st));
	conv_end(&c);
	CHECK_EQ_INT(c.n, 0);
}

TEST(test_query_modes)
{
	struct conv c;

	conv_init(&c, DB_QUERY_RAW);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, "SELECT * FROM users WHERE name = 'ada'");
	send_w(&c, true, &W);
	ok(&W, 1);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_STR(c.ops[0].query, "SELECT * FROM users WHERE name = 'ada'");

	conv_init(&c, DB_QUERY_SANITIZED);
	login(&c, MARIADB, CAPS_BASE, "shop");
	cmd(&W, 0x03, "SELECT * FROM users WHERE name = 'ada'");
	send_w(&c, true, &W);
	ok(&W, 1);
	send_w(&c, false, &W);
	conv_end(&c);
	CHECK_STR(c.ops[0].query, "SELECT * FROM users WHERE name = ?");
}

int main(void)
{
	RUN(test_detect);
	RUN(test_session);
	RUN(test_ssl_request_then_plaintext_session);
	RUN(test_mysql8_deprecate_eof);
	RUN(test_prepared_many_executes);
	RUN(test_statement_table_bounded);
	RUN(test_split_every_byte);
	RUN(test_large_result_uncaptured);
	RUN(test_long_query_partly_captured);
	RUN(test_close_mid_query);
	RUN(test_garbage);
	RUN(test_mid_session);
	RUN(test_multi_results);
	RUN(test_local_infile);
	RUN(test_mariadb_direct_execute);
	RUN(test_progress_report);
	RUN(test_tls_gives_up);
	RUN(test_query_modes);
	UNIT_DONE();
}
