/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between the assembler and the database and cache decoders (PostgreSQL, MySQL and
 * MariaDB, Redis). A decoder follows both byte streams of one connection, from the captured
 * prefixes of its I/Os, and reports each finished operation (a query, a command) as a db_op; the
 * assembler turns a db_op into a span (ids, parent, resource, peer address are its business).
 *
 * Decoders are pure: no I/O, no globals that change, no clock. They allocate only their own
 * per-connection state, bounded. They are unit-tested and fuzzed on the host.
 *
 * What the kernel gives: per connection and direction, "runs" of I/O. The first few I/Os of a
 * run come with their first bytes (db_feed.data); other bytes only go by as counts (db_feed.gap
 * before the data, db_feed.tail after it). When a run ends, run_end says when its last byte
 * moved. A decoder must keep its message framing over counted bytes where lengths allow (skip
 * by length), and otherwise say the framing is lost and re-synchronise at the next run start.
 */
#ifndef SONDE_DB_H
#define SONDE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_system {
	DB_NONE = 0,
	DB_POSTGRESQL = 1,
	DB_MYSQL = 2,
	DB_MARIADB = 3, /* a MySQL-protocol server that names itself MariaDB in its greeting */
	DB_REDIS = 4,
};

/* db.system.name values of the OpenTelemetry semantic conventions. */
const char *db_system_name(enum db_system sys);

/* What to do with query text (--db-query). */
enum db_query_mode {
	DB_QUERY_SANITIZED = 0, /* literals replaced by '?' (the default: literals hold secrets) */
	DB_QUERY_RAW = 1,	/* as sent */
	DB_QUERY_OFF = 2,	/* no db.query.text at all */
};

struct db_options {
	enum db_query_mode query_mode;
};

#define DB_OP_NAME_BYTES 32
#define DB_COLLECTION_BYTES 64
#define DB_NAMESPACE_BYTES 64
#define DB_STATUS_BYTES 16
#define DB_QUERY_BYTES 1024

/* One finished operation: one span. Strings are NUL-terminated, empty when unknown. */
struct db_op {
	enum db_system system;
	uint64_t start_ns;  /* first byte of the request, CLOCK_MONOTONIC as in the records */
	uint64_t end_ns;    /* last byte of the response (>= start_ns) */
	uint64_t tid;	    /* thread that sent (client side) or read (server side) the request;
			     * in Go, the goroutine (db_feed.tid) */
	uint32_t batch_size; /* > 1: this op stands for a batch sent as one request */
	int64_t returned_rows; /* db.response.returned_rows, or -1 when unknown */
	bool error;	    /* the server answered with an error */
	bool incomplete;    /* no answer: the connection closed or the framing was lost */
	char operation[DB_OP_NAME_BYTES];     /* db.operation.name: SELECT, GET, EXECUTE... */
	char collection[DB_COLLECTION_BYTES]; /* db.collection.name: the table, when known */
	char namespace_[DB_NAMESPACE_BYTES];  /* db.namespace: the database (Redis: its index) */
	char status_code[DB_STATUS_BYTES];    /* db.response.status_code: SQLSTATE, errno, ERR... */
	char error_type[DB_STATUS_BYTES];     /* error.type when error (often = status_code) */
	char query[DB_QUERY_BYTES];	      /* db.query.text per the query mode; cut to fit */
	char summary[DB_COLLECTION_BYTES + DB_OP_NAME_BYTES]; /* span name: "SELECT users" */
};

/* Where a decoder reports finished operations. */
struct db_sink {
	void (*op)(void *ctx, const struct db_op *op);
	void *ctx;
};

/* One captured piece of one direction of the connection. */
struct db_feed {
	const uint8_t *data; /* captured bytes of this I/O (may be empty) */
	size_t len;
	uint64_t gap;	     /* bytes of this direction that went by uncaptured just before data */
	uint64_t tail;	     /* bytes of this I/O after data that were not captured */
	uint64_t ts;	     /* when the I/O happened */
	uint64_t tid;	     /* thread that did it; in a Go program the goroutine (its g) */
	bool run_start;	     /* the first I/O of a new run in this direction */
};

/* Which side a detector saw talking. */
enum db_side {
	DB_SIDE_NONE = 0,   /* not this protocol */
	DB_SIDE_CLIENT = 1, /* these bytes were sent by the client */
	DB_SIDE_SERVER = 2, /* these bytes were sent by the server */
};

struct db_decoder {
	enum db_system system;
	/*
	 * The first bytes of a run on a connection not yet classified (either direction). Says
	 * whether they belong to this protocol and which side sent them. Must be strict: a false
	 * match turns an unrelated connection into bogus spans. The ports help where the bytes
	 * alone are ambiguous (local, remote, host order; 0 when unknown).
	 */
	enum db_side (*detect)(const uint8_t *p, size_t n, uint16_t lport, uint16_t rport);
	/* Per-connection state (a MySQL decoder says MariaDB in db_op.system once it knows). */
	void *(*create)(const struct db_options *opt);
	void (*destroy)(void *st);
	/* Bytes of one direction: from_client says which. Finished ops go to out. */
	void (*feed)(void *st, bool from_client, const struct db_feed *f, const struct db_sink *out);
	/* The run in one direction ended; its last byte moved at last_ts. */
	void (*run_end)(void *st, bool from_client, uint64_t last_ts, const struct db_sink *out);
	/* Operations sent and not yet answered (the assembler then watches for an idle end). */
	bool (*waiting)(const void *st);
	/* The connection closed at ts: report what is outstanding as incomplete, forget it. */
	void (*close)(void *st, uint64_t ts, const struct db_sink *out);
	/* Lost framing, messages cut by the capture, etc.: counted for the self-metrics. */
	uint64_t (*errors)(const void *st);
	/*
	 * Optional: the other end's answer showed that the detector was wrong (the protocol is
	 * not this one). Nothing more is fed; the assembler gives the connection up.
	 */
	bool (*rejected)(const void *st);
};

/* The decoders known, NULL-terminated, in the order detection tries them. */
extern const struct db_decoder *const db_decoders[];
extern const struct db_decoder mysql_decoder;
extern const struct db_decoder postgres_decoder;
extern const struct db_decoder redis_decoder;

#endif /* SONDE_DB_H */
