// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Context lines past a request head's captured bytes (head_ctx.h). */
#include <string.h>

#include "decoders/head_ctx.h"

void head_ctx__reset(struct head_ctx *h)
{
	h->len = 0;
	h->frag_len = 0;
	h->ended = false;
}

/* Whether the line (n bytes, its line feed last) names a header that carries trace context. */
static bool context_line(const uint8_t *p, size_t n)
{
	static const char *const names[] = {"traceparent", "tracestate", "b3", "x-b3-traceid",
					    "x-b3-spanid", "x-b3-sampled", "uber-trace-id"};
	const uint8_t *colon = memchr(p, ':', n);
	size_t i, k, nlen;

	if (!colon)
		return false;
	nlen = (size_t)(colon - p);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) != nlen)
			continue;
		for (k = 0; k < nlen && (p[k] | 0x20) == (uint8_t)names[i][k]; k++)
			;
		if (k == nlen)
			return true;
	}
	return false;
}

/* A whole line (n bytes with its line feed): kept when it carries context; 1 when kept. */
static int take_line(struct head_ctx *h, const uint8_t *p, size_t n)
{
	if (h->ended)
		return 0;
	if (n == 1 || (n == 2 && p[0] == '\r')) {
		h->ended = true; /* the empty line: the head ended */
		return 0;
	}
	if (!context_line(p, n) || h->len + n > sizeof(h->lines))
		return 0;
	memcpy(h->lines + h->len, p, n);
	h->len += n;
	return 1;
}

/* The line the last I/O ended in, joined to this I/O's first bytes up to its line feed. */
static int join_fragment(struct head_ctx *h, const uint8_t *data, size_t len, uint64_t gap)
{
	uint8_t line[2 * SONDE_CTX_LINE_MAX];
	const uint8_t *lf;
	size_t n, fl = h->frag_len;

	h->frag_len = 0;
	if (!fl || gap || !len)
		return 0;
	lf = memchr(data, '\n', len < sizeof(line) - fl ? len : sizeof(line) - fl);
	if (!lf)
		return 0;
	n = (size_t)(lf - data) + 1;
	memcpy(line, h->frag, fl);
	memcpy(line + fl, data, n);
	return take_line(h, line, fl + n);
}

int head_ctx__add(struct head_ctx *h, const uint8_t *entries, size_t elen, uint32_t io_bytes,
		  const uint8_t *data, size_t len, uint64_t gap)
{
	const size_t eh = sizeof(struct sonde_ctx_line);
	int added = join_fragment(h, data, len, gap);
	size_t o = 0;

	while (o + eh <= elen) {
		const uint8_t *p = entries + o + eh;
		uint32_t off = entries[o] | (uint32_t)entries[o + 1] << 8;
		size_t n = entries[o + 2];
		const uint8_t *lf;

		if (o + eh + n > elen)
			break; /* a short record: nothing past it is whole */
		o += eh + n;
		lf = memchr(p, '\n', n);
		if (lf)
			added += take_line(h, p, (size_t)(lf - p) + 1);
		else if (off + n == io_bytes && n <= sizeof(h->frag))
			memcpy(h->frag, p, h->frag_len = n); /* goes on in the next I/O */
	}
	return added;
}
