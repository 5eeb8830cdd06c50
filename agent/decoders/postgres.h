/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The PostgreSQL decoder beyond the decoder interface: what it counts of one connection, for
 * the tests and the fuzz target (the core only hears of framing losses, through its sink).
 */
#ifndef SONDE_POSTGRES_H
#define SONDE_POSTGRES_H

#include <stdint.h>

struct postgres_counts {
	uint64_t lost;	    /* times a direction lost its framing (each one a sink lost call) */
	uint64_t cut;	    /* messages whose wanted body was not all captured */
	uint64_t evictions; /* named statements forgotten to make room for newer ones */
	uint64_t nomem;	    /* the statement table could not be allocated */
	uint64_t refused;   /* requests beyond the queue's bound (or memory): no span */
	uint64_t pending;   /* requests waiting for their answer */
};

/* The counters of one connection's decoder state (a pointer from postgres_decoder.create). */
void postgres_get_counts(const void *st, struct postgres_counts *c);

#endif /* SONDE_POSTGRES_H */
