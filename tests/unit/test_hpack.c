/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the HPACK decoder (agent/decoders/hpack.c, hpack_huffman.c): the examples of
 * RFC 7541 Appendix C, every Huffman symbol through a small encoder built on the same code
 * table, the bounds (integers past 32 bits, strings past HPACK_MAX_STRING, table sizes), the
 * mid-way rules (entries sonde never saw are reported as unknown, never as a wrong name), every
 * truncation of the C.4 blocks, and random conversations checked against a plain model of the
 * dynamic table, both from the start and joined mid-way.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/hpack.h"
#include "unit.h"

#define MAX_FIELDS 64
#define KEEP	   256 /* bytes of a reported name or value the tests keep */

struct field {
	char name[KEEP], value[KEEP];
	size_t name_len, value_len;
	bool name_null, value_null;
	unsigned flags;
};

struct fields {
	int n;
	struct field f[MAX_FIELDS];
};

static void on_field(void *ctx, const char *name, size_t name_len, const char *value,
		     size_t value_len, unsigned flags)
{
	struct fields *fs = ctx;
	struct field *f;

	if (fs->n >= MAX_FIELDS)
		return;
	f = &fs->f[fs->n++];
	f->name_len = name_len;
	f->value_len = value_len;
	f->name_null = !name;
	f->value_null = !value;
	f->flags = flags;
	memcpy(f->name, name ? name : "", name_len < KEEP ? name_len : KEEP);
	memcpy(f->value, value ? value : "", value_len < KEEP ? value_len : KEEP);
}

/* f is name: value with flags; a NULL name or value is expected unknown (NULL, 0). */
static bool field_is(const struct field *f, const char *name, const char *value, unsigned flags)
{
	bool ok = f->flags == flags;

	if (name)
		ok &= !f->name_null && f->name_len == strlen(name) &&
		      !memcmp(f->name, name, f->name_len);
	else
		ok &= f->name_null && !f->name_len;
	if (value)
		ok &= !f->value_null && f->value_len == strlen(value) &&
		      !memcmp(f->value, value, f->value_len);
	else
		ok &= f->value_null && !f->value_len;
	if (!ok)
		fprintf(stderr, "field \"%.*s\": \"%.*s\" flags %u, want \"%s\": \"%s\" %u\n",
			(int)(f->name_len < KEEP ? f->name_len : KEEP), f->name,
			(int)(f->value_len < KEEP ? f->value_len : KEEP), f->value, f->flags,
			name ? name : "(unknown)", value ? value : "(unknown)", flags);
	return ok;
}

#define CHECK_FIELD(fs, i, name, value, flags)                                                 \
	do {                                                                                   \
		CHECK((i) < (fs)->n);                                                          \
		CHECK(field_is(&(fs)->f[i], (name), (value), (flags)));                        \
	} while (0)

/* Bytes from hex digits, spaces ignored; returns the count. */
static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	int hi = -1, v;

	for (; *s; s++) {
		if (*s == ' ')
			continue;
		v = *s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10;
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

static int decode_hex(struct hpack_table *t, const char *hex, struct fields *fs)
{
	uint8_t buf[1024];
	size_t n = unhex(hex, buf);

	memset(fs, 0, sizeof(*fs));
	return hpack__decode(t, buf, n, on_field, fs);
}

static int decode_buf(struct hpack_table *t, const uint8_t *p, size_t n, struct fields *fs)
{
	memset(fs, 0, sizeof(*fs));
	return hpack__decode(t, p, n, on_field, fs);
}

/* The encoder's side, for the tests: an integer with an n-bit prefix after the bits in first. */
static size_t put_int(uint8_t *out, uint8_t first, unsigned n, uint32_t v)
{
	uint32_t mask = (1u << n) - 1;
	size_t i = 0;

	if (v < mask) {
		out[i++] = first | (uint8_t)v;
		return i;
	}
	out[i++] = first | (uint8_t)mask;
	for (v -= mask; v >= 128; v >>= 7)
		out[i++] = (uint8_t)(v | 0x80);
	out[i++] = (uint8_t)v;
	return i;
}

/* Huffman-encode s[0..n) from hpack_huffman_codes, padded with ones. */
static size_t huff_encode(const uint8_t *s, size_t n, uint8_t *out)
{
	uint64_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		const struct hpack_huffman_code *c = &hpack_huffman_codes[s[i]];

		acc = acc << c->bits | c->code;
		bits += c->bits;
		for (; bits >= 8; bits -= 8)
			out[o++] = (uint8_t)(acc >> (bits - 8));
	}
	if (bits)
		out[o++] = (uint8_t)(acc << (8 - bits)) | (uint8_t)(0xff >> bits);
	return o;
}

static size_t put_str(uint8_t *out, const void *s, size_t n, bool huffman)
{
	static uint8_t tmp[HPACK_MAX_STRING * 4];
	size_t hn;

	if (!huffman) {
		size_t i = put_int(out, 0, 7, (uint32_t)n);

		memcpy(out + i, s, n);
		return i + n;
	}
	hn = huff_encode(s, n, tmp);
	n = put_int(out, 0x80, 7, (uint32_t)hn);
	memcpy(out + n, tmp, hn);
	return n + hn;
}

/* Dynamic entry i (1 the newest) is name: value, read back with an indexed field. */
#define CHECK_DYN(t, i, nm, val)                                                               \
	do {                                                                                   \
		struct fields _fs;                                                             \
		uint8_t _b[8];                                                                 \
		size_t _n = put_int(_b, 0x80, 7, HPACK_STATIC_COUNT + (i));                    \
		CHECK_EQ_INT(decode_buf((t), _b, _n, &_fs), HPACK_OK);                         \
		CHECK_EQ_INT(_fs.n, 1);                                                        \
		CHECK_FIELD(&_fs, 0, nm, val, 0);                                              \
	} while (0)

/* RFC 7541 C.1, and the 32-bit bound. */
TEST(test_integers)
{
	uint8_t b[16];
	uint32_t v = 0;
	size_t n;

	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\x0a", 1, 5, &v), 1);
	CHECK_EQ_INT(v, 10);
	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\x1f\x9a\x0a", 3, 5, &v), 3);
	CHECK_EQ_INT(v, 1337);
	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\x2a", 1, 8, &v), 1);
	CHECK_EQ_INT(v, 42);
	/* the bits above the prefix belong to the representation */
	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\xea", 1, 5, &v), 1);
	CHECK_EQ_INT(v, 10);
	n = put_int(b, 0, 5, UINT32_MAX);
	CHECK_EQ_INT(n, 6);
	CHECK_EQ_INT(hpack__decode_int(b, n, 5, &v), 6);
	CHECK(v == UINT32_MAX);
	/* 2^32 + 30: five bytes, one past 32 bits */
	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\x1f\xff\xff\xff\xff\x0f", 6, 5, &v),
		     HPACK_ERR_TOO_LONG);
	/* a sixth continuation byte, even of zeros */
	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\x1f\x80\x80\x80\x80\x80\x00", 7, 5, &v),
		     HPACK_ERR_TOO_LONG);
	memset(b, 0xff, sizeof(b));
	CHECK_EQ_INT(hpack__decode_int(b, sizeof(b), 7, &v), HPACK_ERR_TOO_LONG);
	CHECK_EQ_INT(hpack__decode_int(b, 3, 7, &v), HPACK_ERR_TRUNCATED);
	CHECK_EQ_INT(hpack__decode_int(b, 0, 7, &v), HPACK_ERR_TRUNCATED);
	CHECK_EQ_INT(hpack__decode_int((const uint8_t *)"\x1f", 1, 5, &v), HPACK_ERR_TRUNCATED);
}

/* C.1's integers as a header block sees them (size updates, 5-bit prefix), and past 32 bits. */
TEST(test_integers_in_blocks)
{
	struct hpack_table t;
	struct fields fs;
	uint8_t b[16];

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, "2a", &fs), HPACK_OK);
	CHECK_EQ_INT(t.max, 10);
	CHECK_EQ_INT(decode_hex(&t, "3f9a0a", &fs), HPACK_OK);
	CHECK_EQ_INT(t.max, 1337);
	CHECK_EQ_INT(fs.n, 0);
	/* past 32 bits: an index, a string's length, a size update */
	memset(b, 0xff, sizeof(b));
	CHECK_EQ_INT(decode_buf(&t, b, sizeof(b), &fs), HPACK_ERR_INDEX);
	CHECK(!t.synced);
	b[0] = 0x00;
	CHECK_EQ_INT(decode_buf(&t, b, sizeof(b), &fs), HPACK_ERR_TRUNCATED);
	b[0] = 0x3f;
	CHECK_EQ_INT(decode_buf(&t, b, sizeof(b), &fs), HPACK_ERR_TABLE_SIZE);
	CHECK_EQ_INT(fs.n, 0);
	hpack__free(&t);
}

/* C.2.1 to C.2.4, each on a new table. */
TEST(test_rfc_c2)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 "
				    "6572", &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 1);
	CHECK_FIELD(&fs, 0, "custom-key", "custom-header", 0);
	CHECK_EQ_INT(hpack__known_count(&t), 1);
	CHECK_EQ_INT(hpack__known_size(&t), 55);
	CHECK_DYN(&t, 1, "custom-key", "custom-header");
	hpack__free(&t);

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, "040c 2f73 616d 706c 652f 7061 7468", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, ":path", "/sample/path", 0);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	CHECK_EQ_INT(hpack__known_size(&t), 0);
	hpack__free(&t);

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, "1008 7061 7373 776f 7264 0673 6563 7265 74", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, "password", "secret", HPACK_NEVER_INDEXED);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	hpack__free(&t);

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, "82", &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 1);
	CHECK_FIELD(&fs, 0, ":method", "GET", 0);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	hpack__free(&t);
}

static const char *const c3[] = {
	"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
	"8286 84be 5808 6e6f 2d63 6163 6865",
	"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
};

static const char *const c4[] = {
	"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
	"8286 84be 5886 a8eb 1064 9cbf",
	"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
};

/* C.3 or C.4: three requests on one table. */
static void check_requests(const char *const *blocks)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, blocks[0], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 4);
	CHECK_FIELD(&fs, 0, ":method", "GET", 0);
	CHECK_FIELD(&fs, 1, ":scheme", "http", 0);
	CHECK_FIELD(&fs, 2, ":path", "/", 0);
	CHECK_FIELD(&fs, 3, ":authority", "www.example.com", 0);
	CHECK_EQ_INT(hpack__known_count(&t), 1);
	CHECK_EQ_INT(hpack__known_size(&t), 57);
	CHECK_DYN(&t, 1, ":authority", "www.example.com");

	CHECK_EQ_INT(decode_hex(&t, blocks[1], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 5);
	CHECK_FIELD(&fs, 0, ":method", "GET", 0);
	CHECK_FIELD(&fs, 1, ":scheme", "http", 0);
	CHECK_FIELD(&fs, 2, ":path", "/", 0);
	CHECK_FIELD(&fs, 3, ":authority", "www.example.com", 0);
	CHECK_FIELD(&fs, 4, "cache-control", "no-cache", 0);
	CHECK_EQ_INT(hpack__known_count(&t), 2);
	CHECK_EQ_INT(hpack__known_size(&t), 110);
	CHECK_DYN(&t, 1, "cache-control", "no-cache");
	CHECK_DYN(&t, 2, ":authority", "www.example.com");

	CHECK_EQ_INT(decode_hex(&t, blocks[2], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 5);
	CHECK_FIELD(&fs, 0, ":method", "GET", 0);
	CHECK_FIELD(&fs, 1, ":scheme", "https", 0);
	CHECK_FIELD(&fs, 2, ":path", "/index.html", 0);
	CHECK_FIELD(&fs, 3, ":authority", "www.example.com", 0);
	CHECK_FIELD(&fs, 4, "custom-key", "custom-value", 0);
	CHECK_EQ_INT(hpack__known_count(&t), 3);
	CHECK_EQ_INT(hpack__known_size(&t), 164);
	CHECK_DYN(&t, 1, "custom-key", "custom-value");
	CHECK_DYN(&t, 2, "cache-control", "no-cache");
	CHECK_DYN(&t, 3, ":authority", "www.example.com");
	CHECK(t.synced);
	CHECK_EQ_INT(hpack__unknown_refs(&t), 0);
	hpack__free(&t);
}

TEST(test_rfc_c3)
{
	check_requests(c3);
}

TEST(test_rfc_c4)
{
	check_requests(c4);
}

static const char *const c5[] = {
	"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 "
	"303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 "
	"6f6d",
	"4803 3330 37c1 c0bf",
	"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 "
	"5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 "
	"5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
};

static const char *const c6[] = {
	"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b "
	"ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
	"4883 640e ffc1 c0bf",
	"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad "
	"94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 "
	"65c0 03ed 4ee5 b106 3d50 07",
};

#define DATE1	"Mon, 21 Oct 2013 20:13:21 GMT"
#define DATE2	"Mon, 21 Oct 2013 20:13:22 GMT"
#define WWW	"https://www.example.com"
#define COOKIE	"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"

/* C.5 or C.6: three responses on a table of 256 bytes, which evicts. */
static void check_responses(const char *const *blocks)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 256, true);
	CHECK_EQ_INT(decode_hex(&t, blocks[0], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 4);
	CHECK_FIELD(&fs, 0, ":status", "302", 0);
	CHECK_FIELD(&fs, 1, "cache-control", "private", 0);
	CHECK_FIELD(&fs, 2, "date", DATE1, 0);
	CHECK_FIELD(&fs, 3, "location", WWW, 0);
	CHECK_EQ_INT(hpack__known_count(&t), 4);
	CHECK_EQ_INT(hpack__known_size(&t), 222);
	CHECK_DYN(&t, 1, "location", WWW);
	CHECK_DYN(&t, 2, "date", DATE1);
	CHECK_DYN(&t, 3, "cache-control", "private");
	CHECK_DYN(&t, 4, ":status", "302");

	CHECK_EQ_INT(decode_hex(&t, blocks[1], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 4);
	CHECK_FIELD(&fs, 0, ":status", "307", 0);
	CHECK_FIELD(&fs, 1, "cache-control", "private", 0);
	CHECK_FIELD(&fs, 2, "date", DATE1, 0);
	CHECK_FIELD(&fs, 3, "location", WWW, 0);
	CHECK_EQ_INT(hpack__known_count(&t), 4);
	CHECK_EQ_INT(hpack__known_size(&t), 222);
	CHECK_DYN(&t, 1, ":status", "307");
	CHECK_DYN(&t, 2, "location", WWW);
	CHECK_DYN(&t, 3, "date", DATE1);
	CHECK_DYN(&t, 4, "cache-control", "private");

	CHECK_EQ_INT(decode_hex(&t, blocks[2], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 6);
	CHECK_FIELD(&fs, 0, ":status", "200", 0);
	CHECK_FIELD(&fs, 1, "cache-control", "private", 0);
	CHECK_FIELD(&fs, 2, "date", DATE2, 0);
	CHECK_FIELD(&fs, 3, "location", WWW, 0);
	CHECK_FIELD(&fs, 4, "content-encoding", "gzip", 0);
	CHECK_FIELD(&fs, 5, "set-cookie", COOKIE, 0);
	CHECK_EQ_INT(hpack__known_count(&t), 3);
	CHECK_EQ_INT(hpack__known_size(&t), 215);
	CHECK_DYN(&t, 1, "set-cookie", COOKIE);
	CHECK_DYN(&t, 2, "content-encoding", "gzip");
	CHECK_DYN(&t, 3, "date", DATE2);
	CHECK(t.synced);
	hpack__free(&t);
}

TEST(test_rfc_c5)
{
	check_responses(c5);
}

TEST(test_rfc_c6)
{
	check_responses(c6);
}

/* Every octet's code decodes to it, alone, after each of a few neighbours, and all in a row. */
TEST(test_huffman_every_symbol)
{
	uint8_t in[300], enc[1200];
	char out[300];
	size_t n, len;
	int s, bad = 0;

	for (s = 0; s < 256; s++) {
		in[0] = (uint8_t)s;
		n = huff_encode(in, 1, enc);
		CHECK_EQ_INT(n, (hpack_huffman_codes[s].bits + 7) / 8);
		if (hpack_huffman__decode(enc, n, out, sizeof(out), &len) || len != 1 ||
		    (uint8_t)out[0] != s)
			bad++;
		in[0] = 'a';
		in[1] = (uint8_t)s;
		in[2] = (uint8_t)(255 - s);
		n = huff_encode(in, 3, enc);
		if (hpack_huffman__decode(enc, n, out, sizeof(out), &len) || len != 3 ||
		    memcmp(out, in, 3))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	for (s = 0; s < 256; s++)
		in[s] = (uint8_t)s;
	n = huff_encode(in, 256, enc);
	CHECK_EQ_INT(hpack_huffman__decode(enc, n, out, sizeof(out), &len), HPACK_OK);
	CHECK_EQ_INT(len, 256);
	CHECK(!memcmp(out, in, 256));
	/* counting only, and a short buffer: the whole length, the start written */
	CHECK_EQ_INT(hpack_huffman__decode(enc, n, NULL, 0, &len), HPACK_OK);
	CHECK_EQ_INT(len, 256);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(hpack_huffman__decode(enc, n, out, 10, &len), HPACK_OK);
	CHECK_EQ_INT(len, 256);
	CHECK(!memcmp(out, in, 10) && out[10] == 0);
	CHECK_EQ_INT(hpack_huffman__decode(enc, 0, out, sizeof(out), &len), HPACK_OK);
	CHECK_EQ_INT(len, 0);
}

TEST(test_huffman_invalid)
{
	uint8_t enc[16];
	char out[16];
	size_t len;

	/* 'a' is 00011: three bits of padding, ones */
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\x1f", 1, out, 16, &len), HPACK_OK);
	CHECK_EQ_INT(len, 1);
	CHECK_EQ_INT(out[0], 'a');
	/* padding of zeros, and of ones and a zero */
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\x18", 1, out, 16, &len),
		     HPACK_ERR_HUFFMAN);
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\x1e", 1, out, 16, &len),
		     HPACK_ERR_HUFFMAN);
	/* padding of eleven ones, and of eight */
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\x1f\xff", 2, out, 16, &len),
		     HPACK_ERR_HUFFMAN);
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\xff", 1, out, 16, &len),
		     HPACK_ERR_HUFFMAN);
	/* '0' is 00000: eight bits hold it and three of padding that are zeros */
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\x00", 1, out, 16, &len),
		     HPACK_ERR_HUFFMAN);
	/* EOS (30 ones) alone, and after 'a' */
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\xff\xff\xff\xff", 4, out, 16, &len),
		     HPACK_ERR_HUFFMAN);
	CHECK_EQ_INT(hpack_huffman__decode((const uint8_t *)"\x1f\xff\xff\xff\xff", 5, out, 16,
					   &len), HPACK_ERR_HUFFMAN);
	/* 'a' 'a' then EOS */
	CHECK_EQ_INT(huff_encode((const uint8_t *)"aa", 2, enc), 2);
	enc[1] = (uint8_t)(enc[1] | 0x3f);
	memset(enc + 2, 0xff, 4);
	CHECK_EQ_INT(hpack_huffman__decode(enc, 6, out, 16, &len), HPACK_ERR_HUFFMAN);
}

/* A bad Huffman string in a block: the error, and the table no longer synced. */
TEST(test_huffman_error_in_block)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, c4[0], &fs), HPACK_OK);
	CHECK_EQ_INT(decode_hex(&t, "82 4184 ffff ffff", &fs), HPACK_ERR_HUFFMAN);
	CHECK_EQ_INT(fs.n, 1);
	CHECK(!t.synced);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	hpack__free(&t);
}

/* Index 0 is no entry; past the known entries of a synced table is an error that unsyncs it. */
TEST(test_index_errors)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, "80", &fs), HPACK_ERR_INDEX);
	hpack__free(&t);
	hpack__init(&t, 4096, false);
	CHECK_EQ_INT(decode_hex(&t, "82 80", &fs), HPACK_ERR_INDEX);
	CHECK_EQ_INT(fs.n, 1);
	hpack__free(&t);

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, c3[0], &fs), HPACK_OK);
	CHECK_DYN(&t, 1, ":authority", "www.example.com");
	CHECK_EQ_INT(decode_hex(&t, "82 bf 84", &fs), HPACK_ERR_INDEX);
	CHECK_EQ_INT(fs.n, 1);
	CHECK(!t.synced);
	CHECK_EQ_INT(hpack__unknown_refs(&t), 0);
	/* now as a table joined mid-way: unknown, not an error */
	CHECK_EQ_INT(decode_hex(&t, "82 bf 84", &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 3);
	CHECK_FIELD(&fs, 1, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	CHECK_FIELD(&fs, 2, ":path", "/", 0);
	CHECK_EQ_INT(hpack__unknown_refs(&t), 1);
	hpack__free(&t);
}

/* C.3's third request alone: the references to entries never seen are unknown, not wrong. */
TEST(test_midway_unknown_entries)
{
	struct hpack_table t;
	struct fields fs;
	int i;

	for (i = 0; i < 2; i++) {
		hpack__init(&t, 4096, false);
		CHECK_EQ_INT(decode_hex(&t, (i ? c4 : c3)[2], &fs), HPACK_OK);
		CHECK_EQ_INT(fs.n, 5);
		CHECK_FIELD(&fs, 0, ":method", "GET", 0);
		CHECK_FIELD(&fs, 1, ":scheme", "https", 0);
		CHECK_FIELD(&fs, 2, ":path", "/index.html", 0);
		CHECK_FIELD(&fs, 3, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
		CHECK_FIELD(&fs, 4, "custom-key", "custom-value", 0);
		CHECK_EQ_INT(hpack__unknown_refs(&t), 1);
		/* what it inserted is known, and is the newest entry */
		CHECK_EQ_INT(hpack__known_count(&t), 1);
		CHECK_EQ_INT(hpack__known_size(&t), 54);
		CHECK_DYN(&t, 1, "custom-key", "custom-value");
		/* index 63 is still unknown; after one more insertion, 63 is custom-key */
		CHECK_EQ_INT(decode_hex(&t, "bf 4001 6101 62", &fs), HPACK_OK);
		CHECK_EQ_INT(fs.n, 2);
		CHECK_FIELD(&fs, 0, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
		CHECK_EQ_INT(hpack__unknown_refs(&t), 2);
		CHECK_DYN(&t, 2, "custom-key", "custom-value");
		CHECK_EQ_INT(hpack__known_count(&t), 2);
		hpack__free(&t);
	}
}

/* A literal naming an unknown entry: its value is known, the name not. */
TEST(test_midway_unknown_name)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 4096, false);
	/* without indexing, never indexed: the table is unchanged */
	CHECK_EQ_INT(decode_hex(&t, c3[2], &fs), HPACK_OK);
	CHECK_EQ_INT(decode_hex(&t, "0f30 03 666f6f 1f30 03 626172", &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 2);
	CHECK_FIELD(&fs, 0, NULL, "foo", HPACK_NAME_UNKNOWN);
	CHECK_FIELD(&fs, 1, NULL, "bar", HPACK_NAME_UNKNOWN | HPACK_NEVER_INDEXED);
	CHECK_EQ_INT(hpack__known_count(&t), 1);
	/* with incremental indexing: an entry of unknown size; the known ones are dropped */
	CHECK_EQ_INT(decode_hex(&t, "7f 07 03 666f 6f", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, NULL, "foo", HPACK_NAME_UNKNOWN);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	CHECK_EQ_INT(hpack__known_size(&t), 0);
	CHECK_EQ_INT(hpack__unknown_refs(&t), 4);
	CHECK_EQ_INT(decode_hex(&t, "be", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	/* entries inserted after it are known again */
	CHECK_EQ_INT(decode_hex(&t, "4003 6b65 7901 76", &fs), HPACK_OK);
	CHECK_DYN(&t, 1, "key", "v");
	CHECK_EQ_INT(decode_hex(&t, "bf", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	hpack__free(&t);
}

/* Joined before C.5's third response: the known entries evict among themselves. */
TEST(test_midway_eviction)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 256, false);
	CHECK_EQ_INT(decode_hex(&t, c5[2], &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 6);
	CHECK_FIELD(&fs, 0, ":status", "200", 0);
	CHECK_FIELD(&fs, 1, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	CHECK_FIELD(&fs, 2, "date", DATE2, 0);
	/* c0 is location, inserted before sonde joined: after the date, it is unknown */
	CHECK_FIELD(&fs, 3, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	CHECK_FIELD(&fs, 4, "content-encoding", "gzip", 0);
	CHECK_FIELD(&fs, 5, "set-cookie", COOKIE, 0);
	CHECK_EQ_INT(hpack__unknown_refs(&t), 2);
	/* exactly the real table: the RFC's state after C.5.3 */
	CHECK_EQ_INT(hpack__known_count(&t), 3);
	CHECK_EQ_INT(hpack__known_size(&t), 215);
	/* an entry of 60: the oldest known (the date, 65) goes, as in the real table */
	CHECK_EQ_INT(decode_hex(&t, "400c 782d 7265 7175 6573 742d 6964 "
				    "10 6162 6364 6566 6768 696a 6b6c 6d6e 6f70", &fs),
		     HPACK_OK);
	CHECK_EQ_INT(hpack__known_count(&t), 3);
	CHECK_EQ_INT(hpack__known_size(&t), 210);
	CHECK_DYN(&t, 1, "x-request-id", "abcdefghijklmnop");
	CHECK_DYN(&t, 2, "set-cookie", COOKIE);
	CHECK_DYN(&t, 3, "content-encoding", "gzip");
	CHECK_EQ_INT(decode_hex(&t, "c1", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	CHECK(!t.synced);
	hpack__free(&t);
}

/* A size update to 0 empties the table; above SETTINGS it is an error only when synced. */
TEST(test_size_updates)
{
	struct hpack_table t;
	struct fields fs;

	hpack__init(&t, 4096, true);
	CHECK_EQ_INT(decode_hex(&t, c3[0], &fs), HPACK_OK);
	CHECK_EQ_INT(decode_hex(&t, c3[1], &fs), HPACK_OK);
	CHECK_EQ_INT(decode_hex(&t, "20", &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 0);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	CHECK_EQ_INT(hpack__known_size(&t), 0);
	CHECK_EQ_INT(t.bytes_cap, 0);
	/* back to 4096 (31 + 4065), then an insertion fits again */
	CHECK_EQ_INT(decode_hex(&t, "3fe11f 4003 6b65 7901 76", &fs), HPACK_OK);
	CHECK_EQ_INT(t.max, 4096);
	CHECK_DYN(&t, 1, "key", "v");
	/* an insertion larger than the table empties it (RFC 7541 4.4) */
	CHECK_EQ_INT(decode_hex(&t, "3f09", &fs), HPACK_OK);
	CHECK_EQ_INT(t.max, 40);
	CHECK_EQ_INT(hpack__known_count(&t), 1);
	CHECK_EQ_INT(decode_hex(&t, "4003 6b65 7906 7676 7676 7676", &fs), HPACK_OK);
	CHECK_EQ_INT(fs.n, 1);
	CHECK_EQ_INT(hpack__known_count(&t), 0);
	CHECK(t.synced);
	/* 4097 > SETTINGS */
	CHECK_EQ_INT(decode_hex(&t, "3fe21f 82", &fs), HPACK_ERR_TABLE_SIZE);
	CHECK(!t.synced);
	/* not synced, sonde may have missed the SETTINGS that allow it */
	CHECK_EQ_INT(decode_hex(&t, "3fe21f 4003 6b65 7901 76", &fs), HPACK_OK);
	CHECK_EQ_INT(t.max, 4097);
	CHECK_DYN(&t, 1, "key", "v");
	hpack__free(&t);
}

/* SETTINGS_HEADER_TABLE_SIZE lowered shrinks the table now; raised, it waits for the update. */
TEST(test_settings_lowered)
{
	struct hpack_table t;
	struct fields fs;
	int i;

	hpack__init(&t, 4096, true);
	for (i = 0; i < 3; i++)
		CHECK_EQ_INT(decode_hex(&t, c3[i], &fs), HPACK_OK);
	CHECK_EQ_INT(hpack__known_size(&t), 164);
	hpack__set_settings_max(&t, 100);
	CHECK_EQ_INT(t.max, 100);
	CHECK_EQ_INT(hpack__known_count(&t), 1);
	CHECK_EQ_INT(hpack__known_size(&t), 54);
	CHECK_DYN(&t, 1, "custom-key", "custom-value");
	/* the encoder confirms with an update at or below it */
	CHECK_EQ_INT(decode_hex(&t, "3f45 be", &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, "custom-key", "custom-value", 0);
	CHECK_EQ_INT(decode_hex(&t, "3fe11f", &fs), HPACK_ERR_TABLE_SIZE);
	hpack__free(&t);

	hpack__init(&t, 100, true);
	hpack__set_settings_max(&t, 4096);
	CHECK_EQ_INT(t.max, 100);
	CHECK_EQ_INT(decode_hex(&t, "3fe11f", &fs), HPACK_OK);
	CHECK_EQ_INT(t.max, 4096);
	CHECK(t.synced);
	hpack__free(&t);
}

/* A block of one literal with incremental indexing, a new name of nlen bytes of 'n' and a
 * value of vlen bytes of 'v', each Huffman-coded or not. */
static size_t long_literal(uint8_t *out, size_t nlen, size_t vlen, bool huffman)
{
	static uint8_t s[HPACK_MAX_STRING * 2];
	size_t i = 0;

	out[i++] = 0x40;
	memset(s, 'n', nlen);
	i += put_str(out + i, s, nlen, huffman);
	memset(s, 'v', vlen);
	return i + put_str(out + i, s, vlen, huffman);
}

/* Past HPACK_MAX_STRING: reported as unknown, the block goes on, the entry counts its size. */
TEST(test_too_long)
{
	static uint8_t b[HPACK_MAX_STRING * 3];
	struct hpack_table t;
	struct fields fs;
	size_t n;
	int h;

	for (h = 0; h < 2; h++) {
		hpack__init(&t, 65536, true);
		CHECK_EQ_INT(decode_hex(&t, "3f e1 ff 03", &fs), HPACK_OK); /* 65536 */
		n = long_literal(b, 3, HPACK_MAX_STRING + 1, h);
		b[n++] = 0x82;
		CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_ERR_TOO_LONG);
		CHECK_EQ_INT(fs.n, 2);
		CHECK_FIELD(&fs, 0, "nnn", NULL, HPACK_VALUE_UNKNOWN);
		CHECK_FIELD(&fs, 1, ":method", "GET", 0);
		CHECK(t.synced);
		CHECK_EQ_INT(hpack__known_size(&t), 3 + HPACK_MAX_STRING + 1 + 32);
		/* exactly HPACK_MAX_STRING is kept */
		n = long_literal(b, HPACK_MAX_STRING, 0, h);
		CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_OK);
		CHECK_EQ_INT(fs.f[0].name_len, HPACK_MAX_STRING);
		CHECK_EQ_INT(hpack__known_count(&t), 2);
		/* the cut entry, indexed: known name, unknown value, and no error */
		CHECK_EQ_INT(decode_hex(&t, "bf", &fs), HPACK_OK);
		CHECK_FIELD(&fs, 0, "nnn", NULL, HPACK_VALUE_UNKNOWN);
		/* a cut name, then a literal naming it: its size is known, the table exact */
		n = long_literal(b, 9000, 2, h);
		CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_ERR_TOO_LONG);
		CHECK_FIELD(&fs, 0, NULL, "vv", HPACK_NAME_UNKNOWN);
		CHECK_EQ_INT(decode_hex(&t, "7e 01 78", &fs), HPACK_OK);
		CHECK_FIELD(&fs, 0, NULL, "x", HPACK_NAME_UNKNOWN);
		CHECK_EQ_INT(hpack__known_count(&t), 4);
		CHECK_EQ_INT(hpack__known_size(&t),
			     (3 + 8193 + 32) + (8192 + 32) + (9000 + 2 + 32) + (9000 + 1 + 32));
		CHECK(t.synced);
		CHECK_EQ_INT(hpack__unknown_refs(&t), 0);
		CHECK_EQ_INT(decode_hex(&t, "c1", &fs), HPACK_OK);
		CHECK_FIELD(&fs, 0, "nnn", NULL, HPACK_VALUE_UNKNOWN);
		hpack__free(&t);
	}
}

/* A large SETTINGS: sonde follows at most HPACK_TABLE_LIMIT, and says when it dropped more. */
TEST(test_table_limit)
{
	static uint8_t b[HPACK_MAX_STRING * 3];
	struct hpack_table t;
	struct fields fs;
	size_t n;
	int i;

	hpack__init(&t, 1 << 20, true);
	n = put_int(b, 0x20, 5, 1 << 20);
	CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_OK);
	for (i = 0; i < 8; i++) {
		n = long_literal(b, 10, 8000, i & 1);
		CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_OK);
	}
	CHECK(t.synced);
	CHECK_EQ_INT(hpack__known_size(&t), 8 * 8042);
	n = long_literal(b, 10, 8000, false);
	CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_OK);
	CHECK(!t.synced);
	CHECK(hpack__known_size(&t) <= HPACK_TABLE_LIMIT);
	CHECK_EQ_INT(hpack__known_count(&t), 8);
	CHECK(t.bytes_cap <= HPACK_TABLE_LIMIT);
	/* the oldest of the peer's entries is now unknown */
	n = long_literal(b, 10, 8000, false);
	CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_OK);
	CHECK_EQ_INT(hpack__known_count(&t), 8);
	n = put_int(b, 0x80, 7, HPACK_STATIC_COUNT + 9);
	CHECK_EQ_INT(decode_buf(&t, b, n, &fs), HPACK_OK);
	CHECK_FIELD(&fs, 0, NULL, NULL, HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);
	hpack__free(&t);
}

/*
 * Every prefix of each C.4 block, in a buffer of exactly that size (ASan sees a read past it),
 * on the table the block had: OK at a field boundary, or TRUNCATED, and the fields reported
 * are the first of the whole block's.
 */
TEST(test_truncated_c4)
{
	struct fields whole, fs;
	uint8_t full[256], *cut;
	struct hpack_table t;
	size_t n, k;
	int blk, i, err, oks;

	for (blk = 0; blk < 3; blk++) {
		n = unhex(c4[blk], full);
		oks = 0;
		for (k = 0; k <= n; k++) {
			hpack__init(&t, 4096, true);
			for (i = 0; i < blk; i++)
				decode_hex(&t, c4[i], &fs);
			if (k == 0)
				CHECK_EQ_INT(decode_buf(&t, full, n, &whole), HPACK_OK);
			hpack__free(&t);
			hpack__init(&t, 4096, true);
			for (i = 0; i < blk; i++)
				decode_hex(&t, c4[i], &fs);
			cut = malloc(k ? k : 1);
			memcpy(cut, full, k);
			err = decode_buf(&t, cut, k, &fs);
			free(cut);
			CHECK(err == HPACK_OK || err == HPACK_ERR_TRUNCATED);
			oks += err == HPACK_OK;
			CHECK(fs.n <= whole.n);
			for (i = 0; i < fs.n; i++)
				CHECK(!memcmp(&fs.f[i], &whole.f[i], sizeof(fs.f[i])));
			if (err == HPACK_OK)
				CHECK(t.synced);
			hpack__free(&t);
		}
		/* empty, and after each field */
		CHECK_EQ_INT(oks, whole.n + 1);
	}
}

/* A plain model of the dynamic table: an array, newest first, evicting as RFC 7541 4 says. */
struct model_ent {
	uint8_t name[48], value[64];
	size_t name_len, value_len;
};

struct model {
	struct model_ent e[64];
	int n;
	uint32_t size, max;
};

static void model_evict(struct model *m, uint32_t bound)
{
	while (m->n && m->size > bound) {
		m->n--;
		m->size -= (uint32_t)(m->e[m->n].name_len + m->e[m->n].value_len + 32);
	}
}

static void model_insert(struct model *m, const struct model_ent *ent)
{
	uint32_t s = (uint32_t)(ent->name_len + ent->value_len + 32);

	if (s > m->max) {
		model_evict(m, 0);
		return;
	}
	model_evict(m, m->max - s);
	memmove(&m->e[1], &m->e[0], sizeof(m->e[0]) * (size_t)m->n);
	m->e[0] = *ent;
	m->n++;
	m->size += s;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

struct expect {
	int n;
	struct model_ent f[16];
	unsigned flags[16];
};

static void rnd_bytes(uint8_t *p, size_t *len, size_t max)
{
	size_t i;

	*len = rnd((uint32_t)max + 1);
	for (i = 0; i < *len; i++)
		p[i] = (uint8_t)(rnd(4) ? 'a' + rnd(26) : rnd(256));
}

/* One field of a random block, written to out and expected of the model. */
static size_t rnd_field(struct model *m, uint8_t *out, struct expect *x)
{
	struct model_ent ent;
	uint32_t kind = rnd(10), idx;
	size_t n = 0;

	if (kind == 0) {
		m->max = rnd(513);
		model_evict(m, m->max);
		return put_int(out, 0x20, 5, m->max);
	}
	idx = m->n && rnd(3) ? HPACK_STATIC_COUNT + 1 + rnd((uint32_t)m->n) : 0;
	if (kind < 4 && idx) {
		ent = m->e[idx - HPACK_STATIC_COUNT - 1];
		x->flags[x->n] = 0;
		x->f[x->n++] = ent;
		return put_int(out, 0x80, 7, idx);
	}
	if (idx) {
		ent = m->e[idx - HPACK_STATIC_COUNT - 1];
		n = put_int(out, kind < 8 ? 0x40 : kind == 8 ? 0x10 : 0, kind < 8 ? 6 : 4, idx);
	} else {
		rnd_bytes(ent.name, &ent.name_len, sizeof(ent.name));
		n = put_int(out, kind < 8 ? 0x40 : kind == 8 ? 0x10 : 0, kind < 8 ? 6 : 4, 0);
		n += put_str(out + n, ent.name, ent.name_len, rnd(2));
	}
	rnd_bytes(ent.value, &ent.value_len, sizeof(ent.value));
	n += put_str(out + n, ent.value, ent.value_len, rnd(2));
	x->flags[x->n] = kind == 8 ? HPACK_NEVER_INDEXED : 0;
	x->f[x->n++] = ent;
	if (kind < 8)
		model_insert(m, &ent);
	return n;
}

/* The decoded fields are the expected ones; unknown parts allowed only when allow_unknown. */
static int compare(const struct fields *fs, const struct expect *x, bool allow_unknown)
{
	int i, bad = 0;

	if (fs->n != x->n)
		return 1;
	for (i = 0; i < x->n; i++) {
		const struct field *f = &fs->f[i];
		const struct model_ent *e = &x->f[i];
		unsigned unknown = f->flags & (HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN);

		bad += (f->flags & ~unknown) != x->flags[i];
		bad += unknown && !allow_unknown;
		if (!(f->flags & HPACK_NAME_UNKNOWN))
			bad += f->name_len != e->name_len || memcmp(f->name, e->name, e->name_len);
		if (!(f->flags & HPACK_VALUE_UNKNOWN))
			bad += f->value_len != e->value_len ||
			       memcmp(f->value, e->value, e->value_len);
	}
	return bad;
}

/*
 * Random blocks of every representation on a 512-byte table, so that the ring wraps and evicts
 * all the time: a synced table decodes them as the model says, and a table that joins at block
 * 100 agrees wherever it knows a name or a value, and knows some.
 */
TEST(test_random_against_model)
{
	struct hpack_table a, b;
	struct model m = { .max = 512 };
	struct fields fs;
	struct expect x;
	uint8_t blk[8192];
	int round, i, bad = 0, bad_b = 0, known_b = 0;
	size_t n;

	hpack__init(&a, 512, true);
	hpack__init(&b, 512, false);
	for (round = 0; round < 3000; round++) {
		x.n = 0;
		n = 0;
		for (i = rnd(8); i >= 0 && x.n < 16; i--)
			n += rnd_field(&m, blk + n, &x);
		bad += decode_buf(&a, blk, n, &fs) != HPACK_OK;
		bad += compare(&fs, &x, false);
		bad += hpack__known_size(&a) != m.size || hpack__known_count(&a) != (uint32_t)m.n;
		if (round < 100)
			continue;
		bad_b += decode_buf(&b, blk, n, &fs) != HPACK_OK;
		bad_b += compare(&fs, &x, true);
		for (i = 0; i < fs.n; i++)
			known_b += !(fs.f[i].flags & HPACK_NAME_UNKNOWN);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(bad_b, 0);
	CHECK(a.synced);
	CHECK_EQ_INT(hpack__unknown_refs(&a), 0);
	CHECK(hpack__unknown_refs(&b) > 0);
	CHECK(known_b > 1000);
	hpack__free(&a);
	hpack__free(&b);
}

int main(void)
{
	RUN(test_integers);
	RUN(test_integers_in_blocks);
	RUN(test_rfc_c2);
	RUN(test_rfc_c3);
	RUN(test_rfc_c4);
	RUN(test_rfc_c5);
	RUN(test_rfc_c6);
	RUN(test_huffman_every_symbol);
	RUN(test_huffman_invalid);
	RUN(test_huffman_error_in_block);
	RUN(test_index_errors);
	RUN(test_midway_unknown_entries);
	RUN(test_midway_unknown_name);
	RUN(test_midway_eviction);
	RUN(test_size_updates);
	RUN(test_settings_lowered);
	RUN(test_too_long);
	RUN(test_table_limit);
	RUN(test_truncated_c4);
	RUN(test_random_against_model);
	UNIT_DONE();
}
