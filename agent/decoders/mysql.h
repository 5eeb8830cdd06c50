/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The MySQL and MariaDB decoder beyond the decoder interface: what it counts of one connection,
 * for the tests and the fuzz target (the core only hears of framing losses, through its sink).
 */
#ifndef SONDE_MYSQL_H
#define SONDE_MYSQL_H

#include <stdint.h>

struct mysql_counts {
	uint64_t lost;	    /* times a direction lost its framing (each one a sink lost call) */
	uint64_t evictions; /* prepared statements forgotten to make room for newer ones */
	uint64_t nomem;	    /* the statement table could not be allocated */
	uint64_t refused;   /* commands beyond the queue's bound (or memory): no span */
	uint64_t pending;   /* commands (and markers for unseen ones) waiting for an answer */
};

/* The counters of one connection's decoder state (a pointer from mysql_decoder.create). */
void mysql_get_counts(const void *st, struct mysql_counts *c);

#endif /* SONDE_MYSQL_H */
