/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HPACK (RFC 7541), the header compression of HTTP/2, for a passive observer: one dynamic table
 * per connection and direction, decoded from the header blocks as the peer's decoder would.
 * Sonde may join a connection mid-way, after entries it never saw were inserted: the table then
 * keeps only the entries it saw inserted, which are always the newest of the real table, so
 * every entry it knows is exactly right and a reference past them is reported as unknown, never
 * as a wrong name. A table's memory stays under twice min(its size bound, HPACK_TABLE_LIMIT):
 * the bytes of its names and values, and 16 bytes per entry within the 32 the RFC counts.
 */
#ifndef SONDE_HPACK_H
#define SONDE_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decoders/op_queue.h"

#define HPACK_STATIC_COUNT 61
#define HPACK_MAX_STRING   8192	 /* bytes of a name or value kept; longer ones are cut */
#define HPACK_TABLE_LIMIT  65536 /* dynamic table size followed at most, whatever SETTINGS say */

enum hpack_field_flags {
	/* The name is not known: it came from a dynamic entry sonde never saw, or it was longer
	 * than HPACK_MAX_STRING. It is passed as NULL, 0. */
	HPACK_NAME_UNKNOWN = 1,
	HPACK_VALUE_UNKNOWN = 2, /* the value likewise */
	HPACK_NEVER_INDEXED = 4, /* no intermediary may index it (RFC 7541 6.2.3) */
};

enum hpack_status {
	HPACK_OK = 0,
	HPACK_ERR_TRUNCATED = -1,  /* the block ends inside a field */
	HPACK_ERR_INDEX = -2,	   /* index 0, past 32 bits, or past a synced table's entries */
	HPACK_ERR_HUFFMAN = -3,	   /* bad padding, or EOS inside a string */
	HPACK_ERR_TABLE_SIZE = -4, /* a size update above SETTINGS_HEADER_TABLE_SIZE */
	HPACK_ERR_TOO_LONG = -5,   /* a string past HPACK_MAX_STRING (hpack__decode_int: 32 bits) */
	HPACK_ERR_NOMEM = -6,
};

struct hpack_table {
	struct op_queue ents;	/* struct hpack_entry (hpack.c): the known entries, oldest first */
	uint8_t *bytes;		/* ring of the known entries' names and values, oldest first */
	uint32_t bytes_cap;	/* bytes allocated */
	uint32_t bytes_head;	/* offset of the oldest entry's first byte */
	uint32_t bytes_used;	/* bytes held */
	uint32_t size;		/* the known entries' size as RFC 7541 4.1 counts it */
	uint32_t max;		/* the table's maximum size, from the last size update */
	uint32_t settings_max;	/* SETTINGS_HEADER_TABLE_SIZE of the decoder's side */
	uint32_t unknown_refs;	/* references to entries sonde never saw */
	bool synced;		/* every entry known: followed from the start, no error or drop */
};

/*
 * synced: the table was followed from the connection's first header block. Not synced: sonde
 * joined mid-way, and the entries inserted before it are unknown. settings_max: the bound the
 * decoder's side announced (SETTINGS_HEADER_TABLE_SIZE, 4096 until told).
 */
void hpack__init(struct hpack_table *t, uint32_t settings_max, bool synced);
void hpack__free(struct hpack_table *t);

/*
 * The decoder's side announced a new SETTINGS_HEADER_TABLE_SIZE, and the encoder's side
 * acknowledged it: a table above it shrinks now (the encoder must shrink its own at the start of
 * its next block); a larger bound waits for the encoder's size update.
 */
void hpack__set_settings_max(struct hpack_table *t, uint32_t settings_max);

/* One field; name and value may be NULL, 0 (see the flags), are not NUL-terminated and are only
 * valid during the call. */
typedef void (*hpack_field_fn)(void *ctx, const char *name, size_t name_len, const char *value,
			       size_t value_len, unsigned flags);

/*
 * Decode one complete header block (HEADERS + CONTINUATIONs joined, padding and priority already
 * removed). Calls fn for each field in order. Returns HPACK_OK or a negative hpack_status.
 * HPACK_ERR_TOO_LONG: every field was still reported (a cut name or value as unknown), and the
 * table stays exact. Any other error stops at the bad field: the fields before it were reported,
 * and the table forgets its entries and is no longer synced (the rest of the block may have
 * inserted entries), so that later blocks still decode as well as the mid-way rules allow.
 * Dynamic table size updates are taken anywhere in the block: the peer's decoder polices that.
 */
int hpack__decode(struct hpack_table *t, const uint8_t *block, size_t len, hpack_field_fn fn,
		  void *ctx);

/*
 * The integer with an n-bit prefix (RFC 7541 5.1, 1 <= n <= 8) that starts p[0..len): returns the
 * bytes it takes, HPACK_ERR_TRUNCATED, or HPACK_ERR_TOO_LONG past 32 bits.
 */
int hpack__decode_int(const uint8_t *p, size_t len, unsigned n, uint32_t *value);

/* References to entries sonde never saw (each reported with an unknown flag). */
static inline uint32_t hpack__unknown_refs(const struct hpack_table *t)
{
	return t->unknown_refs;
}

/* The known dynamic entries and their size (RFC 7541 4.1), for the tests. */
static inline uint32_t hpack__known_count(const struct hpack_table *t)
{
	return op_queue__len(&t->ents);
}

static inline uint32_t hpack__known_size(const struct hpack_table *t)
{
	return t->size;
}

/* The Huffman code of RFC 7541 Appendix B (hpack_huffman.c): 256 octets and EOS. */
#define HPACK_HUFFMAN_SYMBOLS 257
#define HPACK_HUFFMAN_EOS     256

struct hpack_huffman_code {
	uint32_t code; /* right-aligned */
	uint32_t bits;
};

extern const struct hpack_huffman_code hpack_huffman_codes[HPACK_HUFFMAN_SYMBOLS];

/*
 * Decode the Huffman string in[0..len): writes at most cap octets to out (out may be NULL when cap
 * is 0) and sets *out_len to the whole decoded length, so that a string too long to keep is still
 * checked and measured. Returns HPACK_OK or HPACK_ERR_HUFFMAN.
 */
int hpack_huffman__decode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *out_len);

#endif /* SONDE_HPACK_H */
