// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One table of a fixed size, open addressing over a window of slots: an entry is found in the
 * WINDOW slots from its hash, and a new one takes a free slot there, else one older than
 * STALE_NS (a stream whose other half never came: a connection sonde joined late, a call that
 * failed before its headers went out), else the oldest of the window.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "go_streams.h"
#include "linker.h"

#define SLOTS 8192 /* power of two */
#define WINDOW 32
#define STALE_NS (10ULL * 1000000000ULL)
/* Goroutines that read server connections, with when they began (ROLE records). */
#define ROLES 4096 /* power of two */
#define ROLE_WINDOW 16

enum { KIND_SERVER = 1, KIND_CLIENT = 2 };

struct slot {
	uint32_t tgid;
	uint32_t stream;
	uint64_t io_g;
	uint64_t since;	     /* server: when io_g began to read the connection (0: not known) */
	uint8_t kind;	     /* 0: free */
	bool have_ids;	     /* server: its operation began */
	bool serving;	     /* server: the handler was given to the linker, not yet ended */
	uint64_t g;	     /* server: the handler goroutine; client: the one that asked */
	uint64_t ts;	     /* when the slot was last written */
	uint64_t start_ns;   /* server: when its operation began */
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

struct role {
	uint32_t tgid;
	uint64_t g;
	uint64_t since; /* 0: free */
};

struct go_streams {
	struct linker *linker;
	struct slot *slots;
	struct role *roles;
	struct go_streams_stats st;
};

struct go_streams *go_streams__new(struct linker *l)
{
	struct go_streams *gs = calloc(1, sizeof(*gs));

	if (!gs)
		return NULL;
	gs->slots = calloc(SLOTS, sizeof(*gs->slots));
	gs->roles = calloc(ROLES, sizeof(*gs->roles));
	if (!gs->slots || !gs->roles) {
		go_streams__free(gs);
		return NULL;
	}
	gs->linker = l;
	return gs;
}

void go_streams__free(struct go_streams *gs)
{
	if (!gs)
		return;
	free(gs->slots);
	free(gs->roles);
	free(gs);
}

static uint32_t hash(uint32_t tgid, uint64_t io_g, uint32_t stream, uint8_t kind)
{
	uint64_t h = io_g * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)tgid << 32 | stream) * 0xc2b2ae3d27d4eb4fULL;
	h ^= kind;
	h ^= h >> 29;
	return (uint32_t)h;
}

/*
 * A stream is known by its process, the goroutine that did its I/O, when that goroutine took
 * its role (since: several connections' streams share an id and, one after the other, their
 * accepting goroutine's g), its id and its kind. With span_id, the server stream whose
 * operation has that span, whatever its since.
 */
static struct slot *find_in(struct go_streams *gs, uint32_t tgid, uint64_t io_g, uint64_t since,
			    uint32_t stream, uint8_t kind, const uint8_t *span_id)
{
	uint32_t h = hash(tgid, io_g, stream, kind);
	struct slot *s;
	int i;

	for (i = 0; i < WINDOW; i++) {
		s = &gs->slots[(h + i) & (SLOTS - 1)];
		if (s->kind != kind || s->tgid != tgid || s->io_g != io_g || s->stream != stream)
			continue;
		if (span_id ? s->have_ids && !memcmp(s->span_id, span_id, 8) : s->since == since)
			return s;
	}
	return NULL;
}

static struct slot *find(struct go_streams *gs, uint32_t tgid, uint64_t io_g, uint64_t since,
			 uint32_t stream, uint8_t kind)
{
	return find_in(gs, tgid, io_g, since, stream, kind, NULL);
}

static struct slot *find_op(struct go_streams *gs, uint32_t tgid, uint64_t io_g, uint32_t stream,
			    const uint8_t span_id[8])
{
	return find_in(gs, tgid, io_g, 0, stream, KIND_SERVER, span_id);
}

/* The slot of this stream, made if new (its fields zero but the key); ts is now. */
static struct slot *take(struct go_streams *gs, uint32_t tgid, uint64_t io_g, uint64_t since,
			 uint32_t stream, uint8_t kind, uint64_t ts)
{
	uint32_t h = hash(tgid, io_g, stream, kind);
	struct slot *s = find(gs, tgid, io_g, since, stream, kind), *pick = NULL, *c;
	int i;

	if (s)
		return s;
	for (i = 0; i < WINDOW; i++) {
		c = &gs->slots[(h + i) & (SLOTS - 1)];
		if (!c->kind || c->ts + STALE_NS < ts) {
			pick = c;
			break;
		}
		if (!pick || c->ts < pick->ts)
			pick = c;
	}
	if (pick->kind && pick->ts + STALE_NS >= ts)
		gs->st.evicted++;
	memset(pick, 0, sizeof(*pick));
	pick->tgid = tgid;
	pick->io_g = io_g;
	pick->since = since;
	pick->stream = stream;
	pick->kind = kind;
	pick->ts = ts;
	return pick;
}

static struct role *role_find(struct go_streams *gs, uint32_t tgid, uint64_t g, bool make)
{
	uint32_t h = (uint32_t)((g ^ (uint64_t)tgid << 40) * 0x9e3779b97f4a7c15ULL >> 32);
	struct role *r, *oldest = NULL;
	int i;

	for (i = 0; i < ROLE_WINDOW; i++) {
		r = &gs->roles[(h + i) & (ROLES - 1)];
		if (r->since && r->tgid == tgid && r->g == g)
			return r;
		if (!oldest || r->since < oldest->since)
			oldest = r;
	}
	return make ? oldest : NULL;
}

void go_streams__role(struct go_streams *gs, uint32_t tgid, uint64_t g, uint64_t ts)
{
	struct role *r = role_find(gs, tgid, g, true);

	r->tgid = tgid;
	r->g = g;
	r->since = ts ? ts : 1;
}

/* When io_g began to read the connection it reads now; 0 if no ROLE record said. */
static uint64_t role_since(struct go_streams *gs, uint32_t tgid, uint64_t io_g)
{
	struct role *r = role_find(gs, tgid, io_g, false);

	return r ? r->since : 0;
}

static void start_serving(struct go_streams *gs, struct slot *s, uint64_t ts)
{
	linker__server_begin(gs->linker, s->tgid, s->g, ts > s->start_ns ? ts : s->start_ns,
			     s->trace_id, s->span_id);
	s->serving = true;
	gs->st.served++;
}

void go_streams__serve(struct go_streams *gs, uint32_t tgid, uint64_t g,
		       const struct go_stream_readers *r, uint32_t stream, uint64_t ts)
{
	struct slot *s;

	if (!g)
		return;
	/* a goroutine runs one handler at a time: the one it ran before has returned (its
	 * response may not be written yet), and the goroutine is reused for this one */
	linker__thread_done(gs->linker, tgid, g, ts);
	if (!r->io_g) {
		gs->st.unread++; /* a connection accepted before the uprobes: its reader unknown */
		return;
	}
	s = r->first_g ? find(gs, tgid, r->first_g, r->first_since, stream, KIND_SERVER) : NULL;
	if (!s) /* read by the reader; or its operation is yet to come */
		s = take(gs, tgid, r->io_g, r->io_since, stream, KIND_SERVER, ts);
	s->g = g;
	if (s->have_ids && !s->serving)
		start_serving(gs, s, ts);
}

void go_streams__server_begin(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
			      uint32_t stream, uint64_t start_ns, const uint8_t trace_id[16],
			      const uint8_t span_id[8])
{
	struct slot *s =
		take(gs, tgid, io_g, role_since(gs, tgid, io_g), stream, KIND_SERVER, start_ns);

	if (s->have_ids) /* the stream id of an earlier operation: a new one */
		memset(&s->have_ids, 0, sizeof(*s) - offsetof(struct slot, have_ids));
	s->ts = start_ns;
	s->have_ids = true;
	s->start_ns = start_ns;
	memcpy(s->trace_id, trace_id, 16);
	memcpy(s->span_id, span_id, 8);
	if (s->g)
		start_serving(gs, s, start_ns);
}

void go_streams__server_retrace(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
				uint32_t stream, const uint8_t span_id[8],
				const uint8_t trace_id[16])
{
	struct slot *s = find_op(gs, tgid, io_g, stream, span_id);

	if (!s)
		return;
	memcpy(s->trace_id, trace_id, 16);
	if (s->serving)
		linker__server_retrace(gs->linker, tgid, s->g, s->span_id, trace_id);
}

void go_streams__server_answered(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
				 uint32_t stream, const uint8_t span_id[8], uint64_t ts)
{
	struct slot *s = find_op(gs, tgid, io_g, stream, span_id);

	if (s && s->serving) {
		linker__server_end(gs->linker, tgid, s->g, span_id, ts);
		s->serving = false;
	}
}

void go_streams__server_done(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
			     uint32_t stream, const uint8_t span_id[8], uint64_t ts)
{
	struct slot *s;

	go_streams__server_answered(gs, tgid, io_g, stream, span_id, ts);
	s = find_op(gs, tgid, io_g, stream, span_id);
	if (s)
		s->kind = 0;
}

void go_streams__open(struct go_streams *gs, uint32_t tgid, uint64_t g, uint64_t io_g,
		      uint32_t stream, uint64_t ts)
{
	struct slot *s;

	if (!g || !io_g)
		return;
	s = take(gs, tgid, io_g, 0, stream, KIND_CLIENT, ts);
	s->g = g;
	s->ts = ts;
}

uint64_t go_streams__owner(struct go_streams *gs, uint32_t tgid, uint64_t io_g, uint32_t stream)
{
	struct slot *s = find(gs, tgid, io_g, 0, stream, KIND_CLIENT);
	uint64_t g;

	if (!s)
		return 0;
	g = s->g;
	s->kind = 0;
	gs->st.opened++;
	return g;
}

void go_streams__stats(const struct go_streams *gs, struct go_streams_stats *out)
{
	*out = gs->st;
}
