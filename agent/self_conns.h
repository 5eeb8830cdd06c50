/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sonde's own connections (its exports). The kernel side never records the agent's own I/O, but
 * the collector's side of an export is another process on the same host when the collector runs
 * here: without this, every export would become a span that is exported in turn. The exporter
 * registers the local port of each connection it opens; the assembler ignores connections whose
 * peer is such a port on this host.
 */
#ifndef SONDE_SELF_CONNS_H
#define SONDE_SELF_CONNS_H

#include <stdbool.h>
#include <stdint.h>

void self_conns__add(uint16_t local_port);
bool self_conns__has(uint16_t port);

#endif
