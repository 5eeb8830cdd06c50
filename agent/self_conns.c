// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The local ports of the agent's recent connections, in a small ring: an export opens a few
 * keep-alive connections in its life, so the last 64 are plenty, and an old port that another
 * process reuses later falls out of the ring.
 */
#include "self_conns.h"

#define SELF_PORTS 64

static uint16_t ports[SELF_PORTS];
static unsigned int next;

void self_conns__add(uint16_t local_port)
{
	unsigned int i;

	if (!local_port || self_conns__has(local_port))
		return;
	i = next++ % SELF_PORTS;
	ports[i] = local_port;
}

bool self_conns__has(uint16_t port)
{
	unsigned int i;

	for (i = 0; i < SELF_PORTS; i++)
		if (port && ports[i] == port)
			return true;
	return false;
}
