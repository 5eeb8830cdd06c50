// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Address ranges in one 128-bit space, IPv4 mapped (cidr.h). */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const private_ranges[] = {
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
};

static bool is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t head[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return !memcmp(a, head, sizeof(head));
}

/* Zero the bits past the prefix. */
static void cidr_mask(struct cidr *c)
{
	int i;

	for (i = 0; i < 16; i++) {
		int keep = c->prefix - i * 8;

		if (keep <= 0)
			c->addr[i] = 0;
		else if (keep < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* One "ADDR[/LEN]"; 0, or -1. */
static int cidr_parse_one(const char *tok, struct cidr *c)
{
	char buf[64], *slash, *end;
	unsigned long len;
	bool v4;

	if (strlen(tok) >= sizeof(buf))
		return -1;
	strcpy(buf, tok);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(c, 0, sizeof(*c));
	v4 = inet_pton(AF_INET, buf, &c->addr[12]) == 1;
	if (v4) {
		c->addr[10] = c->addr[11] = 0xff;
	} else if (inet_pton(AF_INET6, buf, c->addr) != 1) {
		return -1;
	}
	len = v4 ? 32 : 128;
	if (slash) {
		if (!slash[1] || slash[1] == '-' || slash[1] == '+')
			return -1;
		len = strtoul(slash + 1, &end, 10);
		if (*end || len > (v4 ? 32UL : 128UL))
			return -1;
	}
	c->prefix = (uint8_t)(v4 ? 96 + len : len);
	cidr_mask(c);
	return 0;
}

static int cidr_add(struct cidr *out, int max, int *n, const char *tok, char *err, size_t errlen)
{
	struct cidr c;
	int i;

	if (cidr_parse_one(tok, &c)) {
		snprintf(err, errlen, "'%s' is not an address range (10.0.0.0/8, fd00::/8, "
				      "private, cluster or all)", tok);
		return -1;
	}
	for (i = 0; i < *n; i++)
		if (out[i].prefix == c.prefix && !memcmp(out[i].addr, c.addr, 16))
			return 0; /* listed twice: once is enough */
	if (*n >= max) {
		snprintf(err, errlen, "more than %d ranges", max);
		return -1;
	}
	out[(*n)++] = c;
	return 0;
}

int cidr__parse_list(const char *s, struct cidr *out, int max, int *n, bool *all, bool *cluster,
		     char *err, size_t errlen)
{
	char *copy = strdup(s), *tok, *save = NULL;
	int rc = 0;
	size_t i;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	tok = strtok_r(copy, ",", &save);
	if (!tok) {
		snprintf(err, errlen, "an empty list");
		rc = -1;
	}
	for (; tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			*all = true;
		} else if (cluster && !strcmp(tok, "cluster")) {
			*cluster = true;
		} else if (!strcmp(tok, "private")) {
			for (i = 0; i < sizeof(private_ranges) / sizeof(private_ranges[0]) && !rc; i++)
				rc = cidr_add(out, max, n, private_ranges[i], err, errlen);
		} else {
			rc = cidr_add(out, max, n, tok, err, errlen);
		}
	}
	free(copy);
	return rc;
}

bool cidr__contains(const struct cidr *c, const uint8_t addr[16])
{
	struct cidr a;

	memcpy(a.addr, addr, 16);
	a.prefix = c->prefix;
	cidr_mask(&a);
	return !memcmp(a.addr, c->addr, 16);
}

void cidr__format_addr(const uint8_t addr[16], char *out, size_t len)
{
	if (!inet_ntop(is_v4_mapped(addr) ? AF_INET : AF_INET6,
		       is_v4_mapped(addr) ? addr + 12 : addr, out, len))
		snprintf(out, len, "?");
}

void cidr__format(const struct cidr *c, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool v4 = is_v4_mapped(c->addr) && c->prefix >= 96;

	if (v4)
		cidr__format_addr(c->addr, ip, sizeof(ip));
	else /* a range wider than the IPv4-mapped block stays IPv6 */
		inet_ntop(AF_INET6, c->addr, ip, sizeof(ip));
	snprintf(out, len, "%s/%d", ip, v4 ? c->prefix - 96 : c->prefix);
}
