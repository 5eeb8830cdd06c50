/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the SQL text helpers, in both dialects. Besides letting the sanitizers
 * watch every read, it checks what must hold for any text: outputs are NUL-terminated within
 * their buffers, a smaller output buffer gives a prefix of the larger one, sanitizing twice
 * changes nothing, the operation is an upper-case word, and a batch has at least two members.
 * A broken property aborts, so the fuzzer reports it like a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/sql.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

static void check_sanitize(enum db_system sys, const char *q, size_t n)
{
	static const size_t sizes[] = {1, 2, 7, 33, 200};
	char full[8192], again[8192], small[256];
	size_t fl, m, k;

	fl = sql_sanitize_as(sys, q, n, full, sizeof(full));
	REQUIRE(fl < sizeof(full) && strlen(full) == fl);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(small, 'Z', sizeof(small));
		m = sql_sanitize_as(sys, q, n, small, sizes[k]);
		REQUIRE(m < sizes[k] && small[m] == '\0');
		REQUIRE(m <= fl && !memcmp(small, full, m));
		REQUIRE(small[sizes[k]] == 'Z');
	}
	/* no leading space (the end may be an unterminated quoted name, which keeps its own) */
	REQUIRE(!fl || full[0] != ' ');
	/* the sanitized text is a fixed point (when it was not cut) */
	if (fl + 1 < sizeof(full)) {
		m = sql_sanitize_as(sys, full, fl, again, sizeof(again));
		if (m != fl || memcmp(full, again, fl))
			fprintf(stderr, "once:  [%s]\ntwice: [%s]\n", full, again);
		REQUIRE(m == fl && !memcmp(full, again, fl));
	}
}

static void check_summary(enum db_system sys, const char *q, size_t n)
{
	char op[DB_OP_NAME_BYTES], coll[DB_COLLECTION_BYTES], op2[6], coll2[5];
	size_t i;

	memset(op, 'Z', sizeof(op));
	memset(coll, 'Z', sizeof(coll));
	sql_summarize_as(sys, q, n, op, sizeof(op), coll, sizeof(coll));
	REQUIRE(memchr(op, '\0', sizeof(op)) && memchr(coll, '\0', sizeof(coll)));
	for (i = 0; op[i]; i++)
		REQUIRE(!(op[i] >= 'a' && op[i] <= 'z') && op[i] != ' ' && op[i] != '\'');
	sql_summarize_as(sys, q, n, op2, sizeof(op2), coll2, sizeof(coll2));
	REQUIRE(!strncmp(op, op2, strlen(op2)) && strlen(op2) < sizeof(op2));
	REQUIRE(!strncmp(coll, coll2, strlen(coll2)) && strlen(coll2) < sizeof(coll2));
}

static void check_fill(enum db_system sys, const char *q, size_t n)
{
	enum db_query_mode mode;
	struct db_op op;

	for (mode = DB_QUERY_SANITIZED; mode <= DB_QUERY_OFF; mode++) {
		memset(&op, 0xa5, sizeof(op));
		op.system = sys;
		op.batch_size = 0;
		sql_fill_op(&op, q, n, mode);
		REQUIRE(memchr(op.operation, '\0', sizeof(op.operation)));
		REQUIRE(memchr(op.collection, '\0', sizeof(op.collection)));
		REQUIRE(memchr(op.summary, '\0', sizeof(op.summary)));
		REQUIRE(memchr(op.query, '\0', sizeof(op.query)));
		REQUIRE(op.batch_size == 0 || op.batch_size >= 2);
		REQUIRE(op.batch_size <= n);
		if (mode == DB_QUERY_OFF)
			REQUIRE(op.query[0] == '\0');
		if (op.collection[0])
			REQUIRE(op.summary[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *q = (const char *)data;

	if (size > 4096)
		return 0; /* the decoders never hand over more than a capture's worth */
	check_sanitize(DB_POSTGRESQL, q, size);
	check_sanitize(DB_MYSQL, q, size);
	check_summary(DB_POSTGRESQL, q, size);
	check_summary(DB_MYSQL, q, size);
	check_fill(DB_POSTGRESQL, q, size);
	check_fill(DB_MARIADB, q, size);
	return 0;
}
