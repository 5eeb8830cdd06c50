// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HPACK decoding (hpack.h). The dynamic table holds the entries sonde saw inserted: their
 * descriptions in an op_queue and their bytes in one ring, both oldest first, so that insertion
 * and eviction (always of the oldest) are O(1) and an entry's bytes follow the previous one's,
 * wrapping around the ring's end at most once. An entry too long to keep still counts at its
 * exact size, so that the indices and evictions after it stay right.
 */
#include <stdlib.h>
#include <string.h>

#include "decoders/hpack.h"

#define ENTRY_OVERHEAD 32 /* RFC 7541 4.1 */
#define RING_FIRST     256 /* bytes of a ring's first allocation */

/* A known dynamic entry: its name then its value in the ring, each unless cut. */
struct hpack_entry {
	uint32_t off;	    /* the name's first byte in the ring */
	uint32_t name_len;  /* as decoded, kept or not */
	uint32_t value_len; /* likewise */
	uint32_t cut;	    /* HPACK_NAME_UNKNOWN, HPACK_VALUE_UNKNOWN: that part is not kept */
};

/* A name or a value: known, cut (only its length known) or lost (in an entry never seen). */
enum str_state { STR_KNOWN, STR_CUT, STR_LOST };

struct str {
	const char *p; /* NULL unless known */
	size_t len;    /* 0 when lost */
	enum str_state state;
};

/* Where names and values are decoded or copied to, when they cannot be used in place. */
struct scratch {
	char name[HPACK_MAX_STRING];
	char value[HPACK_MAX_STRING];
};

struct cursor {
	const uint8_t *p, *end;
	bool cut; /* a string of the block was past HPACK_MAX_STRING */
};

#define S(n, v) { n, v, sizeof(n) - 1, sizeof(v) - 1 }
static const struct static_entry {
	const char *name, *value;
	uint8_t name_len, value_len;
} static_table[HPACK_STATIC_COUNT] = { /* RFC 7541 Appendix A */
	S(":authority", ""), S(":method", "GET"), S(":method", "POST"), S(":path", "/"),
	S(":path", "/index.html"), S(":scheme", "http"), S(":scheme", "https"),
	S(":status", "200"), S(":status", "204"), S(":status", "206"), S(":status", "304"),
	S(":status", "400"), S(":status", "404"), S(":status", "500"), S("accept-charset", ""),
	S("accept-encoding", "gzip, deflate"), S("accept-language", ""), S("accept-ranges", ""),
	S("accept", ""), S("access-control-allow-origin", ""), S("age", ""), S("allow", ""),
	S("authorization", ""), S("cache-control", ""), S("content-disposition", ""),
	S("content-encoding", ""), S("content-language", ""), S("content-length", ""),
	S("content-location", ""), S("content-range", ""), S("content-type", ""),
	S("cookie", ""), S("date", ""), S("etag", ""), S("expect", ""), S("expires", ""),
	S("from", ""), S("host", ""), S("if-match", ""), S("if-modified-since", ""),
	S("if-none-match", ""), S("if-range", ""), S("if-unmodified-since", ""),
	S("last-modified", ""), S("link", ""), S("location", ""), S("max-forwards", ""),
	S("proxy-authenticate", ""), S("proxy-authorization", ""), S("range", ""),
	S("referer", ""), S("refresh", ""), S("retry-after", ""), S("server", ""),
	S("set-cookie", ""), S("strict-transport-security", ""), S("transfer-encoding", ""),
	S("user-agent", ""), S("vary", ""), S("via", ""), S("www-authenticate", ""),
};
#undef S

static uint32_t limit_of(uint32_t max)
{
	return max < HPACK_TABLE_LIMIT ? max : HPACK_TABLE_LIMIT;
}

static uint32_t kept_len(const struct hpack_entry *e)
{
	return (e->cut & HPACK_NAME_UNKNOWN ? 0 : e->name_len) +
	       (e->cut & HPACK_VALUE_UNKNOWN ? 0 : e->value_len);
}

/* Copy n bytes between the ring at off, which may wrap around its end, and p: in or out. */
static void ring_copy(struct hpack_table *t, uint32_t off, void *p, uint32_t n, bool in)
{
	uint32_t first;

	if (!n)
		return;
	off %= t->bytes_cap;
	first = t->bytes_cap - off < n ? t->bytes_cap - off : n;
	if (in) {
		memcpy(t->bytes + off, p, first);
		memcpy(t->bytes, (char *)p + first, n - first);
	} else {
		memcpy(p, t->bytes + off, first);
		memcpy((char *)p + first, t->bytes, n - first);
	}
}

/* A ring of cap bytes (at least bytes_used), the entries' bytes moved to its start. */
static int ring_resize(struct hpack_table *t, uint32_t cap)
{
	uint8_t *nb = NULL;
	uint32_t off = 0, i;

	if (cap && !(nb = malloc(cap)))
		return HPACK_ERR_NOMEM;
	if (t->bytes_used)
		ring_copy(t, t->bytes_head, nb, t->bytes_used, false);
	for (i = 0; i < op_queue__len(&t->ents); i++) {
		struct hpack_entry *e = op_queue__at(&t->ents, i);

		e->off = off;
		off += kept_len(e);
	}
	free(t->bytes);
	t->bytes = nb;
	t->bytes_cap = cap;
	t->bytes_head = 0;
	return HPACK_OK;
}

static void evict_oldest(struct hpack_table *t)
{
	struct hpack_entry *e = op_queue__front(&t->ents);
	uint32_t n = kept_len(e);

	t->bytes_used -= n;
	t->bytes_head = t->bytes_used ? (t->bytes_head + n) % t->bytes_cap : 0;
	t->size -= e->name_len + e->value_len + ENTRY_OVERHEAD;
	op_queue__pop(&t->ents);
}

/* Evict the oldest entries until the known ones' size is at most bound (RFC 7541 4.3). */
static void evict_to(struct hpack_table *t, uint64_t bound)
{
	while (op_queue__len(&t->ents) && t->size > bound)
		evict_oldest(t);
}

/* Drop every known entry: an entry they are older than has an unknown size, or was missed. */
static void forget(struct hpack_table *t)
{
	op_queue__clear(&t->ents);
	t->size = t->bytes_used = t->bytes_head = 0;
}

/* The table's maximum size becomes max: a size update, or SETTINGS lowered. */
static void set_max(struct hpack_table *t, uint32_t max)
{
	t->max = max;
	evict_to(t, max);
	/* give back a ring larger than the table may now use (on failure the old one serves) */
	if (t->bytes_cap > limit_of(max))
		ring_resize(t, limit_of(max));
}

/* Insert the field just decoded as the newest entry (RFC 7541 4.4). */
static int insert(struct hpack_table *t, const struct str *name, const struct str *value)
{
	uint32_t limit = limit_of(t->max), kept, at, cap;
	uint64_t size = (uint64_t)name->len + value->len + ENTRY_OVERHEAD;
	struct hpack_entry *e;

	/*
	 * An entry of unknown size: the known ones, now older than it, have unknown indices. An
	 * entry larger than the table empties it and is not inserted (RFC 7541 4.4).
	 */
	if (name->state == STR_LOST || size > t->max) {
		forget(t);
		return HPACK_OK;
	}
	evict_to(t, t->max - size);
	if (t->size + size > limit) {
		/* sonde keeps less than the peer does: the entries it drops become unknown */
		t->synced = false;
		if (size > limit) {
			forget(t);
			return HPACK_OK;
		}
		evict_to(t, limit - size);
	}
	kept = (name->state == STR_KNOWN ? (uint32_t)name->len : 0) +
	       (value->state == STR_KNOWN ? (uint32_t)value->len : 0);
	if (t->bytes_used + kept > t->bytes_cap) {
		/* doubling keeps growth amortized O(1); the size bound caps it */
		cap = t->bytes_cap ? t->bytes_cap * 2 : RING_FIRST;
		if (cap < t->bytes_used + kept)
			cap = t->bytes_used + kept;
		if (ring_resize(t, cap < limit ? cap : limit))
			return HPACK_ERR_NOMEM;
	}
	if (!(e = op_queue__push(&t->ents)))
		return HPACK_ERR_NOMEM;
	at = t->bytes_head + t->bytes_used;
	e->off = t->bytes_cap ? at % t->bytes_cap : 0;
	e->name_len = (uint32_t)name->len;
	e->value_len = (uint32_t)value->len;
	e->cut = (name->state == STR_KNOWN ? 0 : HPACK_NAME_UNKNOWN) |
		 (value->state == STR_KNOWN ? 0 : HPACK_VALUE_UNKNOWN);
	if (name->state == STR_KNOWN) {
		ring_copy(t, at, (void *)name->p, e->name_len, true);
		at += e->name_len;
	}
	if (value->state == STR_KNOWN)
		ring_copy(t, at, (void *)value->p, e->value_len, true);
	t->bytes_used += kept;
	t->size += (uint32_t)size;
	return HPACK_OK;
}

int hpack__decode_int(const uint8_t *p, size_t len, unsigned n, uint32_t *value)
{
	uint32_t mask = (1u << n) - 1;
	unsigned shift = 0;
	size_t i = 1;
	uint64_t v;
	uint8_t b;

	if (!len)
		return HPACK_ERR_TRUNCATED;
	v = p[0] & mask;
	if (v == mask) {
		do {
			if (i >= len)
				return HPACK_ERR_TRUNCATED;
			/* five bytes carry 35 bits: a sixth is past 32 bits, whatever it holds */
			if (shift > 28)
				return HPACK_ERR_TOO_LONG;
			b = p[i++];
			v += (uint64_t)(b & 0x7f) << shift;
			shift += 7;
		} while (b & 0x80);
		if (v > UINT32_MAX)
			return HPACK_ERR_TOO_LONG;
	}
	*value = (uint32_t)v;
	return (int)i;
}

/* An integer at c; past 32 bits, the error overflow (which says what the integer was for). */
static int read_int(struct cursor *c, unsigned n, uint32_t *value, int overflow)
{
	int r = hpack__decode_int(c->p, (size_t)(c->end - c->p), n, value);

	if (r < 0)
		return r == HPACK_ERR_TOO_LONG ? overflow : r;
	c->p += r;
	return HPACK_OK;
}

/* A string literal (RFC 7541 5.2): in place, decoded into buf, or cut with its length known. */
static int read_str(struct cursor *c, char *buf, struct str *s)
{
	uint32_t n;
	size_t len;
	bool huffman;
	int err;

	if (c->p >= c->end)
		return HPACK_ERR_TRUNCATED;
	huffman = *c->p & 0x80;
	/* a length past 32 bits is longer than any block sonde is given */
	if ((err = read_int(c, 7, &n, HPACK_ERR_TRUNCATED)))
		return err;
	if (n > (size_t)(c->end - c->p))
		return HPACK_ERR_TRUNCATED;
	*s = (struct str){ (const char *)c->p, n, STR_KNOWN };
	if (huffman) {
		/* decoded even when too long to keep: its length is the entry's size */
		if ((err = hpack_huffman__decode(c->p, n, buf, HPACK_MAX_STRING, &len)))
			return err;
		*s = (struct str){ buf, len, STR_KNOWN };
	}
	c->p += n;
	if (s->len > HPACK_MAX_STRING) {
		*s = (struct str){ NULL, s->len, STR_CUT };
		c->cut = true;
	}
	return HPACK_OK;
}

/* One part of a known entry, copied out of the ring; returns the bytes it holds there. */
static uint32_t entry_part(struct hpack_table *t, uint32_t off, uint32_t len, bool cut,
			   char *buf, struct str *s)
{
	if (cut) {
		*s = (struct str){ NULL, len, STR_CUT };
		return 0;
	}
	/* a copy: an insertion may evict the entry, or move the ring, while it is in use */
	ring_copy(t, off, buf, len, false);
	*s = (struct str){ buf, len, STR_KNOWN };
	return len;
}

/* The name at idx (RFC 7541 2.3.3), and the value when value is not NULL. */
static int lookup(struct hpack_table *t, uint32_t idx, struct scratch *sc, struct str *name,
		  struct str *value)
{
	uint32_t n = op_queue__len(&t->ents), at;
	const struct hpack_entry *e;

	if (!idx)
		return HPACK_ERR_INDEX;
	if (idx <= HPACK_STATIC_COUNT) {
		const struct static_entry *se = &static_table[idx - 1];

		*name = (struct str){ se->name, se->name_len, STR_KNOWN };
		if (value)
			*value = (struct str){ se->value, se->value_len, STR_KNOWN };
		return HPACK_OK;
	}
	idx -= HPACK_STATIC_COUNT + 1; /* 0: the newest entry */
	if (idx >= n) {
		if (t->synced)
			return HPACK_ERR_INDEX;
		/* inserted before sonde joined, or evicted by a bound smaller than the peer's */
		t->unknown_refs++;
		*name = (struct str){ NULL, 0, STR_LOST };
		if (value)
			*value = *name;
		return HPACK_OK;
	}
	e = op_queue__at(&t->ents, n - 1 - idx);
	at = e->off + entry_part(t, e->off, e->name_len, e->cut & HPACK_NAME_UNKNOWN, sc->name,
				 name);
	if (value)
		entry_part(t, at, e->value_len, e->cut & HPACK_VALUE_UNKNOWN, sc->value, value);
	return HPACK_OK;
}

/* A dynamic table size update (RFC 7541 6.3): an error above SETTINGS only when synced, for
 * sonde may have missed the SETTINGS that allow it. */
static int size_update(struct hpack_table *t, uint32_t max)
{
	int err = max > t->settings_max && t->synced ? HPACK_ERR_TABLE_SIZE : HPACK_OK;

	set_max(t, max);
	return err;
}

/* One field representation (RFC 7541 6): reported through fn, then inserted if it asks. */
static int decode_field(struct hpack_table *t, struct cursor *c, struct scratch *sc,
			hpack_field_fn fn, void *ctx)
{
	uint8_t b = *c->p;
	struct str name, value;
	unsigned flags = 0;
	uint32_t idx;
	int err;

	if ((b & 0xe0) == 0x20) {
		err = read_int(c, 5, &idx, HPACK_ERR_TABLE_SIZE);
		return err ? err : size_update(t, idx);
	}
	/* the index's prefix: 7 bits indexed, 6 with incremental indexing, 4 otherwise */
	if ((err = read_int(c, (b & 0x80) ? 7 : (b & 0x40) ? 6 : 4, &idx, HPACK_ERR_INDEX)))
		return err;
	if (b & 0x80) {
		if ((err = lookup(t, idx, sc, &name, &value)))
			return err;
	} else {
		err = idx ? lookup(t, idx, sc, &name, NULL) : read_str(c, sc->name, &name);
		if (err || (err = read_str(c, sc->value, &value)))
			return err;
		if ((b & 0xf0) == 0x10)
			flags |= HPACK_NEVER_INDEXED;
	}
	flags |= (name.state == STR_KNOWN ? 0 : HPACK_NAME_UNKNOWN) |
		 (value.state == STR_KNOWN ? 0 : HPACK_VALUE_UNKNOWN);
	fn(ctx, name.state == STR_KNOWN ? name.p : NULL, name.state == STR_KNOWN ? name.len : 0,
	   value.state == STR_KNOWN ? value.p : NULL, value.state == STR_KNOWN ? value.len : 0,
	   flags);
	return (b & 0xc0) == 0x40 ? insert(t, &name, &value) : HPACK_OK;
}

void hpack__init(struct hpack_table *t, uint32_t settings_max, bool synced)
{
	memset(t, 0, sizeof(*t));
	op_queue__init(&t->ents, sizeof(struct hpack_entry), HPACK_TABLE_LIMIT / ENTRY_OVERHEAD);
	t->settings_max = settings_max;
	t->max = settings_max;
	t->synced = synced;
}

void hpack__free(struct hpack_table *t)
{
	op_queue__free(&t->ents);
	free(t->bytes);
	hpack__init(t, t->settings_max, false);
}

void hpack__set_settings_max(struct hpack_table *t, uint32_t settings_max)
{
	t->settings_max = settings_max;
	if (t->max > settings_max)
		set_max(t, settings_max);
}

int hpack__decode(struct hpack_table *t, const uint8_t *block, size_t len, hpack_field_fn fn,
		  void *ctx)
{
	/* on the stack: 16 KiB for the call, rather than in every connection's table */
	struct scratch sc;
	struct cursor c;
	int err;

	if (!len)
		return HPACK_OK;
	c = (struct cursor){ block, block + len, false };
	while (c.p < c.end) {
		if ((err = decode_field(t, &c, &sc, fn, ctx))) {
			/* the rest of the block is lost with what it inserted: the known entries
			 * may no longer be the newest */
			forget(t);
			t->synced = false;
			return err;
		}
	}
	return c.cut ? HPACK_ERR_TOO_LONG : HPACK_OK;
}
