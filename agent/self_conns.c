// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The ports of the agent's recent connections, in a small ring: an export opens a few keep-alive
 * connections in its life, so the last 64 are plenty, and an old pair that another process
 * happens to reuse later falls out of the ring.
 */
#include "self_conns.h"

#define SELF_CONNS 64

static struct {
	uint16_t local, collector;
} conns[SELF_CONNS];
static unsigned int next;

void self_conns__add(uint16_t local_port, uint16_t collector_port)
{
	unsigned int i;

	if (!local_port || !collector_port || self_conns__has(collector_port, local_port))
		return;
	i = next++ % SELF_CONNS;
	conns[i].local = local_port;
	conns[i].collector = collector_port;
}

bool self_conns__has(uint16_t own_port, uint16_t peer_port)
{
	unsigned int i;

	if (!own_port || !peer_port)
		return false;
	for (i = 0; i < SELF_CONNS; i++)
		if (conns[i].local == peer_port && conns[i].collector == own_port)
			return true;
	return false;
}
