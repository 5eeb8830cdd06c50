/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the HPACK decoder. The input is one direction of a connection: header
 * blocks and SETTINGS changes. Table a follows it from the start; table b joins before record
 * k, as sonde does when it attaches to a running connection. Each block is copied to a buffer of
 * its own size, so that a read past it is seen. Besides letting the sanitizers watch, it checks
 * what must hold for any input: a name or value is reported either known (not NULL, at most
 * HPACK_MAX_STRING) or unknown (NULL, 0) as its flag says; the table's size stays within its
 * bounds; a synced table never reports an unknown entry and forgets its entries on an error;
 * and the mid-way rule itself: while the blocks are valid for a, b reports the same fields with
 * the same status, each name and value either the same as a's or unknown, never a wrong one.
 * A broken property aborts, so the fuzzer reports it like a crash.
 *
 * Input: byte 0 = flags: bits 0-3 the record b joins before, bit 4 b starts from a's SETTINGS
 * (else from 4096, as when sonde missed them). Then records, each a 16-bit little-endian header
 * h: with bit 15, SETTINGS_HEADER_TABLE_SIZE becomes (h & 0x7fff) * 8; else a header block of
 * h bytes follows (cut at the end of the input). The seeds in corpus/hpack/ are the blocks of
 * RFC 7541 Appendix C, joined at several points, and one block with a string too long to keep.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/hpack.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define MAX_RECS 32768 /* fields of one block at most: each takes a byte */

/* What a field said, to compare a table's view with the other's. */
struct rec {
	uint64_t name_hash, value_hash;
	size_t name_len, value_len;
	unsigned flags;
};

struct seen {
	int n;
	struct rec r[MAX_RECS];
};

static struct seen seen_a, seen_b;

static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
	return h;
}

static void on_field(void *ctx, const char *name, size_t name_len, const char *value,
		     size_t value_len, unsigned flags)
{
	struct seen *s = ctx;
	struct rec *r;

	REQUIRE(!(flags & ~(unsigned)(HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN |
				      HPACK_NEVER_INDEXED)));
	REQUIRE(!!(flags & HPACK_NAME_UNKNOWN) == !name);
	REQUIRE(!!(flags & HPACK_VALUE_UNKNOWN) == !value);
	REQUIRE(name || !name_len);
	REQUIRE(value || !value_len);
	REQUIRE(name_len <= HPACK_MAX_STRING && value_len <= HPACK_MAX_STRING);
	REQUIRE(s->n < MAX_RECS);
	r = &s->r[s->n++];
	/* every byte read: the sanitizers check the pointers */
	r->name_hash = hash(name, name_len);
	r->value_hash = hash(value, value_len);
	r->name_len = name_len;
	r->value_len = value_len;
	r->flags = flags;
}

static void check_table(const struct hpack_table *t)
{
	uint32_t limit = t->max < HPACK_TABLE_LIMIT ? t->max : HPACK_TABLE_LIMIT;

	REQUIRE(hpack__known_size(t) <= limit);
	REQUIRE((uint64_t)hpack__known_count(t) * 32 <= hpack__known_size(t));
	REQUIRE(t->bytes_used <= t->bytes_cap && t->bytes_cap <= HPACK_TABLE_LIMIT);
	REQUIRE(t->bytes_used + 32 * hpack__known_count(t) <= hpack__known_size(t));
}

/* Decode one block into t, and check what holds for any table. */
static int decode(struct hpack_table *t, const uint8_t *blk, size_t len, struct seen *s)
{
	bool synced = t->synced;
	uint32_t unknown = hpack__unknown_refs(t);
	int err;

	s->n = 0;
	err = hpack__decode(t, blk, len, on_field, s);
	REQUIRE(err <= HPACK_OK && err >= HPACK_ERR_NOMEM);
	check_table(t);
	if (synced)
		REQUIRE(hpack__unknown_refs(t) == unknown);
	if (err != HPACK_OK && err != HPACK_ERR_TOO_LONG)
		REQUIRE(!t->synced && hpack__known_count(t) == 0);
	return err;
}

/* b, joined mid-way, agrees with a wherever it knows a name or a value. */
static void compare(int err_a, int err_b)
{
	int i;

	REQUIRE(err_a == err_b);
	REQUIRE(seen_a.n == seen_b.n);
	for (i = 0; i < seen_a.n; i++) {
		const struct rec *a = &seen_a.r[i], *b = &seen_b.r[i];

		REQUIRE((a->flags & HPACK_NEVER_INDEXED) == (b->flags & HPACK_NEVER_INDEXED));
		if (!(a->flags & HPACK_NAME_UNKNOWN) && !(b->flags & HPACK_NAME_UNKNOWN))
			REQUIRE(a->name_len == b->name_len && a->name_hash == b->name_hash);
		if (!(a->flags & HPACK_VALUE_UNKNOWN) && !(b->flags & HPACK_VALUE_UNKNOWN))
			REQUIRE(a->value_len == b->value_len && a->value_hash == b->value_hash);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hpack_table a, b;
	unsigned join, rec = 0;
	bool joined = false, valid = true;
	size_t off = 1;
	int err_a, err_b;

	if (size < 1)
		return 0;
	join = data[0] & 15;
	hpack__init(&a, 4096, true);
	while (off + 2 <= size) {
		unsigned h = data[off] | (unsigned)data[off + 1] << 8;
		size_t len = h & 0x7fff;
		uint8_t *blk;

		off += 2;
		if (rec++ == join) {
			hpack__init(&b, data[0] & 16 ? a.settings_max : 4096, false);
			joined = true;
		}
		if (h & 0x8000) {
			hpack__set_settings_max(&a, (uint32_t)len * 8);
			check_table(&a);
			if (joined) {
				hpack__set_settings_max(&b, (uint32_t)len * 8);
				check_table(&b);
			}
			continue;
		}
		if (len > size - off)
			len = size - off;
		blk = malloc(len ? len : 1);
		REQUIRE(blk);
		memcpy(blk, data + off, len);
		off += len;
		err_a = decode(&a, blk, len, &seen_a);
		if (joined) {
			err_b = decode(&b, blk, len, &seen_b);
			/* a broken block leaves no real table to agree on */
			if (valid && (err_a == HPACK_OK || err_a == HPACK_ERR_TOO_LONG))
				compare(err_a, err_b);
		}
		if (err_a != HPACK_OK && err_a != HPACK_ERR_TOO_LONG)
			valid = false;
		free(blk);
	}
	hpack__free(&a);
	if (joined)
		hpack__free(&b);
	return 0;
}
