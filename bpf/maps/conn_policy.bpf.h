/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `conn_policy`: the capture policy the agent asks for a connection (sonde_event.h). */
#ifndef SONDE_MAPS_CONN_POLICY_BPF_H
#define SONDE_MAPS_CONN_POLICY_BPF_H

/*
 * struct sock address → struct sonde_policy_ask: how the agent wants the connection captured
 * from now on (the connection named: an ask that comes after the socket's address went to a
 * later connection is dropped). Written by the agent (a separate map: the conns entry's run counters belong to
 * the programs); read, folded into the connection's state and deleted by the socket I/O
 * programs at the next run start after the agent bumped conn_policy_gen (so that a run looks
 * here only when something was written since the connection last looked); deleted at the open
 * and the close of a connection too. Plain hash: entries live from an agent's write to the
 * connection's next run.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_POLICY_WRITES);
	__type(key, __u64);
	__type(value, struct sonde_policy_ask);
} conn_policy SEC(".maps");

#endif
