/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The connection table: every connection the kernel side announced, by its id and by its
 * tuple, so that the two ends of a connection between two traced processes of this host find
 * each other. It knows no protocol: what decodes a connection's bytes (its decoder and that
 * decoder's state), the two stream cursors and the link state hang off a connection as opaque
 * members the assembler sets.
 */
#ifndef SONDE_CONN_H
#define SONDE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "decoders/decoder.h"
#include "stream.h"

/* What becomes of a connection's bytes. */
enum conn_phase {
	CONN_UNKNOWN = 0,  /* not classified yet: the next run start is looked at */
	CONN_DECODING = 1, /* a decoder follows it */
	CONN_OFF = 2,	   /* nobody's: no protocol sonde decodes, given up, or not selected */
};

struct conn_link;   /* link.h: what the other end of the connection needs of this one */
struct detect_keep; /* classify.c: the first bytes of a run, too few to classify yet */

struct conn {
	struct conn *next;  /* in the id hash */
	struct conn *tnext; /* in the tuple index, once the tuple is known */
	struct conn *tpeer; /* conn_table__peer()'s answer, while tpeer_gen is the index's */
	uint64_t tpeer_gen;
	uint64_t id;	    /* the kernel's connection id */
	uint64_t sock_key;  /* the kernel's key for it (conns map), once announced */
	uint64_t last_ns;   /* the last record seen of it */
	uint64_t open_ts;   /* the connect or accept, as the kernel saw it; 0: not seen */
	uint32_t tgid;
	uint16_t family;
	uint8_t saddr[16], daddr[16]; /* local, remote: IPv4 in the first 4 bytes */
	struct conn_info info;	      /* role, ports, peer: what decoders may read */
	uint8_t phase;		      /* enum conn_phase */
	uint8_t midway;		      /* runs that started half-way through an exchange */
	bool selected;		      /* its process is traced (--pid, --exe, not sonde) */
	bool no_guess;		      /* CPython: no guess among a thread's open requests */
	bool kernel_ignored;	      /* the kernel was told to stop recording it */
	bool give_up;		      /* its decoder asked to be let go (acted on after the call) */
	bool not_mine;		      /* ... because the protocol was not its own after all */
	bool upgraded;		      /* ... because the connection changes protocol (h2c) */
	uint32_t n_ops;		      /* operations given ids: the first one's cause is the open */
	char comm[16];
	struct resource *res;	      /* its process, bound at the first record */
	const struct decoder *dec;    /* CONN_DECODING: the decoder, and its state */
	void *dec_st;
	struct stream req, resp;      /* the bytes the client sent, and the server's */
	struct detect_keep *keep;
	struct conn_link *link;
};

struct conn_table;

struct conn_table *conn_table__new(uint32_t max_conns);
/* Free the table; conns still in it must have been released by the caller (for_each). */
void conn_table__free(struct conn_table *t);
struct conn *conn_table__find(const struct conn_table *t, uint64_t id);
/* A new zeroed connection in the table, or NULL when the table is full (counted) or no memory. */
struct conn *conn_table__add(struct conn_table *t, uint64_t id, uint32_t tgid);
/* Take c out of the table and the tuple index; the caller frees what hangs off it, then c. */
void conn_table__remove(struct conn_table *t, struct conn *c);
/* Set (or change: a connection announced again) the tuple and index it. */
void conn_table__set_tuple(struct conn_table *t, struct conn *c, uint16_t family,
			   const uint8_t saddr[16], const uint8_t daddr[16], uint16_t sport,
			   uint16_t dport);
/* The other end of c, when it is a connection of a traced process on this host. */
struct conn *conn_table__peer(struct conn_table *t, struct conn *c);
/* The peer is on this host: a loopback address, or this connection's own local address. */
bool conn_is_local_peer(const struct conn *c);
/* Call fn for every connection; fn may remove and free c. The periodic tick, the shutdown. */
void conn_table__for_each(struct conn_table *t, void (*fn)(void *ctx, struct conn *c), void *ctx);

struct conn_table_stats {
	uint64_t open;	  /* connections in the table now */
	uint64_t total;	  /* connections ever added */
	uint64_t dropped; /* connections not added: table full */
};
void conn_table__stats(const struct conn_table *t, struct conn_table_stats *out);

#endif /* SONDE_CONN_H */
