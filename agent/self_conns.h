/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sonde's own connections (its exports). The kernel side never records the agent's own I/O, but
 * the collector's side of an export is another process on the same host when the collector runs
 * here: without this, every export would become a span that is exported in turn. The exporter
 * registers each connection it opens by its two ports; the assembler ignores a connection of this
 * host whose own port is the collector's and whose peer's is the agent's.
 *
 * Both ports, not the agent's alone: Linux gives one local port to several connections at once
 * when their destinations differ, so a client of any other local server may share the agent's.
 */
#ifndef SONDE_SELF_CONNS_H
#define SONDE_SELF_CONNS_H

#include <stdbool.h>
#include <stdint.h>

void self_conns__add(uint16_t local_port, uint16_t collector_port);
/* Is a local connection with these ports the collector's end of one of the agent's? */
bool self_conns__has(uint16_t own_port, uint16_t peer_port);

#endif
