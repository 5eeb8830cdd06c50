/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the JSON reader behind the Kubernetes watcher. json.c lives outside
 * agent/decoders/, so this file compiles it itself (run.sh builds the decoders only).
 * Properties: tokens stay inside the text and nest properly, every string token decodes (or is
 * refused) within its buffer without writing past it, and a failed parse returns a known error.
 * A broken property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.c"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

static struct json_tok toks[4096];

/* Walk the value at i like a consumer would; returns the index after it. */
static int walk(const char *s, size_t len, int i, int n, int depth)
{
	char out[64];
	int c, r;

	REQUIRE(i < n && depth <= JSON_MAX_DEPTH);
	REQUIRE(toks[i].start <= len && toks[i].len <= len - toks[i].start);
	REQUIRE((int)toks[i].end > i && (int)toks[i].end <= n);
	if (toks[i].type == JSON_STRING) {
		memset(out, 'Z', sizeof(out));
		r = json_str(s, toks, i, out, 17);
		REQUIRE(r < 17 && (r < 0 || (out[r] == 0 && strlen(out) == (size_t)r)));
		REQUIRE(out[17] == 'Z');
	}
	if (toks[i].type != JSON_ARRAY && toks[i].type != JSON_OBJECT) {
		REQUIRE((int)toks[i].end == i + 1);
		return i + 1;
	}
	for (c = json_first(toks, i); c >= 0; c = json_next(toks, i, c)) {
		if (toks[i].type == JSON_OBJECT) {
			REQUIRE(toks[c].type == JSON_STRING);
			REQUIRE(walk(s, len, c + 1, n, depth + 1) == (int)toks[c + 1].end);
		} else {
			REQUIRE(walk(s, len, c, n, depth + 1) == (int)toks[c].end);
		}
	}
	return (int)toks[i].end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy without a terminating NUL, so any read past the end is caught */
	char *s = malloc(size ? size : 1);
	int n;

	memcpy(s, data, size);
	n = json_parse(s, size, toks, (int)(sizeof(toks) / sizeof(toks[0])));
	REQUIRE(n != 0);
	if (n > 0) {
		REQUIRE(walk(s, size, 0, n, 0) == n);
		/* lookups a consumer makes, on whatever came */
		json_get(s, toks, json_get(s, toks, 0, "metadata"), "name");
		json_int(s, toks, json_get(s, toks, 0, "code"), 0);
		json_bool(s, toks, json_get(s, toks, 0, "controller"), false);
	} else {
		REQUIRE(n >= -JSON_ETOOBIG);
	}
	free(s);
	return 0;
}
