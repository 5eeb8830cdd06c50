/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Address ranges (--tcp-option-to): IPv4 and IPv6 CIDRs in one 128-bit space, IPv4 as
 * ::ffff:a.b.c.d (prefix 96 + its own), the form of the kernel's LPM trie keys
 * (struct sonde_cidr_key).
 */
#ifndef SONDE_CIDR_H
#define SONDE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr {
	uint8_t addr[16]; /* bits past the prefix are zero */
	uint8_t prefix;	  /* of the 128 bits */
};

/*
 * Adds the ranges of a comma list to out (n of max used): CIDRs (10.0.0.0/8, fd00::/8), bare
 * addresses (a /32 or /128), and "private": the RFC 1918 ranges, 100.64.0.0/10 (shared address
 * space, used by some clusters) and fc00::/7 (unique local). "all" sets *all; "cluster" sets
 * *cluster (the ranges of the Kubernetes cluster, found later; refused when cluster is NULL).
 * 0, or -1 with what is wrong in err.
 */
int cidr__parse_list(const char *s, struct cidr *out, int max, int *n, bool *all, bool *cluster,
		     char *err, size_t errlen);
/* addr (16 bytes, IPv4 mapped) is in c. */
bool cidr__contains(const struct cidr *c, const uint8_t addr[16]);
/* "10.1.2.3", "fd00::1": an address (16 bytes), IPv4 mapped ones as IPv4. */
void cidr__format_addr(const uint8_t addr[16], char *out, size_t len);
/* "10.0.0.0/8", "fd00::/8": IPv4 mapped ranges as IPv4. */
void cidr__format(const struct cidr *c, char *out, size_t len);

#endif /* SONDE_CIDR_H */
