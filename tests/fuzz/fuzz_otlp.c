/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the OTLP encoder. The input is read as a batch of spans (ids, times,
 * kinds and statuses in or out of range, names, trace_state, attributes of any type with keys
 * and bytes from the input, resources, attribute counts past the tables), and the direct encoder
 * (otlp__encode) must give exactly the bytes of the protobuf-c reference (otlp__encode_protobuf_c).
 * otlp_encode.c and span.c live outside agent/decoders/, so this file compiles them itself; the
 * reference needs the protobuf-c code that `make` generates, named on the fuzz-build lines below
 * that run.sh and regress.sh add to the compiler's command line.
 *
 * Input, read in order (missing bytes read as zero): 4 keys of 23 bytes (cut at a NUL); a byte
 * for the number of resources (0-3), one for the number of spans (1-64); per resource, its
 * attributes; per span, a flags byte (bit 0 a parent, bit 1 no start time, bit 2 no end time,
 * bit 3 a trace_state, bit 4 a byte more to add to the attribute count), 16 + 8 (+ 8) id bytes,
 * kind, status, resource (an index; past the last, none), the times (8 bytes each unless left
 * out), a name (length byte, bytes), the trace_state (the same, with bit 3), its attributes. Attributes are a count byte, then for each a
 * type byte (any value), a key byte (an index into keys[], whose last ones are the input's), a
 * value length byte, the value bytes and 8 bytes of integer value.
 */
// fuzz-build: -Ibuild/gen build/gen/opentelemetry/proto/*/v1/*.pb-c.c
// fuzz-build: build/gen/opentelemetry/proto/*/*/v1/*.pb-c.c -lprotobuf-c
#define _GNU_SOURCE /* strptime() and timegm() in otlp_encode.c, as the Makefile defines it */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/otlp_encode.c"
#include "span.c"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define MAX_SPANS 64
#define MAX_RESOURCES 3
#define INPUT_KEYS 4

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t next_byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static void next_bytes(struct input *in, void *dst, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memcpy(dst, in->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static uint64_t next_u64(struct input *in)
{
	uint64_t v;

	next_bytes(in, &v, sizeof(v));
	return v;
}

static char input_keys[INPUT_KEYS][24];
/* Semantic-convention keys, an empty one, repaired ones, none, and keys from the input. */
static const char *keys[] = { "http.request.method",
			      "url.path",
			      "network.protocol.version",
			      "",
			      "k\xffy",
			      "caf\xc3\xa9",
			      NULL,
			      input_keys[0],
			      input_keys[1],
			      input_keys[2],
			      input_keys[3] };
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static struct span spans[MAX_SPANS];
static struct resource resources[MAX_RESOURCES];

/* Attributes into attrs[] with their values in str[cap]; returns the count made. */
static uint16_t read_attrs(struct input *in, struct span_attr *attrs, size_t max, char *str,
			   size_t cap, uint16_t *used)
{
	size_t n = next_byte(in) % (max + 1), k;

	for (k = 0; k < n; k++) {
		struct span_attr *at = &attrs[k];
		size_t len;

		at->type = next_byte(in);
		at->key = keys[next_byte(in) % N_KEYS];
		len = next_byte(in) % 64;
		if (len > cap - *used)
			len = cap - *used;
		next_bytes(in, str + *used, len);
		at->off = *used;
		at->len = (uint16_t)len;
		*used += (uint16_t)len;
		at->i = (int64_t)next_u64(in);
	}
	return (uint16_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	const struct span *ptrs[MAX_SPANS];
	size_t n_res, n, i, len, ref_len;
	uint8_t *buf, *ref;

	for (i = 0; i < INPUT_KEYS; i++) {
		next_bytes(&in, input_keys[i], sizeof(input_keys[i]) - 1);
		input_keys[i][sizeof(input_keys[i]) - 1] = '\0';
	}
	n_res = next_byte(&in) % (MAX_RESOURCES + 1);
	n = 1 + next_byte(&in) % MAX_SPANS;
	for (i = 0; i < n_res; i++) {
		struct resource *r = &resources[i];

		memset(r, 0, sizeof(*r));
		r->n_attrs = read_attrs(&in, r->attrs, RESOURCE_MAX_ATTRS, r->str,
					RESOURCE_STR_BYTES, &r->str_used);
	}
	for (i = 0; i < n; i++) {
		struct span *s = &spans[i];
		uint8_t flags = next_byte(&in), r;

		memset(s, 0, sizeof(*s));
		next_bytes(&in, s->trace_id, sizeof(s->trace_id));
		next_bytes(&in, s->span_id, sizeof(s->span_id));
		if (flags & 1)
			next_bytes(&in, s->parent_span_id, sizeof(s->parent_span_id));
		s->kind = next_byte(&in);
		s->status = next_byte(&in);
		r = next_byte(&in) % (MAX_RESOURCES + 1);
		s->res = r < n_res ? &resources[r] : NULL;
		s->start_unix_ns = flags & 2 ? 0 : next_u64(&in);
		s->end_unix_ns = flags & 4 ? 0 : next_u64(&in);
		/* A name of SPAN_NAME_BYTES has no terminator. */
		len = next_byte(&in) % (SPAN_NAME_BYTES + 1);
		next_bytes(&in, s->name, len);
		if (flags & 8) {
			len = next_byte(&in) % 64;
			next_bytes(&in, s->str, len);
			s->trace_state_len = (uint16_t)len;
			s->str_used = (uint16_t)len;
		}
		s->n_attrs = read_attrs(&in, s->attrs, SPAN_MAX_ATTRS, s->str, SPAN_STR_BYTES,
					&s->str_used);
		if (flags & 16)
			s->n_attrs += next_byte(&in);
		ptrs[i] = s;
	}

	REQUIRE(otlp__encode(ptrs, n, &buf, &len) == 0);
	REQUIRE(otlp__encode_protobuf_c(ptrs, n, &ref, &ref_len) == 0);
	REQUIRE(len == ref_len);
	REQUIRE(memcmp(buf, ref, len) == 0);
	free(buf);
	free(ref);
	return 0;
}
