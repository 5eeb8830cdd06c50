/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for what the database decoders share (agent/decoders/db.c): the span of an
 * operation (db_build_span: its name, the semantic conventions' attributes in their order, the
 * error status, and nothing of what the core sets), the system names, and the registry rows of
 * the three decoders.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/db.h"
#include "unit.h"

static void copy(char *dst, size_t sz, const char *s)
{
	snprintf(dst, sz, "%s", s);
}

static void op_init(struct db_op *op, enum db_system sys)
{
	memset(op, 0, sizeof(*op));
	op->system = sys;
	op->returned_rows = -1;
}

/* A span as the core hands it to build_span: ids, times, kind set; no attribute yet. */
static void span_init(struct span *sp)
{
	memset(sp, 0, offsetof(struct span, attrs));
	memset(sp->trace_id, 0x11, sizeof(sp->trace_id));
	memset(sp->span_id, 0x22, sizeof(sp->span_id));
	memset(sp->parent_span_id, 0x33, sizeof(sp->parent_span_id));
	sp->start_unix_ns = 1000;
	sp->end_unix_ns = 2000;
	sp->kind = SPAN_KIND_CLIENT;
}

/* The core's part of the span is as it was. */
static void check_core_untouched(const struct span *sp)
{
	struct span ref;

	span_init(&ref);
	CHECK(!memcmp(sp->trace_id, ref.trace_id, sizeof(ref.trace_id)));
	CHECK(!memcmp(sp->span_id, ref.span_id, sizeof(ref.span_id)));
	CHECK(!memcmp(sp->parent_span_id, ref.parent_span_id, sizeof(ref.parent_span_id)));
	CHECK_EQ_INT(sp->start_unix_ns, 1000);
	CHECK_EQ_INT(sp->end_unix_ns, 2000);
	CHECK_EQ_INT(sp->kind, SPAN_KIND_CLIENT);
	CHECK(sp->res == NULL);
}

/* Attribute i is key = the string s. */
static void check_str_attr(const struct span *sp, int i, const char *key, const char *s)
{
	const struct span_attr *a = &sp->attrs[i];

	if (i >= sp->n_attrs) {
		fprintf(stderr, "no attribute %d (%s)\n", i, key);
		CHECK(0);
		return;
	}
	CHECK_STR(a->key, key);
	CHECK_EQ_INT(a->type, ATTR_STR);
	CHECK_STRN(span__attr_str(sp, a), a->len, s);
}

static void check_int_attr(const struct span *sp, int i, const char *key, int64_t v)
{
	const struct span_attr *a = &sp->attrs[i];

	if (i >= sp->n_attrs) {
		fprintf(stderr, "no attribute %d (%s)\n", i, key);
		CHECK(0);
		return;
	}
	CHECK_STR(a->key, key);
	CHECK_EQ_INT(a->type, ATTR_INT);
	CHECK_EQ_INT(a->i, v);
}

static void build(const struct db_op *op, struct span *sp, const struct conn_info *info,
		  const struct sonde_config *cfg)
{
	span_init(sp);
	db_build_span(&op->head, sp, info, cfg);
}

/* Every attribute, in the order the conventions' list gives them. */
TEST(test_full_op)
{
	struct conn_info info = {.role = SONDE_ROLE_CLIENT, .have_tuple = true, .sport = 40000,
				 .dport = 5432, .peer_len = 8, .peer = "10.0.0.5"};
	struct sonde_config cfg = {0};
	struct span sp;
	struct db_op op;

	op_init(&op, DB_POSTGRESQL);
	copy(op.operation, sizeof(op.operation), "BATCH INSERT");
	copy(op.collection, sizeof(op.collection), "items");
	copy(op.namespace_, sizeof(op.namespace_), "shop");
	copy(op.query, sizeof(op.query),
	     "INSERT INTO items VALUES (?); INSERT INTO items VALUES (?)");
	copy(op.summary, sizeof(op.summary), "BATCH INSERT items");
	op.batch_size = 2;
	op.returned_rows = 0;
	op.head.incomplete = true; /* the core's status to set, not build_span's */
	build(&op, &sp, &info, &cfg);
	CHECK_STR(sp.name, "BATCH INSERT items");
	CHECK_EQ_INT(sp.n_attrs, 10);
	check_str_attr(&sp, 0, "db.system.name", "postgresql");
	check_str_attr(&sp, 1, "db.namespace", "shop");
	check_str_attr(&sp, 2, "db.operation.name", "BATCH INSERT");
	check_str_attr(&sp, 3, "db.collection.name", "items");
	check_str_attr(&sp, 4, "db.query.summary", "BATCH INSERT items");
	check_str_attr(&sp, 5, "db.query.text",
		       "INSERT INTO items VALUES (?); INSERT INTO items VALUES (?)");
	check_int_attr(&sp, 6, "db.operation.batch.size", 2);
	check_int_attr(&sp, 7, "db.response.returned_rows", 0);
	CHECK_EQ_INT(sp.status, SPAN_STATUS_UNSET);
	check_core_untouched(&sp);
	/* the server it was sent to: the connection's peer (span__add_server_attrs) */
	check_str_attr(&sp, 8, "server.address", "10.0.0.5");
	check_int_attr(&sp, 9, "server.port", 5432);

	/* the database's own end: its port, and the client it serves */
	info.role = SONDE_ROLE_SERVER;
	build(&op, &sp, &info, &cfg);
	CHECK_EQ_INT(sp.n_attrs, 10);
	check_int_attr(&sp, 8, "server.port", 40000);
	check_str_attr(&sp, 9, "client.address", "10.0.0.5");
}

/* The name: the summary, else the operation, else the system; empty strings add nothing. */
TEST(test_name_and_empty_fields)
{
	struct sonde_config cfg = {0};
	struct conn_info info = {0};
	struct span sp;
	struct db_op op;

	op_init(&op, DB_REDIS);
	copy(op.operation, sizeof(op.operation), "GET");
	copy(op.namespace_, sizeof(op.namespace_), "0");
	build(&op, &sp, &info, &cfg);
	CHECK_STR(sp.name, "GET");
	CHECK_EQ_INT(sp.n_attrs, 3);
	check_str_attr(&sp, 0, "db.system.name", "redis");
	check_str_attr(&sp, 1, "db.namespace", "0");
	check_str_attr(&sp, 2, "db.operation.name", "GET");

	op_init(&op, DB_MARIADB);
	op.batch_size = 1; /* not a batch */
	build(&op, &sp, &info, &cfg);
	CHECK_STR(sp.name, "mariadb");
	CHECK_EQ_INT(sp.n_attrs, 1);
	check_str_attr(&sp, 0, "db.system.name", "mariadb");

	/* the longest summary a decoder makes fits the name whole */
	op_init(&op, DB_MYSQL);
	memset(op.summary, 'S', sizeof(op.summary) - 1);
	build(&op, &sp, &info, &cfg);
	CHECK_EQ_INT(strlen(sp.name), sizeof(op.summary) - 1);
	CHECK(!memcmp(sp.name, op.summary, sizeof(op.summary)));
}

/* The query text goes only where the mode lets it (a config left out: the decoder decided). */
TEST(test_query_mode_off)
{
	struct sonde_config cfg = {0};
	struct conn_info info = {0};
	struct span sp;
	struct db_op op;

	op_init(&op, DB_MYSQL);
	copy(op.query, sizeof(op.query), "SELECT ?");
	cfg.db.query_mode = DB_QUERY_OFF;
	build(&op, &sp, &info, &cfg);
	CHECK(span__find_attr(&sp, "db.query.text") == NULL);
	CHECK_EQ_INT(sp.n_attrs, 1);
	cfg.db.query_mode = DB_QUERY_RAW;
	build(&op, &sp, &info, &cfg);
	check_str_attr(&sp, 1, "db.query.text", "SELECT ?");
	build(&op, &sp, &info, NULL);
	check_str_attr(&sp, 1, "db.query.text", "SELECT ?");
}

/* An error answer: status ERROR and error.type, the error's own, else its code, else "error". */
TEST(test_errors)
{
	struct sonde_config cfg = {0};
	struct conn_info info = {0};
	struct span sp;
	struct db_op op;

	op_init(&op, DB_POSTGRESQL);
	op.error = true;
	copy(op.status_code, sizeof(op.status_code), "42P01");
	copy(op.error_type, sizeof(op.error_type), "UNDEFINED");
	build(&op, &sp, &info, &cfg);
	CHECK_EQ_INT(sp.status, SPAN_STATUS_ERROR);
	CHECK_EQ_INT(sp.n_attrs, 3);
	check_str_attr(&sp, 1, "db.response.status_code", "42P01");
	check_str_attr(&sp, 2, "error.type", "UNDEFINED");
	check_core_untouched(&sp);

	op.error_type[0] = '\0';
	build(&op, &sp, &info, &cfg);
	check_str_attr(&sp, 2, "error.type", "42P01");

	op.status_code[0] = '\0';
	build(&op, &sp, &info, &cfg);
	CHECK_EQ_INT(sp.n_attrs, 2);
	check_str_attr(&sp, 1, "error.type", "error");
	CHECK_EQ_INT(sp.status, SPAN_STATUS_ERROR);

	/* a status code without an error (a warning) is an attribute, not an error */
	op_init(&op, DB_MYSQL);
	copy(op.status_code, sizeof(op.status_code), "1287");
	build(&op, &sp, &info, &cfg);
	CHECK_EQ_INT(sp.status, SPAN_STATUS_UNSET);
	CHECK(span__find_attr(&sp, "error.type") == NULL);
	check_str_attr(&sp, 1, "db.response.status_code", "1287");
}

TEST(test_system_names)
{
	CHECK_STR(db_system_name(DB_POSTGRESQL), "postgresql");
	CHECK_STR(db_system_name(DB_MYSQL), "mysql");
	CHECK_STR(db_system_name(DB_MARIADB), "mariadb");
	CHECK_STR(db_system_name(DB_REDIS), "redis");
	CHECK_STR(db_system_name(DB_NONE), "other_sql");
}

static void check_row(const struct decoder *d, const char *name)
{
	CHECK_STR(d->name, name);
	CHECK(d->db);
	CHECK_EQ_INT(d->link_wait_ns, DB_LINK_WAIT_NS);
	CHECK(d->detect && d->create && d->destroy && d->feed && d->run_end && d->waiting &&
	      d->close);
	CHECK(d->run_summary == NULL && d->note == NULL);
	CHECK(d->build_span == db_build_span);
}

TEST(test_registry_rows)
{
	check_row(&postgres_decoder, "postgresql");
	check_row(&mysql_decoder, "mysql");
	check_row(&redis_decoder, "redis");
}

int main(void)
{
	RUN(test_full_op);
	RUN(test_name_and_empty_fields);
	RUN(test_query_mode_off);
	RUN(test_errors);
	RUN(test_system_names);
	RUN(test_registry_rows);
	UNIT_DONE();
}
