// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The connection table (conn.h): a hash by connection id, and an index by tuple that pairs the
 * two ends of a connection between two traced processes of this host. Addresses compare in
 * their IPv6 form (an IPv4 address as ::ffff:a.b.c.d), as one end may be a dual-stack socket.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "conn.h"

#define CONN_BUCKETS 16384
#define TUPLE_BUCKETS 16384

struct conn_table {
	struct conn *buckets[CONN_BUCKETS];
	struct conn *tuples[TUPLE_BUCKETS];
	uint64_t tuple_gen; /* bumped at every change of tuples[]: the peers found are stale */
	uint32_t max;
	struct conn_table_stats st;
};

struct conn_table *conn_table__new(uint32_t max_conns)
{
	struct conn_table *t = calloc(1, sizeof(*t));

	if (t)
		t->max = max_conns;
	return t;
}

void conn_table__free(struct conn_table *t)
{
	free(t);
}

struct conn *conn_table__find(const struct conn_table *t, uint64_t id)
{
	struct conn *c;

	for (c = t->buckets[id % CONN_BUCKETS]; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

struct conn *conn_table__add(struct conn_table *t, uint64_t id, uint32_t tgid)
{
	struct conn *c;

	if (t->st.open >= t->max) {
		t->st.dropped++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	c->tgid = tgid;
	c->next = t->buckets[id % CONN_BUCKETS];
	t->buckets[id % CONN_BUCKETS] = c;
	t->st.open++;
	t->st.total++;
	return c;
}

static void addr_v6(uint16_t family, const uint8_t *in, uint8_t out[16])
{
	if (family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, in, 4);
	} else {
		memcpy(out, in, 16);
	}
}

static unsigned int tuple_hash(const uint8_t l[16], uint16_t lport, const uint8_t r[16],
			       uint16_t rport)
{
	uint64_t w[4], h;

	memcpy(w, l, 16);
	memcpy(w + 2, r, 16);
	/* the ports and the low words (an IPv4 address) carry almost all the entropy */
	h = (w[1] ^ (w[3] << 1) ^ ((uint64_t)lport << 32 | rport) ^ w[0] ^ (w[2] >> 1)) *
	    0x9E3779B97F4A7C15ULL;
	return (unsigned int)((h ^ (h >> 29)) % TUPLE_BUCKETS);
}

static unsigned int conn_tuple_hash(const struct conn *c)
{
	uint8_t l[16], r[16];

	addr_v6(c->family, c->saddr, l);
	addr_v6(c->family, c->daddr, r);
	return tuple_hash(l, c->info.sport, r, c->info.dport);
}

static void tuple_del(struct conn_table *t, struct conn *c)
{
	struct conn **p = &t->tuples[conn_tuple_hash(c)];

	while (*p && *p != c)
		p = &(*p)->tnext;
	if (*p)
		*p = c->tnext;
	t->tuple_gen++;
}

void conn_table__remove(struct conn_table *t, struct conn *c)
{
	struct conn **p = &t->buckets[c->id % CONN_BUCKETS];

	if (c->info.have_tuple)
		tuple_del(t, c);
	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	t->st.open--;
}

/* The remote address as text; IPv4-mapped IPv6 peers are shown as IPv4, as users know them. */
static void peer_string(struct conn *c)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char *out = c->info.peer;

	if (c->family == AF_INET6 && !memcmp(c->daddr, mapped, 12))
		inet_ntop(AF_INET, c->daddr + 12, out, sizeof(c->info.peer));
	else
		inet_ntop(c->family == AF_INET6 ? AF_INET6 : AF_INET, c->daddr, out,
			  sizeof(c->info.peer));
	c->info.peer_len = (uint8_t)strlen(out);
}

void conn_table__set_tuple(struct conn_table *t, struct conn *c, uint16_t family,
			   const uint8_t saddr[16], const uint8_t daddr[16], uint16_t sport,
			   uint16_t dport)
{
	unsigned int b;

	if (c->info.have_tuple)
		tuple_del(t, c); /* announced again: re-index */
	c->family = family;
	memcpy(c->saddr, saddr, 16);
	memcpy(c->daddr, daddr, 16);
	c->info.sport = sport;
	c->info.dport = dport;
	c->info.have_tuple = true;
	peer_string(c);
	b = conn_tuple_hash(c);
	c->tnext = t->tuples[b];
	t->tuples[b] = c;
	t->tuple_gen++;
}

/*
 * Asked several times a span; kept in c until the index changes (a connection opens, closes or
 * is announced again), which on kept-alive connections is rare.
 */
struct conn *conn_table__peer(struct conn_table *t, struct conn *c)
{
	uint8_t l[16], r[16], pl[16], pr[16];
	struct conn *p;

	if (!c->info.have_tuple)
		return NULL;
	if (c->tpeer_gen == t->tuple_gen)
		return c->tpeer;
	c->tpeer_gen = t->tuple_gen;
	c->tpeer = NULL;
	addr_v6(c->family, c->saddr, l);
	addr_v6(c->family, c->daddr, r);
	for (p = t->tuples[tuple_hash(r, c->info.dport, l, c->info.sport)]; p; p = p->tnext) {
		if (p == c || p->info.sport != c->info.dport || p->info.dport != c->info.sport)
			continue;
		addr_v6(p->family, p->saddr, pl);
		addr_v6(p->family, p->daddr, pr);
		if (!memcmp(pl, r, 16) && !memcmp(pr, l, 16))
			return c->tpeer = p;
	}
	return NULL;
}

bool conn_is_local_peer(const struct conn *c)
{
	static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (c->family == AF_INET)
		return c->daddr[0] == 127 || !memcmp(c->daddr, c->saddr, 4);
	if (!memcmp(c->daddr, mapped, 12))
		return c->daddr[12] == 127 || !memcmp(c->daddr, c->saddr, 16);
	return !memcmp(c->daddr, v6_loop, 16) || !memcmp(c->daddr, c->saddr, 16);
}

void conn_table__for_each(struct conn_table *t, void (*fn)(void *ctx, struct conn *c), void *ctx)
{
	struct conn *c, *next;
	int i;

	for (i = 0; i < CONN_BUCKETS; i++)
		for (c = t->buckets[i]; c; c = next) {
			next = c->next;
			fn(ctx, c);
		}
}

void conn_table__stats(const struct conn_table *t, struct conn_table_stats *out)
{
	*out = t->st;
}
