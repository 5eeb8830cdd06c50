/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace context past a request head's captured bytes: the lines the kernel found further on
 * (bpf/head_find.bpf.h), gathered over the I/Os of one head into whole header lines that the
 * HTTP/1.x parser reads after the captured part. A line the kernel saw cut by an I/O's end is
 * joined to the first bytes of the next record of the head.
 */
#ifndef SONDE_HEAD_CTX_H
#define SONDE_HEAD_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sonde_event.h"

#define HEAD_CTX_MAX 1024 /* bytes of whole context lines kept for one head */

struct head_ctx {
	uint8_t lines[HEAD_CTX_MAX]; /* whole lines, each ending with its line feed */
	uint32_t len;
	uint8_t frag[SONDE_CTX_LINE_MAX]; /* the start of a line the last I/O ended in */
	uint32_t frag_len;
	bool ended; /* a joined line was the head's empty line: nothing after it is a header */
};

void head_ctx__reset(struct head_ctx *h);
/*
 * One I/O of the head: entries/elen are its context-line entries (struct sonde_ctx_line each,
 * then its bytes), io_bytes its size; data/len its first bytes as captured and gap the bytes
 * between the last I/O given and this one (a fragment joins only across no gap). Returns how
 * many whole context lines it added.
 */
int head_ctx__add(struct head_ctx *h, const uint8_t *entries, size_t elen, uint32_t io_bytes,
		  const uint8_t *data, size_t len, uint64_t gap);

#endif /* SONDE_HEAD_CTX_H */
