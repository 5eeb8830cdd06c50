// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Span and resource attribute storage, resource reference counting, and the random trace and
 * span ids. Ids come from a splitmix64 generator seeded from getrandom(): ids must be unique and
 * unpredictable enough to never collide across hosts, but they are not secrets, so a fast
 * generator with a strong seed is the right trade.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sonde_event.h"
#include "span.h"

/*
 * Store a string value in an owner's string area, NUL-terminated although readers must use the
 * length: the terminator costs one byte and turns an accidental "%s" into a harmless read.
 */
static int put_str(char *area, uint16_t *used, size_t cap, const char *val, size_t len,
		   uint16_t *off)
{
	if (len > UINT16_MAX || *used + len + 1 > cap)
		return -ENOSPC;
	memcpy(area + *used, val, len);
	area[*used + len] = '\0';
	*off = *used;
	*used += len + 1;
	return 0;
}

/* The slot for key: the existing one (keys must stay unique in OTLP) or a new one. */
static struct span_attr *attr_slot(struct span_attr *attrs, uint16_t *n, size_t max,
				   const char *key)
{
	uint16_t i;

	/* Keys are mostly the same literals: the pointer, then the first byte, decide cheaply. */
	for (i = 0; i < *n; i++)
		if (attrs[i].key == key || (attrs[i].key[0] == key[0] && !strcmp(attrs[i].key, key)))
			return &attrs[i];
	if (*n >= max)
		return NULL;
	attrs[*n] = (struct span_attr){ .key = key };
	return &attrs[(*n)++];
}

static int set_str(struct span_attr *attrs, uint16_t *n, size_t max, char *area, uint16_t *used,
		   size_t cap, const char *key, const char *val, size_t len)
{
	struct span_attr *a;
	uint16_t off;
	int err;

	if (!key || (!val && len))
		return -EINVAL;
	/* Find the slot first so a full attribute table does not waste string space. */
	a = attr_slot(attrs, n, max, key);
	if (!a)
		return -ENOSPC;
	err = put_str(area, used, cap, val ? val : "", len, &off);
	if (err) {
		/* A brand-new slot with no value must not stay behind. */
		if (a == &attrs[*n - 1] && !a->type)
			(*n)--;
		return err;
	}
	a->type = ATTR_STR;
	a->off = off;
	a->len = len;
	a->i = 0;
	return 0;
}

static int set_int(struct span_attr *attrs, uint16_t *n, size_t max, const char *key,
		   int64_t val)
{
	struct span_attr *a;

	if (!key)
		return -EINVAL;
	a = attr_slot(attrs, n, max, key);
	if (!a)
		return -ENOSPC;
	a->type = ATTR_INT;
	a->off = 0;
	a->len = 0;
	a->i = val;
	return 0;
}

static const struct span_attr *find_attr(const struct span_attr *attrs, uint16_t n,
					 const char *key)
{
	uint16_t i;

	for (i = 0; i < n; i++)
		if (attrs[i].key == key || strcmp(attrs[i].key, key) == 0)
			return &attrs[i];
	return NULL;
}

int span__set_str(struct span *s, const char *key, const char *val, size_t len)
{
	return set_str(s->attrs, &s->n_attrs, SPAN_MAX_ATTRS, s->str, &s->str_used,
		       SPAN_STR_BYTES, key, val, len);
}

int span__set_trace_state(struct span *s, const char *val, size_t len)
{
	if (!len || len > (size_t)(SPAN_STR_BYTES - s->str_used))
		return len ? -ENOSPC : 0;
	memcpy(s->str + s->str_used, val, len);
	s->trace_state_off = s->str_used;
	s->trace_state_len = (uint16_t)len;
	s->str_used += (uint16_t)len;
	return 0;
}

int span__set_cstr(struct span *s, const char *key, const char *val)
{
	return span__set_str(s, key, val, val ? strlen(val) : 0);
}

int span__add_str(struct span *s, const char *key, const char *val, size_t len)
{
	struct span_attr *a;
	uint16_t off;

	if (!key || (!val && len))
		return -EINVAL;
	if (s->n_attrs >= SPAN_MAX_ATTRS)
		return -ENOSPC;
	if (put_str(s->str, &s->str_used, SPAN_STR_BYTES, val ? val : "", len, &off))
		return -ENOSPC;
	a = &s->attrs[s->n_attrs++];
	*a = (struct span_attr){ .key = key, .type = ATTR_STR, .off = off, .len = (uint16_t)len };
	return 0;
}

int span__add_cstr(struct span *s, const char *key, const char *val)
{
	return span__add_str(s, key, val, val ? strlen(val) : 0);
}

int span__add_int(struct span *s, const char *key, int64_t val)
{
	if (!key)
		return -EINVAL;
	if (s->n_attrs >= SPAN_MAX_ATTRS)
		return -ENOSPC;
	s->attrs[s->n_attrs++] = (struct span_attr){ .key = key, .type = ATTR_INT, .i = val };
	return 0;
}

int span__set_int(struct span *s, const char *key, int64_t val)
{
	return set_int(s->attrs, &s->n_attrs, SPAN_MAX_ATTRS, key, val);
}

const struct span_attr *span__find_attr(const struct span *s, const char *key)
{
	return find_attr(s->attrs, s->n_attrs, key);
}

struct resource *resource__new(uint32_t pid)
{
	struct resource *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->refcnt = 1;
	r->pid = pid;
	return r;
}

int resource__set_str(struct resource *r, const char *key, const char *val, size_t len)
{
	return set_str(r->attrs, &r->n_attrs, RESOURCE_MAX_ATTRS, r->str, &r->str_used,
		       RESOURCE_STR_BYTES, key, val, len);
}

int resource__set_cstr(struct resource *r, const char *key, const char *val)
{
	return resource__set_str(r, key, val, val ? strlen(val) : 0);
}

int resource__set_int(struct resource *r, const char *key, int64_t val)
{
	return set_int(r->attrs, &r->n_attrs, RESOURCE_MAX_ATTRS, key, val);
}

const struct span_attr *resource__find_attr(const struct resource *r, const char *key)
{
	return find_attr(r->attrs, r->n_attrs, key);
}

struct resource *resource__get(struct resource *r)
{
	if (r)
		r->refcnt++;
	return r;
}

void resource__put(struct resource *r)
{
	if (r && --r->refcnt == 0)
		free(r);
}

/* splitmix64 (Steele, Lea, Flood 2014): each output is a bijective mix of a Weyl sequence. */
static __thread uint64_t rng_state;
static __thread bool rng_seeded;

/* A forked child must not repeat its parent's ids: it reseeds (the agent itself never forks). */
static void rng_forget_seed(void)
{
	rng_seeded = false;
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, rng_forget_seed);
}

static uint64_t rng_next(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint64_t z;

	if (!rng_seeded) {
		uint64_t seed = 0;

		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
			/* Early boot without entropy: still unique per process and instant. */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
			       ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&seed;
		}
		rng_state ^= seed;
		rng_seeded = true;
		pthread_once(&once, register_atfork);
	}
	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_id(uint8_t *id, size_t len)
{
	do {
		size_t i;

		for (i = 0; i < len; i += 8) {
			uint64_t v = rng_next();

			memcpy(id + i, &v, len - i < 8 ? len - i : 8);
		}
	} while (span__id_is_zero(id, len)); /* all zero means "invalid" in W3C and OTLP */
}

void span__new_trace_id(uint8_t id[16])
{
	fill_id(id, 16);
}

void span__new_span_id(uint8_t id[8])
{
	fill_id(id, 8);
}

bool span__id_is_zero(const uint8_t *id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (id[i])
			return false;
	return true;
}

bool span__trace_sampled(const uint8_t trace_id[16], uint64_t threshold)
{
	return sonde_trace_sampled(trace_id, threshold);
}
