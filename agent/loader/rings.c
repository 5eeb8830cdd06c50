// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The ring buffers and the order of their records. One ring per CPU, so that CPUs never contend
 * for one ring's lock; each poll drains every ring into one batch and hands it on in timestamp
 * order (records of one connection can sit in several rings when its threads move between
 * CPUs), holding back the records too new to be sure no older one is still being written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "loader_impl.h"

/* One ring per CPU, created before load: the first is also the template of the outer map. */
int rings__create(struct loader *ld, uint32_t ring_bytes)
{
	int fd;

	ld->ring_fds = calloc(ld->n_cpus, sizeof(int));
	if (!ld->ring_fds)
		return -ENOMEM;
	while (ld->n_rings < ld->n_cpus) {
		fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sonde_ring", 0, 0, ring_bytes, NULL);
		if (fd < 0)
			return -errno;
		ld->ring_fds[ld->n_rings++] = fd;
	}
	bpf_map__set_max_entries(ld->skel->maps.rings, ld->n_cpus);
	return bpf_map__set_inner_map_fd(ld->skel->maps.rings, ld->ring_fds[0]);
}

static int on_record(void *ctx, void *data, size_t size);

/* After load: every CPU's ring in the outer map, and one reader over all of them. */
int rings__open(struct loader *ld)
{
	int outer = bpf_map__fd(ld->skel->maps.rings), err;
	uint32_t i;

	for (i = 0; i < (uint32_t)ld->n_rings; i++)
		if (bpf_map_update_elem(outer, &i, &ld->ring_fds[i], BPF_ANY))
			return -errno;
	ld->rb = ring_buffer__new(ld->ring_fds[0], on_record, ld, NULL);
	if (!ld->rb)
		return -errno;
	for (i = 1; i < (uint32_t)ld->n_rings; i++) {
		err = ring_buffer__add(ld->rb, ld->ring_fds[i], on_record, ld);
		if (err)
			return err;
	}
	return 0;
}

void rings__free(struct loader *ld)
{
	int i;

	ring_buffer__free(ld->rb);
	for (i = 0; i < ld->n_rings; i++)
		close(ld->ring_fds[i]);
	free(ld->ring_fds);
	free(ld->batch.arena);
	free(ld->batch.recs);
	free(ld->batch.carry);
	free(ld->batch.recs_tmp);
	free(ld->batch.runs);
}

static int batch_append(struct loader *ld, const void *data, size_t keep);

static int on_record(void *ctx, void *data, size_t size)
{
	struct loader *ld = ctx;
	const struct sonde_event_head *h = data;
	size_t keep = size;

	if (size < sizeof(*h))
		return 0;
	/*
	 * A program start needs no time order: it is handed on as the rings are read, outside
	 * the batch, so that it neither waits for the batch nor counts as traffic (a quiet agent
	 * stays quiet on a host that starts programs all the time).
	 */
	if (h->kind == SONDE_EV_EXEC) {
		if (ld->exec_cb && size >= sizeof(struct sonde_exec_event))
			ld->exec_cb(ld->exec_ctx, data);
		return 0;
	}
	/* Keep only the payload that was captured, not the whole fixed-size reservation. */
	if (h->kind == SONDE_EV_DATA && size >= offsetof(struct sonde_data_event, payload)) {
		const struct sonde_data_event *d = data;
		size_t max = d->walk_flags & SONDE_WALK_ON	   ? SONDE_FRAMES_MAX
			     : d->walk_flags & SONDE_WALK_GATHER ? SONDE_STREAM_MAX
								 : SONDE_PAYLOAD_MAX;
		size_t cap = d->cap_len > max ? max : d->cap_len;

		/* The context lines a head search found follow the payload. */
		size_t lines = d->walk_flags & (SONDE_WALK_ON | SONDE_WALK_GATHER) ||
					       cap < d->cap_len
				       ? 0
				       : d->ctx_len;

		keep = offsetof(struct sonde_data_event, payload) + cap +
		       (lines > SONDE_CTX_LINES_MAX ? SONDE_CTX_LINES_MAX : lines);
		if (keep > size)
			keep = size;
	}
	return batch_append(ld, data, keep);
}

/* Copy one record (keep bytes, a sonde_event_head first) into the batch. */
static int batch_append(struct loader *ld, const void *data, size_t keep)
{
	struct ring_batch *b = &ld->batch;
	const struct sonde_event_head *h = data;
	struct batch_rec *r;

	if (b->arena_len + keep > b->arena_cap) {
		size_t cap = b->arena_cap ? b->arena_cap * 2 : 1 << 20;
		uint8_t *a;

		while (cap < b->arena_len + keep)
			cap *= 2;
		a = realloc(b->arena, cap);
		if (!a)
			return -ENOMEM;
		b->arena = a;
		b->arena_cap = cap;
	}
	if (b->n_recs == b->recs_cap) {
		size_t cap = b->recs_cap ? b->recs_cap * 2 : 4096;
		struct batch_rec *n = realloc(b->recs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		b->recs = n;
		b->recs_cap = cap;
		/* the merge space follows at the next sort */
		free(b->recs_tmp);
		free(b->runs);
		b->recs_tmp = NULL;
		b->runs = NULL;
	}
	memcpy(b->arena + b->arena_len, data, keep);
	r = &b->recs[b->n_recs];
	r->ts = h->ts_ns;
	r->off = b->arena_len;
	r->size = keep;
	r->order = b->n_recs;
	b->n_recs++;
	b->arena_len += (keep + 7) & ~7UL;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct batch_rec *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order);
}

/* A natural merge (loader.h): the batch is nearly sorted, and qsort's log n passes cost more. */
void loader__sort_batch(struct batch_rec *recs, size_t n, struct batch_rec *tmp, size_t *runs)
{
	struct batch_rec *src = recs, *dst, *t;
	size_t n_runs = 0, i, r, w;

	for (i = 1; i < n && src[i - 1].ts <= src[i].ts; i++)
		;
	if (i >= n)
		return;
	if (!tmp || !runs) {
		qsort(src, n, sizeof(*src), rec_cmp);
		return;
	}
	runs[n_runs++] = 0;
	for (i = 1; i < n; i++)
		if (src[i].ts < src[i - 1].ts)
			runs[n_runs++] = i;
	if (n_runs > n / 4) {
		qsort(src, n, sizeof(*src), rec_cmp); /* no order to speak of */
		return;
	}
	runs[n_runs] = n;
	dst = tmp;
	while (n_runs > 1) {
		for (r = 0, w = 0; r < n_runs; r += 2) {
			size_t a = runs[r], am = runs[r + 1], b = am, bm = r + 2 <= n_runs ? runs[r + 2] : am,
			       o = a;

			if (r + 1 == n_runs) {
				/* an odd run out: copied as it is */
				memcpy(dst + a, src + a, (runs[r + 1] - a) * sizeof(*src));
				runs[w++] = a;
				continue;
			}
			while (a < am && b < bm)
				dst[o++] = src[b].ts < src[a].ts ? src[b++] : src[a++];
			memcpy(dst + o, src + a, (am - a) * sizeof(*src));
			o += am - a;
			memcpy(dst + o, src + b, (bm - b) * sizeof(*src));
			runs[w++] = runs[r];
		}
		runs[w] = n;
		n_runs = w;
		t = src;
		src = dst;
		dst = t;
	}
	if (src != recs)
		memcpy(recs, src, n * sizeof(*src));
}

static void sort_recs(struct loader *ld)
{
	struct ring_batch *b = &ld->batch;
	if (!b->recs_tmp || !b->runs) {
		free(b->recs_tmp);
		free(b->runs);
		b->recs_tmp = malloc(b->recs_cap * sizeof(*b->recs_tmp));
		b->runs = malloc((b->recs_cap + 1) * sizeof(*b->runs));
	}
	loader__sort_batch(b->recs, b->n_recs, b->recs_tmp, b->runs);
}

/* What a batch keeps between drains at most, when it uses little of it. */
#define ARENA_KEEP (1u << 20)
#define RECS_KEEP 4096

/* Keep records [from, n_recs) of the batch for the next one: sizes and bytes, 8-aligned. */
static int carry_tail(struct loader *ld, size_t from)
{
	struct ring_batch *b = &ld->batch;
	size_t i, need = 0, at = 0;
	uint8_t *c;

	for (i = from; i < b->n_recs; i++)
		need += 8 + ((b->recs[i].size + 7) & ~7UL);
	if (need > b->carry_cap) {
		c = realloc(b->carry, need);
		if (!c)
			return -ENOMEM;
		b->carry = c;
		b->carry_cap = need;
	}
	for (i = from; i < b->n_recs; i++) {
		uint64_t size = b->recs[i].size;

		memcpy(b->carry + at, &size, 8);
		memcpy(b->carry + at + 8, b->arena + b->recs[i].off, size);
		at += 8 + ((size + 7) & ~7UL);
	}
	b->carry_len = at;
	return 0;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* How long after its stamp a record may still be uncommitted in its ring (see loader__poll). */
#define COMMIT_SLACK_NS 5000000ULL

/*
 * Start a new batch: what the last drain found newer than itself goes first into this one, and
 * after a burst the space goes back. A burst (a drain after records waited for export room, or
 * after the loop was kept off the CPU) should not pin a large batch for the agent's whole life:
 * once a batch uses under a quarter of the space, it is freed (main() keeps large blocks
 * mmapped, so free() returns them to the kernel).
 */
static int batch_restart(struct loader *ld)
{
	struct ring_batch *b = &ld->batch;
	size_t at;
	int err;

	err = carry_tail(ld, b->n_ready);
	if (err)
		return err;
	if (b->arena_cap > ARENA_KEEP && b->arena_len < b->arena_cap / 4) {
		free(b->arena);
		b->arena = NULL;
		b->arena_cap = 0;
	}
	if (b->recs_cap > RECS_KEEP && b->n_recs < b->recs_cap / 4) {
		free(b->recs);
		free(b->recs_tmp);
		free(b->runs);
		b->recs = NULL;
		b->recs_tmp = NULL;
		b->runs = NULL;
		b->recs_cap = 0;
	}
	b->n_recs = 0;
	b->next_rec = 0;
	b->n_ready = 0;
	b->arena_len = 0;
	for (at = 0; at < b->carry_len;) {
		uint64_t size;

		memcpy(&size, b->carry + at, 8);
		err = batch_append(ld, b->carry + at + 8, size);
		if (err)
			return err;
		at += 8 + ((size + 7) & ~7UL);
	}
	b->carry_len = 0;
	return 0;
}

int loader__poll(struct loader *ld, size_t budget, bool all)
{
	struct ring_batch *b = &ld->batch;
	uint64_t cutoff;
	size_t i, end;
	int err;

	if (all)
		b->n_ready = b->n_recs;
	if (b->next_rec >= b->n_ready) {
		err = batch_restart(ld);
		if (err)
			return err;
		/*
		 * The rings are read one after the other, and a CPU goes on writing into a ring
		 * while the others are read (longer when the loop is preempted meanwhile). A record
		 * stamped after the drain started may have older ones still unread in another ring:
		 * it waits for the next drain, so that no record is ever delivered after a newer one
		 * of another CPU. A program stamps its record when it starts and commits it a few
		 * microseconds later, or later still when interrupts and their network softirq
		 * (up to 2 ms a round by default) come in between: until then the ring reads stop
		 * before it. So records stamped in the last COMMIT_SLACK_NS before the drain wait
		 * too, for the older ones still being written.
		 */
		cutoff = all ? UINT64_MAX : monotonic_ns() - COMMIT_SLACK_NS;
		err = ld->consume ? ld->consume(ld, ld->consume_arg) : ring_buffer__consume(ld->rb);
		if (err < 0)
			return err;
		if (b->n_recs > 1)
			sort_recs(ld);
		for (b->n_ready = b->n_recs; b->n_ready && b->recs[b->n_ready - 1].ts > cutoff;)
			b->n_ready--;
	}
	end = b->n_ready - b->next_rec > budget ? b->next_rec + budget : b->n_ready;
	for (i = b->next_rec; i < end; i++)
		ld->cb(ld->cb_ctx, b->arena + b->recs[i].off, b->recs[i].size);
	err = (int)(end - b->next_rec);
	b->next_rec = end;
	return err;
}

size_t loader__pending(const struct loader *ld)
{
	const struct ring_batch *b = &ld->batch;
	return b->n_ready - b->next_rec;
}

struct loader *loader__new_for_test(loader_event_cb cb, void *ctx,
				    int (*consume)(struct loader *ld, void *arg), void *arg)
{
	struct loader *ld = calloc(1, sizeof(*ld));

	if (!ld)
		return NULL;
	ld->cb = cb;
	ld->cb_ctx = ctx;
	ld->consume = consume;
	ld->consume_arg = arg;
	return ld;
}

int loader__test_record(struct loader *ld, const void *rec, size_t size)
{
	return on_record(ld, (void *)rec, size);
}

size_t loader__carried(const struct loader *ld)
{
	const struct ring_batch *b = &ld->batch;
	return b->n_recs - b->n_ready;
}

void loader__set_quiet(struct loader *ld, bool quiet)
{
	if (ld->skel && ld->skel->bss)
		__atomic_store_n(&ld->skel->bss->agent_quiet, quiet ? 1u : 0u, __ATOMIC_RELEASE);
}

void loader__set_exec_cb(struct loader *ld, loader_exec_cb cb, void *ctx)
{
	ld->exec_cb = cb;
	ld->exec_ctx = ctx;
}

int loader__rings(const struct loader *ld, const int **fds)
{
	*fds = ld->ring_fds;
	return ld->n_rings;
}

int loader__epoll_fd(const struct loader *ld)
{
	return ring_buffer__epoll_fd(ld->rb);
}
