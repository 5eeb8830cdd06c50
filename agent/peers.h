/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Another sonde on this host. Two agents coexist: each exports its own spans (so every span
 * comes twice), neither traces the other's traffic (the assembler skips processes named
 * sonde), and header injection is never doubled (a request that already carries a
 * traceparent is left alone). Starting a second one is most likely a mistake: it is said.
 */
#ifndef SONDE_PEERS_H
#define SONDE_PEERS_H

/* How many BPF programs of another sonde are loaded now (call before loading ours). */
int peers__count_programs(void);

#endif /* SONDE_PEERS_H */
