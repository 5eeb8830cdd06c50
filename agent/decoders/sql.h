/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SQL text as the database decoders see it (PostgreSQL, MySQL/MariaDB): the operation and the
 * table it works on, for the span name and db.operation.name / db.collection.name, and the text
 * with its literals replaced by '?' for db.query.text. One pass, no allocation, no regex; bounded
 * by the output sizes. Text that is not SQL comes out as an empty operation, never a crash.
 */
#ifndef SONDE_SQL_H
#define SONDE_SQL_H

#include <stddef.h>

#include "db.h"

/*
 * Copy q[0..n) into out (NUL-terminated, cut to outsz) with every string, number, hex, bit and
 * dollar-quoted literal replaced by '?', and comments dropped (they may hold anything).
 * Returns the length written.
 *
 * Identifiers, quoted identifiers and placeholders (?, $1, :name) stay. White space and
 * comments come out as one space between tokens; a cut never splits a UTF-8 sequence. A list
 * of values after IN collapses: "IN (1, 2, 3)" and "IN (?, ?)" both give "IN (?)", so that the
 * text does not vary with the list's length. This one follows PostgreSQL's rules (standard
 * strings: a backslash escapes only in E'...'; "..." is an identifier).
 */
size_t sql_sanitize(const char *q, size_t n, char *out, size_t outsz);

/*
 * The same with the rules of sys's dialect: for DB_MYSQL and DB_MARIADB a backslash escapes in
 * '...' and "...", "..." is a string (a literal), `...` an identifier, # starts a comment and
 * "--" does only when white space follows; any other system gets PostgreSQL's rules.
 */
size_t sql_sanitize_as(enum db_system sys, const char *q, size_t n, char *out, size_t outsz);

/*
 * The operation (the leading keyword, upper case: SELECT, INSERT, UPDATE, DELETE, CREATE...)
 * and the main table (FROM/INTO/UPDATE/TABLE target, unquoted, schema kept) of q. Either may
 * come out empty.
 */
void sql_summarize(const char *q, size_t n, char *op, size_t opsz, char *coll, size_t collsz);

/* The same with the rules of sys's dialect (see sql_sanitize_as). */
void sql_summarize_as(enum db_system sys, const char *q, size_t n, char *op, size_t opsz,
		      char *coll, size_t collsz);

/*
 * Fill op->operation, op->collection, op->summary ("SELECT users", or the operation alone) and
 * op->query (per mode) from the statement text q[0..n), in the dialect of op->system (set it
 * first).
 *
 * Several statements separated by ';' are the conventions' batch: op->batch_size is set to
 * their number, the operation is "BATCH SELECT" when they all have the same operation (else
 * "BATCH"), the collection is kept when all agree, and the summary is "BATCH SELECT users",
 * "BATCH SELECT" or "BATCH". batch_size is left alone for a single statement.
 */
void sql_fill_op(struct db_op *op, const char *q, size_t n, enum db_query_mode mode);

#endif /* SONDE_SQL_H */
