// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The span assembler: records from the rings to spans, for every protocol. A record names its
 * connection (conn.h); a connection not classified yet goes to detection (classify.c), a
 * decoded one to its decoder through the stream cursor of the record's direction (stream.h).
 * What the decoder reports comes back through the sink made here: ids when a request is seen
 * (trace_ids.c), its answer's start (the thread that served it moves on), and the finished
 * operation, linked to the other end of a same-host connection (link.c) and turned into a span
 * (span_out.c). The periodic tick ends answers that went idle (one check, from the kernel's
 * state of the connection), lets spans that waited their time go, and evicts silent
 * connections.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "self_conns.h"

#define CONN_MAX 65536 /* connections tracked at most */
#define CONN_IDLE_EVICT_NS (300ULL * 1000000000ULL)
#define THREAD_IDLE_NS (300ULL * 1000000000ULL)

static int64_t clock_offset(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
}

uint64_t assembler__to_unix_ns(const struct assembler *a, uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + a->mono_to_unix);
}

static void sink_init(struct assembler *a);

struct assembler *assembler__new(const struct sonde_config *cfg, struct process_table *procs,
				 span_emit_cb emit, void *emit_ctx, conn_state_fn state,
				 void *state_ctx)
{
	struct assembler *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->cfg = cfg;
	a->procs = procs;
	a->emit = emit;
	a->emit_ctx = emit_ctx;
	a->state = state;
	a->state_ctx = state_ctx;
	a->mono_to_unix = clock_offset();
	sink_init(a);
	a->conns = conn_table__new(CONN_MAX);
	a->linker = linker__new();
	a->go_streams = a->linker ? go_streams__new(a->linker) : NULL;
	a->runtimes = runtime_cache__new();
	if (cfg->request_metrics)
		a->red = red__new(cfg->request_metrics_series, cfg->request_metrics_bounds,
				  cfg->request_metrics_n_bounds);
	if (!a->conns || !a->linker || !a->go_streams || !a->runtimes ||
	    (cfg->request_metrics && !a->red)) {
		assembler__free(a);
		return NULL;
	}
	return a;
}

void assembler__set_ignore(struct assembler *a, conn_ignore_fn fn, void *ctx)
{
	a->ignore = fn;
	a->ignore_ctx = ctx;
}

void assembler__set_process_seen(struct assembler *a, void (*fn)(void *ctx, uint32_t tgid),
				 void *ctx)
{
	a->process_seen = fn;
	a->process_seen_ctx = ctx;
}

void assembler__set_capture_policy(struct assembler *a, conn_policy_fn fn, void *ctx)
{
	a->policy = fn;
	a->policy_ctx = ctx;
}

/* Everything that hangs off c goes, then c. */
static void conn_release(struct assembler *a, struct conn *c)
{
	if (c->phase == CONN_DECODING) {
		link__release_all(a, c);
		c->dec->destroy(c->dec_st);
	}
	link__free(c);
	classify__free(c);
	if (c->res)
		resource__put(c->res);
	conn_table__remove(a->conns, c);
	free(c);
}

static void release_one(void *ctx, struct conn *c)
{
	conn_release(ctx, c);
}

void assembler__free(struct assembler *a)
{
	if (!a)
		return;
	if (a->conns)
		conn_table__for_each(a->conns, release_one, a);
	conn_table__free(a->conns);
	go_streams__free(a->go_streams);
	linker__free(a->linker);
	runtime_cache__free(a->runtimes);
	red__free(a->red);
	free(a);
}

struct red *assembler__red(const struct assembler *a)
{
	return a->red;
}

void assembler__stats(const struct assembler *a, struct assembler_stats *out)
{
	struct conn_table_stats cs;
	struct linker_stats ls;
	struct go_streams_stats gs;
	struct red_stats rs;

	*out = a->st;
	conn_table__stats(a->conns, &cs);
	out->conns_open = cs.open;
	out->conns_total = cs.total;
	out->conns_dropped = cs.dropped;
	linker__stats(a->linker, &ls);
	out->links_ambiguous = ls.ambiguous;
	out->threads_taken_on = ls.threads_taken_on;
	out->thread_pools = ls.pools_found;
	out->links_unguessed = ls.unguessed;
	out->links_batch = ls.batch_linked;
	out->links_batch_unsure = ls.batch_unsure;
	go_streams__stats(a->go_streams, &gs);
	out->go_streams_served = gs.served;
	out->go_streams_opened = gs.opened;
	out->go_streams_unread = gs.unread;
	red__stats(a->red, &rs);
	out->red_series = rs.series;
	out->red_overflows = rs.overflows;
}

void core__ignore(struct assembler *a, struct conn *c)
{
	if (a->ignore && c->sock_key && !c->kernel_ignored) {
		a->ignore(a->ignore_ctx, c->sock_key, c->id);
		c->kernel_ignored = true;
		a->st.conns_ignored++;
	}
}

/* c's decoder goes: what waits to be linked goes first (all, or the operations still going on,
 * whose memory is the decoder's), while c->dec still tells what they are. */
static void decoder_let_go(struct assembler *a, struct conn *c, bool all)
{
	if (all)
		link__release_all(a, c);
	else
		link__release_ongoing(a, c);
	c->dec->destroy(c->dec_st);
	c->dec_st = NULL;
	c->dec = NULL;
}

void core__conn_off(struct assembler *a, struct conn *c, bool not_mine)
{
	if (c->phase == CONN_DECODING)
		decoder_let_go(a, c, true);
	c->phase = CONN_OFF;
	c->give_up = false;
	c->upgraded = false;
	if (not_mine)
		a->st.conns_not_http++;
	core__ignore(a, c);
}

bool core__from_client(const struct conn *c, uint16_t dir)
{
	return (dir == SONDE_DIR_EGRESS) == (c->info.role == SONDE_ROLE_CLIENT);
}

/* The sink: what a decoder reports about c. */
static void sink_begin(void *ctx, struct op_head *op)
{
	struct assembler *a = ctx;

	ids__decide(a, a->calling, op, true);
}

static void sink_answered(void *ctx, struct op_head *op, uint64_t ts)
{
	struct assembler *a = ctx;
	struct conn *c = a->calling;

	if (!op->actor)
		return;
	if (c->info.role == SONDE_ROLE_SERVER) {
		if (op->begun)
			linker__server_end(a->linker, c->tgid, op->actor, op->span_id, ts);
		if (op->begun && op->stream && c->info.link_go)
			go_streams__server_answered(a->go_streams, c->tgid, op->actor, op->stream,
						    op->span_id, ts);
	} else if (!span__id_is_zero(op->parent_id, 8)) {
		linker__child_end(a->linker, c->tgid, op->actor, op->parent_id, ts);
	}
}

static void sink_done(void *ctx, struct op_head *op)
{
	struct assembler *a = ctx;
	struct conn *c = a->calling;

	if (!op->begun)
		ids__decide(a, c, op, false);
	else if (c->info.role == SONDE_ROLE_CLIENT)
		link__client_done(c, op);
	sink_answered(ctx, op, op->end_ns > op->start_ns ? op->end_ns : op->start_ns);
	if (op->begun && op->stream && op->actor && c->info.link_go &&
	    c->info.role == SONDE_ROLE_SERVER)
		go_streams__server_done(a->go_streams, c->tgid, op->actor, op->stream, op->span_id,
					op->end_ns > op->start_ns ? op->end_ns : op->start_ns);
	if (op->actor && c->info.role != SONDE_ROLE_SERVER && span__id_is_zero(op->parent_id, 8))
		linker__unknown_end(a->linker, c->tgid, op->actor,
				    op->end_ns > op->start_ns ? op->end_ns : op->start_ns);
	if (op->awaiting_peer && link__hold(a, c, op))
		return; /* its span waits for its client end's ids */
	span_out__op(a, c, op);
}

static void sink_lost(void *ctx, bool from_client)
{
	((struct assembler *)ctx)->st.framing_lost++;
}

static void sink_policy(void *ctx, uint8_t policy)
{
	struct assembler *a = ctx;

	if (!a->policy || !a->calling->sock_key)
		return;
	a->policy(a->policy_ctx, a->calling->sock_key, a->calling->id, policy);
	if (policy == SONDE_CAPTURE_HTTP1_STATUS)
		a->st.conns_summarized++;
	else if (policy == SONDE_CAPTURE_RUNS)
		a->st.conns_full_responses++;
}

static void sink_give_up(void *ctx, bool not_mine)
{
	struct assembler *a = ctx;

	a->calling->give_up = true;
	a->calling->not_mine = not_mine;
}

static void sink_upgraded(void *ctx)
{
	struct assembler *a = ctx;

	a->calling->give_up = true;
	a->calling->upgraded = true;
}

static void sink_count(void *ctx, enum decoder_event ev)
{
	struct assembler_stats *st = &((struct assembler *)ctx)->st;

	switch (ev) {
	case DEC_PARSE_ERROR:
		st->parse_errors++;
		break;
	case DEC_ORPHAN_ANSWER:
		st->orphan_responses++;
		break;
	case DEC_QUEUE_FULL:
		st->pipeline_full++;
		break;
	case DEC_PIPELINED_SUMMARY:
		st->responses_pipelined++;
		break;
	case DEC_CTX_BEHIND:
		st->ctx_behind++;
		break;
	}
}

static void sink_init(struct assembler *a)
{
	a->sink = (struct decoder_sink){sink_begin,  sink_answered, sink_done,	sink_lost,
					sink_policy, sink_give_up,  sink_upgraded, sink_count,
					a};
}

const struct decoder_sink *core__sink(struct assembler *a, struct conn *c)
{
	a->calling = c;
	return &a->sink;
}

void core__target(struct assembler *a, struct conn *c, bool from_client, struct stream_target *t)
{
	t->dec = c->dec;
	t->st = c->dec_st;
	t->from_client = from_client;
	t->out = core__sink(a, c);
}

/* The decoder of c let go of it for another protocol: its next run is detected again. */
static void conn_redetect(struct assembler *a, struct conn *c)
{
	decoder_let_go(a, c, false);
	c->phase = CONN_UNKNOWN;
	c->give_up = false;
	c->upgraded = false;
	c->midway = 0;
	/* the cursors start over, as on a new connection, at the run classified next */
	memset(&c->req, 0, sizeof(c->req));
	memset(&c->resp, 0, sizeof(c->resp));
	a->st.conns_upgraded++;
}

/* After a decoder's call: a give-up (or upgrade) it asked for is done now, out of its way. */
void core__after(struct assembler *a, struct conn *c)
{
	if (c->give_up && c->phase == CONN_DECODING && c->upgraded)
		conn_redetect(a, c);
	else if (c->give_up && c->phase == CONN_DECODING)
		core__conn_off(a, c, c->not_mine);
}

/* A run ended (a record's prev, the close): its stream hands the end to the decoder. */
static void run_end(struct assembler *a, struct conn *c, const struct sonde_run_summary *run)
{
	bool from_client = core__from_client(c, run->dir);
	struct stream_target t;

	if (c->phase != CONN_DECODING || run->dir == SONDE_DIR_NONE)
		return;
	core__target(a, c, from_client, &t);
	stream__run_end(from_client ? &c->req : &c->resp, &t, run);
	core__after(a, c);
}

static struct conn *conn_new(struct assembler *a, uint64_t id, uint32_t tgid, const char *comm)
{
	struct conn *c = conn_table__add(a->conns, id, tgid);
	struct timespec now;
	enum proc_runtime rt;

	if (!c)
		return NULL;
	if (comm)
		memcpy(c->comm, comm, sizeof(c->comm) - 1);
	c->selected = process_table__selected(a->procs, tgid, c->comm);
	if (c->selected) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		rt = runtime_cache__get(a->runtimes, tgid, now.tv_sec * 1000000000ULL + now.tv_nsec);
		/* Go: goroutines move between threads, and the thread would name wrong parents;
		 * the goroutine the kernel reports stands for the thread (see runtime.h). */
		c->info.link_go = rt == RUNTIME_GO;
		c->no_guess = rt == RUNTIME_PYTHON;
		if (a->process_seen)
			a->process_seen(a->process_seen_ctx, tgid);
	}
	/* Bind the process now: a short-lived client may be gone when its span ends. */
	c->res = process_table__resource(a->procs, tgid, c->comm);
	if (c->res)
		resource__get(c->res);
	return c;
}

static void on_open(struct assembler *a, const struct sonde_open_event *ev)
{
	struct conn *c = conn_table__find(a->conns, ev->head.conn_id);

	if (!c)
		c = conn_new(a, ev->head.conn_id, ev->head.tgid, ev->comm);
	if (!c)
		return;
	c->sock_key = ev->sock_key;
	conn_table__set_tuple(a->conns, c, ev->family, ev->saddr, ev->daddr, ev->sport, ev->dport);
	c->info.kernel_role = (uint8_t)ev->role;
	c->open_ts = ev->open_ts_ns;
	c->last_ns = ev->head.ts_ns;
	/* The collector's end of one of our own exports: tracing it would feed on itself. */
	if (self_conns__has(c->info.sport, c->info.dport) && conn_is_local_peer(c))
		c->selected = false;
	/* Another sonde's exports: two agents tracing each other would feed on each other. */
	if (!strncmp(ev->comm, "sonde", sizeof(ev->comm)))
		c->selected = false;
	if (!c->selected)
		core__ignore(a, c);
}

/* A thread's note that it started a summarized response (sonde_http1_note), on any of its
 * connections: that connection's decoder hears of it. */
static void on_note(struct assembler *a, uint32_t tgid, const struct sonde_http1_note *n)
{
	struct conn *c = conn_table__find(a->conns, n->conn_id);
	struct stream_target t;

	if (!c || c->tgid != tgid || c->phase != CONN_DECODING || !c->dec->note)
		return;
	core__target(a, c, false, &t);
	c->dec->note(c->dec_st, n, t.out);
	core__after(a, c);
}

static void on_data(struct assembler *a, const struct sonde_data_event *ev, size_t size)
{
	struct conn *c = conn_table__find(a->conns, ev->head.conn_id);
	uint32_t cap = ev->cap_len, ctx_len = ev->ctx_len;
	struct stream_target t;
	struct stream_io io;
	bool from_client;
	int i;

	if (cap > size - offsetof(struct sonde_data_event, payload))
		cap = size - offsetof(struct sonde_data_event, payload);
	if (ctx_len > size - offsetof(struct sonde_data_event, payload) - cap)
		ctx_len = size - offsetof(struct sonde_data_event, payload) - cap;
	for (i = 0; i < SONDE_HTTP1_NOTES && ev->http1_notes[i].conn_id; i++)
		on_note(a, ev->head.tgid, &ev->http1_notes[i]);
	if (!c)
		c = conn_new(a, ev->head.conn_id, ev->head.tgid, NULL);
	if (!c)
		return;
	c->last_ns = ev->head.ts_ns;
	if (!c->selected || c->phase == CONN_OFF)
		return;
	if (ev->run_offset == 0)
		run_end(a, c, &ev->prev);
	if (ev->tls)
		c->info.tls = true;
	if (c->phase == CONN_UNKNOWN && !classify__data(a, c, ev, cap))
		return;
	if (c->phase != CONN_DECODING)
		return;
	from_client = core__from_client(c, ev->head.dir);
	if (from_client && ev->ctx.kind != SONDE_CTX_NONE)
		stream__set_kctx(&c->req, &ev->ctx, ev->head.ts_ns);
	io = (struct stream_io){
		.run_seq = ev->run_seq,
		.run_offset = ev->run_offset,
		.io_bytes = ev->io_bytes,
		.data = ev->payload,
		.cap = cap,
		.ts = ev->head.ts_ns,
		.actor = c->info.link_go ? ev->go_g : ev->head.tid,
		.tid = ev->head.tid,
		.walk_flags = ev->walk_flags,
		.walk_part = ev->walk_part,
		.walk_left = ev->walk_left,
		.ctx_lines = ev->payload + cap,
		.ctx_len = ctx_len,
		.head_scan = ev->head_scan,
	};
	core__target(a, c, from_client, &t);
	stream__io(from_client ? &c->req : &c->resp, &t, &io);
	core__after(a, c);
}

static void on_close(struct assembler *a, const struct sonde_close_event *ev)
{
	struct conn *c = conn_table__find(a->conns, ev->head.conn_id);
	struct stream_target t;

	if (!c)
		return;
	run_end(a, c, &ev->last);
	if (c->phase == CONN_DECODING) {
		core__target(a, c, false, &t);
		c->dec->close(c->dec_st, ev->head.ts_ns, t.out);
	}
	conn_release(a, c);
}

static void on_go_stream(struct assembler *a, const struct sonde_go_stream_event *ev)
{
	struct go_stream_readers r = {.io_g = ev->io_g, .io_since = ev->io_since,
				      .first_g = ev->first_g, .first_since = ev->first_since};

	if (ev->role == SONDE_GO_STREAM_SERVE)
		go_streams__serve(a->go_streams, ev->head.tgid, ev->g, &r, ev->stream,
				  ev->head.ts_ns);
	else if (ev->role == SONDE_GO_STREAM_ROLE)
		go_streams__role(a->go_streams, ev->head.tgid, ev->g, ev->head.ts_ns);
	else if (ev->role == SONDE_GO_STREAM_OPEN)
		go_streams__open(a->go_streams, ev->head.tgid, ev->g, ev->io_g, ev->stream,
				 ev->head.ts_ns);
}

void assembler__on_record(struct assembler *a, const void *rec, size_t size)
{
	const struct sonde_event_head *h = rec;

	if (size < sizeof(*h))
		return;
	a->st.records++;
	switch (h->kind) {
	case SONDE_EV_OPEN:
		if (size >= sizeof(struct sonde_open_event))
			on_open(a, rec);
		break;
	case SONDE_EV_DATA:
		if (size >= offsetof(struct sonde_data_event, payload))
			on_data(a, rec, size);
		break;
	case SONDE_EV_CLOSE:
		if (size >= sizeof(struct sonde_close_event))
			on_close(a, rec);
		break;
	case SONDE_EV_PROC:
		if (size >= sizeof(struct sonde_proc_event))
			process_table__on_proc(a->procs, rec);
		break;
	case SONDE_EV_NOTES:
		if (size >= sizeof(struct sonde_notes_event)) {
			const struct sonde_notes_event *ne = rec;
			int i;

			for (i = 0; i < SONDE_HTTP1_NOTES && ne->notes[i].conn_id; i++)
				on_note(a, h->tgid, &ne->notes[i]);
		}
		break;
	case SONDE_EV_GO_STREAM:
		if (size >= sizeof(struct sonde_go_stream_event))
			on_go_stream(a, rec);
		break;
	case SONDE_EV_THREAD:
		if (size >= sizeof(struct sonde_thread_event))
			linker__thread_created(
				a->linker, h->tgid, h->tid,
				((const struct sonde_thread_event *)rec)->child_tid, h->ts_ns,
				runtime_cache__get(a->runtimes, h->tgid, h->ts_ns) != RUNTIME_PYTHON);
		break;
	default:
		break;
	}
}

/* The run of the answers, as the kernel's state of c tells it; false when it cannot. */
static bool kernel_run(struct assembler *a, struct conn *c, uint16_t dir,
		       struct sonde_run_summary *run)
{
	struct sonde_conn_state ks;

	if (a->state(a->state_ctx, c->sock_key, &ks) || ks.conn_id != c->id || ks.run_dir != dir)
		return false; /* gone (its close is on the way), or a later run started */
	run->first_ts_ns = ks.run_first_ts;
	run->last_ts_ns = ks.run_last_ts;
	run->bytes = ks.run_bytes;
	run->seq = ks.run_seq;
	run->dir = dir;
	run->http1_status = ks.run_http1_status;
	return true;
}

/*
 * An answer whose end no record has told yet (a kept-alive connection gone quiet): once c has
 * been quiet for idle_close_ms, ask the kernel how its run of answers stands. A run quiet that
 * long ended with its last I/O; a run the kernel summarized instead of recording it is told to
 * the decoder as it goes. Without the kernel's state, the last record ends it.
 */
static void idle_check(struct assembler *a, struct conn *c, uint64_t now)
{
	uint16_t dir = c->info.role == SONDE_ROLE_SERVER ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
	uint64_t idle = (uint64_t)a->cfg->idle_close_ms * 1000000ULL;
	struct sonde_run_summary run = {0};
	struct stream_target t;

	if (!c->dec->waiting(c->dec_st) || now < c->last_ns || now - c->last_ns <= idle)
		return;
	core__target(a, c, false, &t);
	if (!a->state || !c->sock_key) {
		stream__stop(&c->resp, &t, dir, c->last_ns);
	} else if (kernel_run(a, c, dir, &run) &&
		   (run.seq == c->resp.run_seq || run.http1_status)) {
		if (now > run.last_ts_ns && now - run.last_ts_ns > idle)
			stream__run_end(&c->resp, &t, &run);
		else if (run.seq != c->resp.run_seq && c->dec->run_summary)
			c->dec->run_summary(c->dec_st, false, &run, t.out);
	}
	core__after(a, c);
}

struct tick {
	struct assembler *a;
	uint64_t now;
};

static void tick_one(void *ctx, struct conn *c)
{
	struct tick *tk = ctx;
	struct assembler *a = tk->a;
	struct stream_target t;

	if (c->phase == CONN_DECODING)
		idle_check(a, c, tk->now);
	if (c->phase == CONN_DECODING)
		link__tick(a, c, tk->now);
	if (tk->now <= c->last_ns || tk->now - c->last_ns <= CONN_IDLE_EVICT_NS)
		return;
	/* Silent for minutes with no close seen (the kernel's table may have evicted it): what
	 * is outstanding will not be answered here. */
	if (c->phase == CONN_DECODING) {
		core__target(a, c, false, &t);
		c->dec->close(c->dec_st, c->last_ns, t.out);
	}
	a->st.conns_evicted++;
	conn_release(a, c);
}

void assembler__tick(struct assembler *a, uint64_t now)
{
	struct tick tk = {a, now};

	/* The wall clock may be stepped or slewed (NTP, a VM resumed) while the agent runs: spans
	 * take its current offset from the monotonic clock, not the one it had at start. */
	a->mono_to_unix = clock_offset();
	if (now > THREAD_IDLE_NS && now - a->linker_expired_ns > 10ULL * 1000000000ULL) {
		linker__expire(a->linker, now - THREAD_IDLE_NS);
		a->linker_expired_ns = now;
	}
	conn_table__for_each(a->conns, tick_one, &tk);
}

/* At shutdown: every answer under way ends where it stands, every waiting span goes. */
static void flush_one(void *ctx, struct conn *c)
{
	struct assembler *a = ctx;

	if (c->phase == CONN_DECODING)
		idle_check(a, c, UINT64_MAX);
	if (c->phase == CONN_DECODING)
		link__release_all(a, c);
}

void assembler__flush(struct assembler *a)
{
	conn_table__for_each(a->conns, flush_one, a);
}
