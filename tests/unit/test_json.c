// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The JSON reader: what the API server sends, and hostile input it must refuse cleanly. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "unit.h"

static struct json_tok toks[256];

static int parse(const char *s)
{
	return json_parse(s, strlen(s), toks, 256);
}

TEST(objects_arrays_and_lookup)
{
	const char *s = " {\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"97\"},"
			"\"items\":[{\"a\":1},{\"a\":-2.5e3},[]],\"ok\":true,\"no\":false,\"n\":null}\n";
	char out[32];
	int n = parse(s), md, items, it, count = 0;

	CHECK_EQ_INT(n, 22);
	CHECK_EQ_INT(toks[0].type, JSON_OBJECT);
	CHECK_EQ_INT(toks[0].end, n);
	md = json_get(s, toks, 0, "metadata");
	CHECK(md > 0);
	CHECK_EQ_INT(json_str(s, toks, json_get(s, toks, md, "resourceVersion"), out, sizeof(out)), 2);
	CHECK_STR(out, "97");
	items = json_get(s, toks, 0, "items");
	for (it = json_first(toks, items); it >= 0; it = json_next(toks, items, it))
		count++;
	CHECK_EQ_INT(count, 3);
	it = json_first(toks, items);
	CHECK_EQ_INT(json_int(s, toks, json_get(s, toks, it, "a"), 0), 1);
	it = json_next(toks, items, it);
	/* a fraction or an exponent is no integer */
	CHECK_EQ_INT(json_int(s, toks, json_get(s, toks, it, "a"), 77), 77);
	CHECK(json_bool(s, toks, json_get(s, toks, 0, "ok"), false));
	CHECK(!json_bool(s, toks, json_get(s, toks, 0, "no"), true));
	CHECK_EQ_INT(toks[json_get(s, toks, 0, "n")].type, JSON_NULL);
	CHECK_EQ_INT(json_get(s, toks, 0, "missing"), -1);
	CHECK_EQ_INT(json_get(s, toks, items, "a"), -1); /* not an object */
	CHECK_EQ_INT(json_first(toks, json_next(toks, items, it)), -1); /* the empty array */
	/* the object's members, in order */
	it = json_first(toks, 0);
	CHECK(json_str_eq(s, toks, it, "kind"));
	it = json_next(toks, 0, it);
	CHECK(json_str_eq(s, toks, it, "metadata"));
}

TEST(escapes)
{
	const char *s = "{\"k\\u0069nd\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\u20ac\\ud83d\\ude00\\ud800x\"}";
	char out[64];
	int v;

	CHECK(parse(s) > 0);
	v = json_get(s, toks, 0, "kind"); /* an escaped key still matches */
	CHECK(v > 0);
	CHECK(json_str(s, toks, v, out, sizeof(out)) > 0);
	CHECK_STR(out, "a\"b\\c/d\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbdx");
	/* too small: refused, not cut */
	CHECK_EQ_INT(json_str(s, toks, v, out, 5), -1);
	/* an escaped NUL would cut a C string short: refused */
	s = "[\"a\\u0000b\"]";
	CHECK(parse(s) > 0);
	CHECK_EQ_INT(json_str(s, toks, 1, out, sizeof(out)), -1);
	/* "a\n" written with an escape is not the 3 bytes a, backslash, n */
	s = "[\"a\\n\"]";
	CHECK(parse(s) > 0);
	CHECK(!json_str_eq(s, toks, 1, "a\\n"));
	CHECK(json_str_eq(s, toks, 1, "a\n"));
}

TEST(bad_input)
{
	static const char *const bad[] = {
		"", "   ", "{", "[1,", "{\"a\"", "{\"a\":", "{\"a\":1", "\"abc", "tru", "[1 2]",
		"{\"a\" 1}", "{1:2}", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "+1", ".5",
		"[\"\\x\"]", "[\"\\u12g4\"]", "[\"\\u12\"]", "[\"a\nb\"]", "[\"a\\", "{}}", "[]]",
		"nul", "[true false]", "{\"a\":1]", "[1}", "\"a\" \"b\"", "\x01",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = parse(bad[i]);

		if (n >= 0)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		CHECK(n < 0);
	}
	CHECK_EQ_INT(parse("[1,"), -JSON_ETRUNC);
	CHECK_EQ_INT(parse("\"abc"), -JSON_ETRUNC);
	CHECK_EQ_INT(parse("[1 2]"), -JSON_ESYNTAX);
	CHECK_EQ_INT(parse("[\"\\q\"]"), -JSON_ESYNTAX);
	CHECK(strlen(json_strerror(-JSON_ETRUNC)) > 0);
	/* valid scalars at the top */
	CHECK_EQ_INT(parse("0"), 1);
	CHECK_EQ_INT(parse(" -0.5E+10 "), 1);
	CHECK_EQ_INT(parse("null"), 1);
}

TEST(deep_nesting_and_limits)
{
	char *s = malloc(200001);
	int i, n;

	/* 100,000 nested arrays: refused at the depth bound, without recursion */
	for (i = 0; i < 100000; i++)
		s[i] = '[';
	for (; i < 200000; i++)
		s[i] = ']';
	s[i] = 0;
	n = json_parse(s, 200000, toks, 256);
	CHECK_EQ_INT(n, -JSON_EDEPTH);
	CHECK_EQ_INT(json_parse(s, 200000, toks, 10), -JSON_ETOKENS); /* fewer tokens than levels */
	/* exactly the bound is fine */
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		s[i] = '[';
	for (; i < 2 * JSON_MAX_DEPTH; i++)
		s[i] = ']';
	CHECK_EQ_INT(json_parse(s, 2 * JSON_MAX_DEPTH, toks, 256), JSON_MAX_DEPTH);
	s[0] = '[';
	memmove(s + 1, s, 2 * JSON_MAX_DEPTH);
	s[2 * JSON_MAX_DEPTH + 1] = ']';
	CHECK_EQ_INT(json_parse(s, 2 * JSON_MAX_DEPTH + 2, toks, 256), -JSON_EDEPTH);
	/* more values than tokens */
	CHECK_EQ_INT(json_parse("[1,2,3]", 7, toks, 3), -JSON_ETOKENS);
	CHECK_EQ_INT(json_parse("[1,2,3]", 7, toks, 4), 4);
	free(s);
}

TEST(huge_string)
{
	size_t len = 4u << 20;
	char *s = malloc(len + 3), out[16];

	s[0] = '"';
	memset(s + 1, 'x', len);
	s[len + 1] = '"';
	s[len + 2] = 0;
	CHECK_EQ_INT(json_parse(s, len + 2, toks, 256), 1);
	CHECK_EQ_INT(toks[0].len, len);
	CHECK_EQ_INT(json_str(s, toks, 0, out, sizeof(out)), -1); /* does not fit: refused */
	CHECK(!json_str_eq(s, toks, 0, "xxx"));
	/* the same string cut short */
	CHECK_EQ_INT(json_parse(s, len + 1, toks, 256), -JSON_ETRUNC);
	free(s);
}

TEST(truncated_at_every_byte)
{
	const char *s = "{\"metadata\":{\"name\":\"web-0\",\"labels\":{\"app\":\"w\\u00e9b\"}},"
			"\"items\":[1,-2.5,true,null,\"x\"]}";
	size_t len = strlen(s), i;

	/* every proper prefix is incomplete (none is a complete value by itself) */
	for (i = 0; i < len; i++)
		CHECK(json_parse(s, i, toks, 256) < 0);
	CHECK(json_parse(s, len, toks, 256) > 0);
}

int main(void)
{
	RUN(objects_arrays_and_lookup);
	RUN(escapes);
	RUN(bad_input);
	RUN(deep_nesting_and_limits);
	RUN(huge_string);
	RUN(truncated_at_every_byte);
	UNIT_DONE();
}
