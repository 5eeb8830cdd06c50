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
 */
size_t sql_sanitize(const char *q, size_t n, char *out, size_t outsz);

/*
 * The operation (the leading keyword, upper case: SELECT, INSERT, UPDATE, DELETE, CREATE...)
 * and the main table (FROM/INTO/UPDATE/TABLE target, unquoted, schema kept) of q. Either may
 * come out empty.
 */
void sql_summarize(const char *q, size_t n, char *op, size_t opsz, char *coll, size_t collsz);

/*
 * Fill op->operation, op->collection, op->summary ("SELECT users", or the operation alone) and
 * op->query (per mode) from the statement text q[0..n).
 */
void sql_fill_op(struct db_op *op, const char *q, size_t n, enum db_query_mode mode);

#endif /* SONDE_SQL_H */
