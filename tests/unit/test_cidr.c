/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for address ranges (agent/cidr.c, --tcp-option-to): IPv4 and IPv6 in one space,
 * the bits past a prefix cleared, "private" and "all", duplicates, the limit, and the reasons
 * given for what is refused.
 */
#include <arpa/inet.h>
#include <stdlib.h>

#include "cidr.h"
#include "unit.h"

static struct cidr list[8];
static int n;
static bool all, cluster;

static int parse(const char *s, char *err, size_t len)
{
	n = 0;
	all = false;
	cluster = false;
	return cidr__parse_list(s, list, 8, &n, &all, &cluster, err, len);
}

/* The address of "1.2.3.4" or "fd00::1", IPv4 mapped. */
static const uint8_t *addr(const char *s)
{
	static uint8_t a[16];

	memset(a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, a + 12) == 1)
		a[10] = a[11] = 0xff;
	else
		CHECK(inet_pton(AF_INET6, s, a) == 1);
	return a;
}

static const char *fmt(int i)
{
	static char out[64];

	cidr__format(&list[i], out, sizeof(out));
	return out;
}

TEST(ranges_and_addresses)
{
	char err[128];

	CHECK_EQ_INT(parse("10.1.0.0/16,fd00::/8,192.168.7.9", err, sizeof(err)), 0);
	CHECK_EQ_INT(n, 3);
	CHECK(!all);
	CHECK_STR(fmt(0), "10.1.0.0/16");
	CHECK_STR(fmt(1), "fd00::/8");
	CHECK_STR(fmt(2), "192.168.7.9/32");
	CHECK_EQ_INT(list[0].prefix, 96 + 16);
	CHECK(cidr__contains(&list[0], addr("10.1.255.3")));
	CHECK(!cidr__contains(&list[0], addr("10.2.0.1")));
	CHECK(cidr__contains(&list[1], addr("fdab::1")));
	CHECK(!cidr__contains(&list[1], addr("fe80::1")));
	CHECK(cidr__contains(&list[2], addr("192.168.7.9")));
	CHECK(!cidr__contains(&list[2], addr("192.168.7.8")));
	/* an IPv4 range never holds an IPv6 address that is not IPv4 mapped */
	CHECK(!cidr__contains(&list[0], addr("::a01:1")));
}

TEST(bits_past_the_prefix_are_cleared)
{
	char err[128];

	CHECK_EQ_INT(parse("10.1.2.3/8,fd12:3456::9/20,172.31.0.0/12", err, sizeof(err)), 0);
	CHECK_STR(fmt(0), "10.0.0.0/8");
	CHECK_STR(fmt(1), "fd12:3000::/20");
	CHECK_STR(fmt(2), "172.16.0.0/12");
	CHECK_EQ_INT(parse("0.0.0.0/0", err, sizeof(err)), 0);
	CHECK_STR(fmt(0), "0.0.0.0/0");
	CHECK(cidr__contains(&list[0], addr("203.0.113.9")));
	CHECK(!cidr__contains(&list[0], addr("2001:db8::1"))); /* every IPv4 address only */
}

TEST(private_and_all)
{
	char err[128];

	CHECK_EQ_INT(parse("private", err, sizeof(err)), 0);
	CHECK_EQ_INT(n, 5);
	CHECK(!all);
	CHECK_STR(fmt(0), "10.0.0.0/8");
	CHECK_STR(fmt(1), "172.16.0.0/12");
	CHECK_STR(fmt(2), "192.168.0.0/16");
	CHECK_STR(fmt(3), "100.64.0.0/10");
	CHECK_STR(fmt(4), "fc00::/7");
	/* named again, and a range inside: each range once */
	CHECK_EQ_INT(parse("private,10.0.0.0/8,private", err, sizeof(err)), 0);
	CHECK_EQ_INT(n, 5);
	CHECK_EQ_INT(parse("all", err, sizeof(err)), 0);
	CHECK(all && n == 0);
}

static void refused(const char *s, const char *why)
{
	char err[128] = "";

	CHECK_EQ_INT(parse(s, err, sizeof(err)), -1);
	if (!strstr(err, why)) {
		fprintf(stderr, "%s: '%s' does not say '%s'\n", s, err, why);
		CHECK(0);
	}
}

TEST(refusals)
{
	refused("", "an empty list");
	refused(",", "an empty list");
	refused("10.0.0.0/33", "'10.0.0.0/33' is not an address range");
	refused("fd00::/129", "is not an address range");
	refused("10.0.0.0/", "is not an address range");
	refused("10.0.0.0/-1", "is not an address range");
	refused("10.0.0.0/8x", "is not an address range");
	refused("10.0.0/8", "is not an address range");
	refused("clusters",
		"'clusters' is not an address range (10.0.0.0/8, fd00::/8, private, cluster or all)");
	refused("10.0.0.0/8 10.1.0.0/16", "is not an address range");
	refused("1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8,6.0.0.0/8,7.0.0.0/8,"
		"8.0.0.0/8,9.0.0.0/8", "more than 8 ranges");
}

/* "cluster": the Kubernetes cluster's ranges, found at start; with others, or where the
 * caller takes none. */
TEST(cluster_keyword)
{
	char err[128] = "";

	CHECK_EQ_INT(parse("cluster", err, sizeof(err)), 0);
	CHECK(cluster && !all);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(parse("192.168.1.0/24,cluster", err, sizeof(err)), 0);
	CHECK(cluster);
	CHECK_EQ_INT(n, 1);
	n = 0;
	CHECK_EQ_INT(cidr__parse_list("cluster", list, 8, &n, &all, NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "'cluster' is not an address range") != NULL);
}

int main(void)
{
	RUN(ranges_and_addresses);
	RUN(bits_past_the_prefix_are_cleared);
	RUN(private_and_all);
	RUN(cluster_keyword);
	RUN(refusals);
	UNIT_DONE();
}
