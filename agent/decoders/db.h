/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the database and cache decoders (PostgreSQL, MySQL and MariaDB, Redis) share beyond the
 * decoder interface (decoder.h): the systems, the query-text modes, and the operation they
 * report, which db_build_span turns into a span by the semantic conventions for databases.
 */
#ifndef SONDE_DB_H
#define SONDE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decoders/db_options.h"
#include "decoders/decoder.h"

enum db_system {
	DB_NONE = 0,
	DB_POSTGRESQL = 1,
	DB_MYSQL = 2,
	DB_MARIADB = 3, /* a MySQL-protocol server that names itself MariaDB in its greeting */
	DB_REDIS = 4,
};

/* db.system.name values of the OpenTelemetry semantic conventions. */
const char *db_system_name(enum db_system sys);

#define DB_OP_NAME_BYTES 32
#define DB_COLLECTION_BYTES 64
#define DB_NAMESPACE_BYTES 64
#define DB_STATUS_BYTES 16
#define DB_QUERY_BYTES 1024

/*
 * One finished operation: one span. Strings are NUL-terminated, empty when unknown. head is
 * filled as decoder.h says: start_ns (first byte of the request), end_ns (last byte of the
 * answer), actor and tid (decoder_chunk.actor and .tid of the request's first I/O), incomplete.
 */
struct db_op {
	struct op_head head;
	enum db_system system;
	uint32_t batch_size;   /* > 1: this op stands for a batch sent as one request */
	int64_t returned_rows; /* db.response.returned_rows, or -1 when unknown */
	bool error;	       /* the server answered with an error */
	char operation[DB_OP_NAME_BYTES];     /* db.operation.name: SELECT, GET, EXECUTE... */
	char collection[DB_COLLECTION_BYTES]; /* db.collection.name: the table, when known */
	char namespace_[DB_NAMESPACE_BYTES];  /* db.namespace: the database (Redis: its index) */
	char status_code[DB_STATUS_BYTES];    /* db.response.status_code: SQLSTATE, errno, ERR... */
	char error_type[DB_STATUS_BYTES];     /* error.type when error (often = status_code) */
	char query[DB_QUERY_BYTES];	      /* db.query.text per the query mode; cut to fit */
	char summary[DB_COLLECTION_BYTES + DB_OP_NAME_BYTES]; /* span name: "SELECT users" */
};

/* How long a database server span waits for the ids of its client end on this host. */
#define DB_LINK_WAIT_NS (2000ULL * 1000000ULL)

/* A finished db_op to the core (out->done), the core's part of its head zeroed as decoder.h
 * wants it. */
void db_op__report(const struct decoder_sink *out, struct db_op *op);

/* The span of a db_op (decoder.build_span of every database row). */
void db_build_span(const struct op_head *op, struct span *sp, const struct conn_info *info,
		   const struct sonde_config *cfg);

#endif /* SONDE_DB_H */
