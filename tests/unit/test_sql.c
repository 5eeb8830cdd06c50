/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the SQL text helpers: statements as psql, pgbench, psycopg, ORMs and the MySQL
 * client send them, literals of every kind in both dialects, comments, IN lists, WITH queries,
 * quoted and qualified names, batches, cuts at every output size, and text that is not SQL.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/sql.h"
#include "unit.h"

/* Sanitize from an exact-size heap copy so that ASan sees any read past n. */
static const char *san_as(enum db_system sys, const char *q)
{
	static char out[2048];
	size_t n = strlen(q), len;
	char *b = malloc(n ? n : 1);

	memcpy(b, q, n);
	len = sql_sanitize_as(sys, b, n, out, sizeof(out));
	free(b);
	CHECK_EQ_INT(len, strlen(out));
	return out;
}

static const char *san(const char *q)
{
	return san_as(DB_POSTGRESQL, q);
}

static const char *san_my(const char *q)
{
	return san_as(DB_MYSQL, q);
}

/* "OP|collection" for compact checks. */
static const char *summ_as(enum db_system sys, const char *q)
{
	static char res[256];
	char op[DB_OP_NAME_BYTES], coll[DB_COLLECTION_BYTES];
	size_t n = strlen(q);
	char *b = malloc(n ? n : 1);

	memcpy(b, q, n);
	sql_summarize_as(sys, b, n, op, sizeof(op), coll, sizeof(coll));
	free(b);
	snprintf(res, sizeof(res), "%s|%s", op, coll);
	return res;
}

static const char *summ(const char *q)
{
	return summ_as(DB_POSTGRESQL, q);
}

TEST(test_sanitize_strings)
{
	CHECK_STR(san("SELECT * FROM users WHERE name = 'alice'"),
		  "SELECT * FROM users WHERE name = ?");
	CHECK_STR(san("SELECT 'it''s', 'a' 'b'"), "SELECT ?, ? ?");
	/* standard strings: the backslash is a plain byte, the quote after it ends the string */
	CHECK_STR(san("SELECT 'C:\\' AS p, 'secret' AS q"), "SELECT ? AS p, ? AS q");
	/* E'' strings escape with backslashes */
	CHECK_STR(san("SELECT E'it\\'s secret', e'x\\\\', 1"), "SELECT ?, ?, ?");
	CHECK_STR(san("SELECT U&'d\\0061t\\+000061', N'nat'"), "SELECT ?, ?");
	CHECK_STR(san("SELECT x'1F', X'00ff', b'1010', B'0'"), "SELECT ?, ?, ?, ?");
	CHECK_STR(san("SELECT $$it's $1 a 'string'$$, $fn$ body $$ still $fn$ AS t"),
		  "SELECT ?, ? AS t");
	/* $1 is a placeholder, $tag not closed is no quote */
	CHECK_STR(san("SELECT * FROM t WHERE a = $1 AND b = $2::int"),
		  "SELECT * FROM t WHERE a = $1 AND b = $2::int");
	/* a string cut by the capture: everything after the quote is literal */
	CHECK_STR(san("INSERT INTO t VALUES ('password=hunt"), "INSERT INTO t VALUES (?");
	CHECK_STR(san("SELECT $$unterminated"), "SELECT ?");
}

TEST(test_sanitize_mysql_strings)
{
	CHECK_STR(san_my("SELECT * FROM t WHERE a = 'it\\'s' AND b = \"dq \\\" x\""),
		  "SELECT * FROM t WHERE a = ? AND b = ?");
	CHECK_STR(san_my("SELECT `weird``name`, `t`.`c` FROM `db`.`t`"),
		  "SELECT `weird``name`, `t`.`c` FROM `db`.`t`");
	CHECK_STR(san_my("SELECT 1 # trailing\n, 2"), "SELECT ? , ?");
	/* "--" needs a space after it in MySQL: 5--1 is arithmetic, and stays so */
	CHECK_STR(san_my("SELECT 5--1, 2 -- note\n"), "SELECT ?- -?, ?");
	CHECK_STR(san_my("SELECT 5--# c\n d"), "SELECT ?- - d");
	CHECK_STR(san_my("SELECT _utf8mb4'x' COLLATE utf8mb4_bin, 0x1F, x'AB'"),
		  "SELECT _utf8mb4? COLLATE utf8mb4_bin, ?, ?");
	CHECK_STR(san_my("SELECT * FROM 1st_table WHERE c1 = 2"),
		  "SELECT * FROM 1st_table WHERE c1 = ?");
	/* the same text under PostgreSQL's rules keeps "..." (an identifier) */
	CHECK_STR(san("SELECT \"Col\" FROM \"T\"\"x\""), "SELECT \"Col\" FROM \"T\"\"x\"");
	CHECK_STR(san_my("SELECT \"Col\" FROM t"), "SELECT ? FROM t");
}

TEST(test_sanitize_numbers)
{
	CHECK_STR(san("SELECT 1, 2.5, .5, 6., 1e10, 1.5E-3, 2e+4, 0x1F, 0o17, 0b101, 1_000_000"),
		  "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?");
	CHECK_STR(san("SELECT t1.c2, col_3 FROM t1 WHERE x = -42"),
		  "SELECT t1.c2, col_3 FROM t1 WHERE x = -?");
	CHECK_STR(san("SELECT a FROM t LIMIT 10 OFFSET 20"), "SELECT a FROM t LIMIT ? OFFSET ?");
	CHECK_STR(san("SELECT a+1 FROM t"), "SELECT a+? FROM t");
	/* TRUE, FALSE, NULL are keywords, not literals here */
	CHECK_STR(san("UPDATE t SET a = NULL, b = TRUE"), "UPDATE t SET a = NULL, b = TRUE");
	CHECK_STR(san("SELECT * FROM t WHERE id = :id AND x = ?"),
		  "SELECT * FROM t WHERE id = :id AND x = ?");
}

TEST(test_sanitize_comments_and_space)
{
	CHECK_STR(san("/* app=shop secret='x' */ SELECT 1 -- 'tail'\n FROM t"),
		  "SELECT ? FROM t");
	CHECK_STR(san("SELECT /* outer /* nested */ still */ 1"), "SELECT ?");
	CHECK_STR(san("SELECT a/*x*/FROM t"), "SELECT a FROM t");
	CHECK_STR(san("  SELECT\n\ta,\r\n  b\n FROM   t  "), "SELECT a, b FROM t");
	CHECK_STR(san("SELECT 1 -- unterminated"), "SELECT ?");
	CHECK_STR(san("SELECT 1 /* unterminated"), "SELECT ?");
	CHECK_STR(san(""), "");
	CHECK_STR(san(" \n-- only a comment\n"), "");
}

TEST(test_sanitize_in_lists)
{
	CHECK_STR(san("SELECT * FROM t WHERE id IN (1, 2, 3)"), "SELECT * FROM t WHERE id IN (?)");
	CHECK_STR(san("SELECT * FROM t WHERE id in ('a','b','c') AND x = 1"),
		  "SELECT * FROM t WHERE id in (?) AND x = ?");
	CHECK_STR(san_my("DELETE FROM t WHERE id IN (?, ?, ?, ?)"),
		  "DELETE FROM t WHERE id IN (?)");
	/* a list that is not only values keeps its other members */
	CHECK_STR(san("SELECT 1 FROM t WHERE a IN (1, 2, b)"), "SELECT ? FROM t WHERE a IN (?, b)");
	CHECK_STR(san("SELECT 1 FROM t WHERE a IN (SELECT b FROM u)"),
		  "SELECT ? FROM t WHERE a IN (SELECT b FROM u)");
	/* VALUES lists are not collapsed (their arity is the statement's shape) */
	CHECK_STR(san("INSERT INTO t (a, b) VALUES (1, 'x')"), "INSERT INTO t (a, b) VALUES (?, ?)");
	/* $n placeholders stay as they are */
	CHECK_STR(san("SELECT 1 FROM t WHERE a IN ($1, $2)"), "SELECT ? FROM t WHERE a IN ($1, $2)");
	/* a list cut by the capture ends with its held comma */
	CHECK_STR(san("SELECT 1 FROM t WHERE a IN (1, 2,"), "SELECT ? FROM t WHERE a IN (?,");
}

/* Every output size: NUL-terminated, a prefix of the full result, never a split sequence. */
TEST(test_sanitize_cut)
{
	const char *q = "SELECT 'x', \"naïve\", 12 FROM \"日本\" WHERE a IN (1,2) -- c";
	char full[256], small[128];
	size_t n = strlen(q), k, m, fl;

	fl = sql_sanitize(q, n, full, sizeof(full));
	CHECK_STR(full, "SELECT ?, \"naïve\", ? FROM \"日本\" WHERE a IN (?)");
	CHECK_EQ_INT(sql_sanitize(q, n, small, 0), 0);
	for (k = 1; k < sizeof(small); k++) {
		memset(small, 'Z', sizeof(small));
		m = sql_sanitize(q, n, small, k);
		CHECK(m < k && small[m] == '\0' && m <= fl);
		CHECK(!memcmp(small, full, m));
		/* the byte after the cut in the full text starts a character */
		if (m < fl)
			CHECK(((unsigned char)full[m] & 0xc0) != 0x80);
		if (k < sizeof(small))
			CHECK(small[k] == 'Z');
	}
}

TEST(test_summarize)
{
	CHECK_STR(summ("SELECT abalance FROM pgbench_accounts WHERE aid = $1"),
		  "SELECT|pgbench_accounts");
	CHECK_STR(summ("select * from public.users u join orders o on o.uid = u.id"),
		  "SELECT|public.users");
	CHECK_STR(summ("SELECT \"Id\" FROM \"My Schema\".\"Users\"\"X\""),
		  "SELECT|My Schema.Users\"X");
	CHECK_STR(summ("SELECT extract(year FROM now()), (SELECT max(a) FROM t2) FROM t1"),
		  "SELECT|t1");
	CHECK_STR(summ("SELECT 1"), "SELECT|");
	CHECK_STR(summ("SELECT * FROM (SELECT 1) s"), "SELECT|");
	CHECK_STR(summ("SELECT * FROM ONLY parent"), "SELECT|parent");
	/* a function in FROM is no table; a column list after INTO is */
	CHECK_STR(summ("SELECT g FROM generate_series(1, 10) g"), "SELECT|");
	CHECK_STR(summ("SELECT g FROM pg_catalog.generate_series (1, 10) g"), "SELECT|");
	CHECK_STR(summ("INSERT INTO t(a, b) VALUES (1, 2)"), "INSERT|t");
	CHECK_STR(summ("  /* c */ -- d\n (SELECT a FROM t) UNION (SELECT b FROM u)"), "SELECT|t");
	CHECK_STR(summ("INSERT INTO pgbench_history (tid, bid) VALUES ($1, $2)"),
		  "INSERT|pgbench_history");
	CHECK_STR(summ("UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = 2"),
		  "UPDATE|pgbench_tellers");
	CHECK_STR(summ("UPDATE ONLY s.t SET a = 1"), "UPDATE|s.t");
	CHECK_STR(summ("DELETE FROM sessions WHERE expires < now()"), "DELETE|sessions");
	CHECK_STR(summ("begin"), "BEGIN|");
	CHECK_STR(summ("COMMIT"), "COMMIT|");
	CHECK_STR(summ("SET application_name = 'x'"), "SET|");
	CHECK_STR(summ("CREATE TABLE IF NOT EXISTS items (id int)"), "CREATE|items");
	CHECK_STR(summ("CREATE TEMP TABLE tmp_x AS SELECT 1"), "CREATE|tmp_x");
	CHECK_STR(summ("CREATE UNLOGGED TABLE s.u (a int)"), "CREATE|s.u");
	CHECK_STR(summ("DROP TABLE IF EXISTS items"), "DROP|items");
	CHECK_STR(summ("ALTER TABLE ONLY items ADD COLUMN b int"), "ALTER|items");
	CHECK_STR(summ("CREATE INDEX i ON items (id)"), "CREATE|");
	CHECK_STR(summ("TRUNCATE pgbench_history"), "TRUNCATE|pgbench_history");
	CHECK_STR(summ("TRUNCATE TABLE ONLY a.b"), "TRUNCATE|a.b");
	CHECK_STR(summ("COPY items (id, name) FROM STDIN"), "COPY|items");
	CHECK_STR(summ("copy (select 1) to stdout"), "COPY|");
	CHECK_STR(summ("MERGE INTO stock s USING delta d ON s.id = d.id WHEN MATCHED THEN "
		       "UPDATE SET n = d.n"),
		  "MERGE|stock");
}

TEST(test_summarize_with)
{
	CHECK_STR(summ("WITH recent AS (SELECT * FROM orders WHERE ts > now()) "
		       "SELECT count(*) FROM recent"),
		  "SELECT|recent");
	CHECK_STR(summ("WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t) "
		       "SELECT sum(n) FROM t"),
		  "SELECT|t");
	CHECK_STR(summ("WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved"),
		  "INSERT|b");
	CHECK_STR(summ("WITH x AS MATERIALIZED (SELECT 1), y AS (SELECT 2) UPDATE t SET a = 1"),
		  "UPDATE|t");
	/* a WITH that never reaches its main statement */
	CHECK_STR(summ("WITH x AS (SELECT 1"), "|");
}

TEST(test_summarize_mysql)
{
	CHECK_STR(summ_as(DB_MYSQL, "SELECT * FROM `shop`.`order items` WHERE id = 1"),
		  "SELECT|shop.order items");
	CHECK_STR(summ_as(DB_MYSQL, "INSERT IGNORE INTO t1 VALUES (1)"), "INSERT|t1");
	CHECK_STR(summ_as(DB_MYSQL, "INSERT t2 (a) VALUES (1)"), "INSERT|t2");
	CHECK_STR(summ_as(DB_MYSQL, "REPLACE INTO kv VALUES ('a', 'b')"), "REPLACE|kv");
	CHECK_STR(summ_as(DB_MYSQL, "UPDATE LOW_PRIORITY IGNORE t SET a = 1"), "UPDATE|t");
	CHECK_STR(summ_as(DB_MYSQL, "# comment\nSHOW TABLES"), "SHOW|");
	CHECK_STR(summ_as(DB_MYSQL, "select @@version_comment limit 1"), "SELECT|");
}

TEST(test_summarize_garbage)
{
	CHECK_STR(summ(""), "|");
	CHECK_STR(summ("\x16\x03\x01\x02\x00"), "|");
	CHECK_STR(summ("123 abc"), "|");
	CHECK_STR(summ("'string first'"), "|");
	CHECK_STR(summ("SELECT a FROM"), "SELECT|");
	CHECK_STR(summ("SELECT a FROM ("), "SELECT|");
	CHECK_STR(summ("SELECT a FROM t."), "SELECT|t");
	CHECK_STR(summ("INSERT"), "INSERT|");
	/* names longer than the buffers are cut, NUL-terminated */
	{
		char op[8], coll[8];
		const char *q = "SELECTIVELYLONGWORD FROM averyveryverylongtable";

		sql_summarize(q, strlen(q), op, sizeof(op), coll, sizeof(coll));
		CHECK_STR(op, "SELECTI");
		CHECK_STR(coll, "");
		q = "SELECT a FROM averyveryverylongtable";
		sql_summarize(q, strlen(q), op, sizeof(op), coll, sizeof(coll));
		CHECK_STR(op, "SELECT");
		CHECK_STR(coll, "averyve");
	}
}

static void fill(struct db_op *op, enum db_system sys, const char *q, enum db_query_mode mode)
{
	memset(op, 0, sizeof(*op));
	op->system = sys;
	sql_fill_op(op, q, strlen(q), mode);
}

TEST(test_fill_op)
{
	struct db_op op;

	fill(&op, DB_POSTGRESQL, "SELECT name FROM users WHERE id = 42", DB_QUERY_SANITIZED);
	CHECK_STR(op.operation, "SELECT");
	CHECK_STR(op.collection, "users");
	CHECK_STR(op.summary, "SELECT users");
	CHECK_STR(op.query, "SELECT name FROM users WHERE id = ?");
	CHECK_EQ_INT(op.batch_size, 0);

	fill(&op, DB_POSTGRESQL, "SELECT name FROM users WHERE id = 42", DB_QUERY_RAW);
	CHECK_STR(op.query, "SELECT name FROM users WHERE id = 42");
	fill(&op, DB_POSTGRESQL, "SELECT name FROM users WHERE id = 42", DB_QUERY_OFF);
	CHECK_STR(op.query, "");
	CHECK_STR(op.summary, "SELECT users");

	fill(&op, DB_POSTGRESQL, "BEGIN", DB_QUERY_SANITIZED);
	CHECK_STR(op.summary, "BEGIN");
	CHECK_STR(op.collection, "");

	fill(&op, DB_POSTGRESQL, "\x01\x02 'not sql'", DB_QUERY_SANITIZED);
	CHECK_STR(op.operation, "");
	CHECK_STR(op.summary, "");

	/* a trailing semicolon and empty statements do not make a batch */
	fill(&op, DB_POSTGRESQL, "SELECT 1; ; -- done\n", DB_QUERY_SANITIZED);
	CHECK_EQ_INT(op.batch_size, 0);
	CHECK_STR(op.summary, "SELECT");

	/* a ; inside a literal or comment does not split */
	fill(&op, DB_MYSQL, "SELECT 'a;b', \"c;\\\"d\" /* ; */ FROM t # ;\n", DB_QUERY_SANITIZED);
	CHECK_EQ_INT(op.batch_size, 0);
	CHECK_STR(op.query, "SELECT ?, ? FROM t");
	fill(&op, DB_POSTGRESQL, "DO $$BEGIN PERFORM 1; END$$", DB_QUERY_SANITIZED);
	CHECK_EQ_INT(op.batch_size, 0);
	CHECK_STR(op.operation, "DO");
}

TEST(test_fill_op_batch)
{
	struct db_op op;

	fill(&op, DB_POSTGRESQL, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);",
	     DB_QUERY_SANITIZED);
	CHECK_EQ_INT(op.batch_size, 2);
	CHECK_STR(op.operation, "BATCH INSERT");
	CHECK_STR(op.collection, "t");
	CHECK_STR(op.summary, "BATCH INSERT t");
	CHECK_STR(op.query, "INSERT INTO t VALUES (?); INSERT INTO t VALUES (?);");

	fill(&op, DB_POSTGRESQL, "SELECT 1 FROM a; SELECT 2 FROM b", DB_QUERY_SANITIZED);
	CHECK_EQ_INT(op.batch_size, 2);
	CHECK_STR(op.operation, "BATCH SELECT");
	CHECK_STR(op.collection, "");
	CHECK_STR(op.summary, "BATCH SELECT");

	fill(&op, DB_POSTGRESQL, "BEGIN; UPDATE t SET a = 1; COMMIT", DB_QUERY_SANITIZED);
	CHECK_EQ_INT(op.batch_size, 3);
	CHECK_STR(op.operation, "");
	CHECK_STR(op.collection, "");
	CHECK_STR(op.summary, "BATCH");
}

/* Real statements as clients send them: the sanitized text keeps no literal digit or quote. */
TEST(test_real_statements)
{
	static const char *const qs[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = 30017;",
		"UPDATE pgbench_accounts SET abalance = abalance + -4025 WHERE aid = 71634;",
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 71634, "
		"-4025, CURRENT_TIMESTAMP);",
		"SELECT n.nspname as \"Schema\",\n  c.relname as \"Name\",\n  CASE c.relkind WHEN "
		"'r' THEN 'table' WHEN 'v' THEN 'view' END as \"Type\"\nFROM pg_catalog.pg_class c"
		"\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE "
		"c.relkind IN ('r','p','v','m','S','f','')\n      AND n.nspname <> 'pg_catalog'\n"
		"ORDER BY 1,2;",
		"SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid "
		"WHERE typname = 'hstore'",
		"SET TIME ZONE 'UTC'",
		"select pg_sleep(0.25)",
	};
	struct db_op op;
	size_t i, k;

	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		fill(&op, DB_POSTGRESQL, qs[i], DB_QUERY_SANITIZED);
		for (k = 0; op.query[k]; k++)
			if (op.query[k] == '\'' || (op.query[k] >= '0' && op.query[k] <= '9' &&
						    !(k && (op.query[k - 1] == '_' ||
							    op.query[k - 1] == '$'))))
				break;
		if (op.query[k])
			fprintf(stderr, "literal left in: %s\n", op.query);
		CHECK(!op.query[k]);
		CHECK(op.operation[0]);
	}
	fill(&op, DB_POSTGRESQL, qs[3], DB_QUERY_SANITIZED);
	CHECK_STR(op.summary, "SELECT pg_catalog.pg_class");
	CHECK(strstr(op.query, "c.relkind IN (?) AND") != NULL);
	fill(&op, DB_POSTGRESQL, qs[1], DB_QUERY_SANITIZED);
	CHECK_STR(op.query,
		  "UPDATE pgbench_accounts SET abalance = abalance + -? WHERE aid = ?;");
}

int main(void)
{
	RUN(test_sanitize_strings);
	RUN(test_sanitize_mysql_strings);
	RUN(test_sanitize_numbers);
	RUN(test_sanitize_comments_and_space);
	RUN(test_sanitize_in_lists);
	RUN(test_sanitize_cut);
	RUN(test_summarize);
	RUN(test_summarize_with);
	RUN(test_summarize_mysql);
	RUN(test_summarize_garbage);
	RUN(test_fill_op);
	RUN(test_fill_op_batch);
	RUN(test_real_statements);
	UNIT_DONE();
}
