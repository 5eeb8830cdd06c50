/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Redis decoder (RESP2, RESP3 and inline commands) beyond the decoder interface: what it
 * counts, for the tests and the fuzz target (the core only hears of framing losses, through its
 * sink).
 */
#ifndef SONDE_REDIS_H
#define SONDE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decoders/db.h"

struct redis_counts {
	uint64_t commands;  /* commands parsed from the client's bytes */
	uint64_t pushes;    /* out-of-band messages (pub/sub, MONITOR, RESP3 pushes): no span */
	uint64_t unpaired;  /* replies with no command to pair with (not seen, or dropped) */
	uint64_t dropped;   /* commands given up: their replies could not be told apart */
	uint64_t lost;	    /* times a direction lost its framing (each one a sink lost call) */
	uint64_t cut;	    /* commands whose arguments were not all captured */
	uint64_t pending;   /* commands (and markers for unseen ones) waiting for a reply */
};

/* The counters of one connection's decoder state (a pointer from redis_decoder.create). */
void redis_get_counts(const void *st, struct redis_counts *c);

/* A command name Redis knows (any case), as the detector uses it. */
bool redis_known_command(const uint8_t *name, size_t len);

#endif /* SONDE_REDIS_H */
