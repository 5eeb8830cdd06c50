// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The span assembler. The kernel reports, per connection, the start of every run of I/O in one
 * direction with the first bytes of its first few I/Os, and the summary (first/last timestamp,
 * bytes) of the run it ended. Here each connection's two byte streams are followed as HTTP/1.x:
 * heads are parsed where their bytes were captured, bodies are skipped by their framing (also
 * over bytes that were counted but not copied), and requests are paired with responses in
 * order. A span runs from the first byte of the request to the last byte of the response, as
 * the traced process saw them; when the last byte was not captured, the end of the run (from
 * the next record, the close, or the kernel's connection state once the run went idle) gives it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "assembler.h"
#include "decoders/db.h"
#include "decoders/http1.h"
#include "decoders/tracecontext.h"
#include "linker.h"
#include "runtime.h"
#include "self_conns.h"

#define CONN_BUCKETS 16384
#define TUPLE_BUCKETS 16384
#define CONN_MAX 65536		  /* connections tracked at most */
#define PIPELINE_MAX 16		  /* outstanding requests per connection */
#define XPOOL_MAX 64 /* finished exchanges kept for reuse */
#define PARTIAL_MAX 8192	  /* bytes of an unfinished head kept across I/Os */
#define JUNK_LIMIT 4		  /* responses without requests before a connection is given up */
#define DETECT_MIN 16		  /* first bytes of a run too few to classify below this */
#define DETECT_BUF 64		  /* bytes of a run kept to classify it */
#define CONN_IDLE_EVICT_NS (300ULL * 1000000000ULL)
/*
 * A server span whose client end is a traced process here but whose request that end has not
 * reported yet waits this long for it (in the conn's held list), at most HELD_MAX at a time. On
 * loopback the receiver can read a request before the sender's send returns (delivery happens
 * inside the sender's syscall, and the sender may be preempted there), and records of two CPUs
 * may come in different drains: the server can finish first.
 */
#define HELD_MAX 16
#define HTTP_LINK_WAIT_NS (300ULL * 1000000ULL)

enum conn_proto { PROTO_UNKNOWN = 0, PROTO_HTTP1 = 1, PROTO_OTHER = 2, PROTO_DB = 3 };

/* One request and, once seen, its response. */
struct exchange {
	uint64_t start_ns;     /* first request byte (monotonic) */
	uint64_t end_ns;
	uint32_t tid;	       /* thread that read (server) or wrote (client) the request */
	uint64_t actor;	       /* what links its calls: tid, or in Go the goroutine; 0: none */
	uint16_t status;
	bool has_response;
	bool head_request;
	bool has_ctx;		/* the request carried a traceparent or B3 context */
	bool peer_linked;	/* a server span on this host took this client span as parent */
	bool awaiting_peer;	/* server: its client end is traced but its request not seen yet */
	bool incomplete;	/* held: the connection closed before the response */
	struct trace_context ctx;
	uint8_t trace_id[16];	/* the span's ids, fixed when the request head is seen */
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint8_t version_minor;
	/* The lengths of the strings below (the span is built without a strlen() of each). */
	uint16_t method_len, route_len, path_len, query_len, host_len, ua_len;
	/* From here on strings, set by exchange_new() (tracestate) and the request's head. */
	char tracestate[256];	/* W3C tracestate that came with a traceparent */
	char method[16];
	char route[128];
	char path[256];
	char query[256];
	char host[128];
	char user_agent[256];
};

/* One direction of a connection, followed as a sequence of HTTP messages. */
struct stream {
	uint32_t run_seq;	  /* the run being followed */
	uint64_t pos;		  /* bytes of that run accounted for */
	uint64_t body_remaining;  /* LENGTH framing: body bytes still to come */
	bool chunked;		  /* inside a chunked body */
	bool until_close;	  /* response body delimited by the close */
	bool lost;		  /* boundaries unknown until the run ends */
	bool run_ended;		  /* DB: run_end was reported for run_seq */
	struct http1_chunked ch;
	uint8_t *partial;	  /* an unfinished head, waiting for the next I/O */
	uint32_t partial_len;
	uint64_t partial_ts;
	uint64_t partial_pos;	  /* run offset of the partial head's first byte */
	struct sonde_trace_ctx kctx; /* context the kernel gave the request starting here */
	uint64_t kctx_ts;	  /* DB: the I/O that started the run kctx came with */
};

struct conn {
	struct conn *next;
	struct conn *tnext;	/* in the tuple index, once the tuple is known */
	struct conn *tpeer;	/* tuple_peer()'s answer, while tpeer_gen is the index's tuple_gen */
	uint64_t tpeer_gen;
	uint64_t id;
	uint64_t sock_key;
	uint64_t last_ns;
	uint32_t tgid;
	uint16_t family;
	uint16_t sport, dport; /* local, remote */
	uint8_t saddr[16], daddr[16];
	uint8_t role; /* enum sonde_role, from the first message */
	uint8_t kernel_role; /* enum sonde_role as the kernel saw the open, if it did */
	uint8_t proto;
	uint8_t junk;
	bool have_tuple;
	char peer[INET6_ADDRSTRLEN]; /* the remote address as text, once per connection */
	uint8_t peer_len;
	bool selected;
	bool link_go;	     /* a Go program: goroutines do, the kernel reports each I/O's g */
	bool no_guess;	     /* CPython: no guess among a thread's open requests (runtime.h) */
	uint64_t cur_actor;  /* of the record being handled: its thread, or goroutine */
	bool kernel_ignored; /* the kernel was told to stop recording it */
	char comm[16];
	struct resource *res;
	struct stream req, resp;
	struct exchange *pending[PIPELINE_MAX];
	int n_pending;
	int n_answered; /* pending[0..n_answered) have their response head */
	struct exchange *held[HELD_MAX]; /* finished server spans waiting for their client end */
	int n_held;
	uint32_t lite_seq;   /* the last summarized response run that answered requests here */
	bool lite_open;	     /* ... and it has not ended yet: the answered exchanges wait for it */
	bool asked_summary;  /* the kernel was asked to summarize the responses */
	bool asked_full;     /* ... and then for full records again, for good */
	uint32_t n_requests; /* request heads seen */
	uint64_t open_ts;    /* the connect or accept, as the kernel saw it; 0: not seen */
	uint8_t *det_buf;	/* first bytes of a run, too few to classify yet */
	uint32_t det_len, det_seq, det_tid;
	uint16_t det_dir;
	uint64_t det_ts;
	const struct db_decoder *dbd; /* PROTO_DB: the decoder and its state */
	void *db;
	uint32_t db_ops;	/* operations reported so far: the n-th is the peer's n-th */
	struct db_recent *db_recent; /* client: the ids of the last ops, for the server end */
	struct db_held *db_held;     /* server: ops waiting for the client end's ids */
	struct assembler *asm_; /* for the decoder's sink */
};

struct assembler {
	const struct sonde_config *cfg;
	struct process_table *procs;
	span_emit_cb emit;
	void *emit_ctx;
	conn_state_fn state;
	void *state_ctx;
	conn_ignore_fn ignore;
	void *ignore_ctx;
	conn_policy_fn resp_mode;
	void *resp_mode_ctx;
	int64_t mono_to_unix;
	struct conn *buckets[CONN_BUCKETS];
	struct conn *tuples[TUPLE_BUCKETS]; /* by (local, remote) address and port */
	/* Exchanges of finished spans, kept for the next requests: one a request was a calloc and
	 * a free, 4% of the agent's CPU at saturation. */
	struct exchange *xpool[XPOOL_MAX];
	int n_xpool;
	uint64_t tuple_gen; /* bumped at every change of tuples[]: the peers found are stale */
	struct linker *linker;
	struct runtime_cache *runtimes;
	void (*go_process)(void *ctx, uint32_t tgid);
	void *go_process_ctx;
	uint64_t linker_expired_ns; /* when the thread table was last swept */
	struct assembler_stats st;
};

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
	a->linker = linker__new();
	a->runtimes = runtime_cache__new();
	if (!a->linker || !a->runtimes) {
		linker__free(a->linker);
		runtime_cache__free(a->runtimes);
		free(a);
		return NULL;
	}
	return a;
}

void assembler__set_ignore(struct assembler *a, conn_ignore_fn fn, void *ctx)
{
	a->ignore = fn;
	a->ignore_ctx = ctx;
}

/*
 * Nothing more is wanted from this connection: the kernel stops copying payload and writing
 * records for it (a map lookup per I/O is all it then costs), once its tuple is known.
 */
void assembler__set_go_process(struct assembler *a, void (*fn)(void *ctx, uint32_t tgid),
			       void *ctx)
{
	a->go_process = fn;
	a->go_process_ctx = ctx;
}

void assembler__set_capture_policy(struct assembler *a, conn_policy_fn fn, void *ctx)
{
	a->resp_mode = fn;
	a->resp_mode_ctx = ctx;
}

/*
 * A request head was just queued on an HTTP/1.x connection: decide how the kernel captures its
 * responses. A second request with the first answered shows a kept-alive connection, not
 * pipelined: its responses can be summarized (half the records; connections used once never
 * cost the map update). Pipelined requests need the response heads to tell the responses
 * apart: full records again, for good.
 */
static void choose_resp_mode(struct assembler *a, struct conn *c)
{
	int open = c->n_pending - c->n_answered;

	if (!a->resp_mode || !c->sock_key || c->asked_full)
		return;
	if (open > 1) {
		c->asked_full = true;
		if (c->asked_summary) {
			a->resp_mode(a->resp_mode_ctx, c->sock_key, SONDE_CAPTURE_RUNS);
			a->st.conns_full_responses++;
		}
		return;
	}
	/* The kernel knows which way the responses go only from a role it saw at the open. */
	if (!c->asked_summary && c->n_requests >= 2 && c->kernel_role == c->role) {
		a->resp_mode(a->resp_mode_ctx, c->sock_key, SONDE_CAPTURE_HTTP1_STATUS);
		c->asked_summary = true;
		a->st.conns_summarized++;
	}
}

static void conn_give_up(struct assembler *a, struct conn *c)
{
	if (a->ignore && c->sock_key && !c->kernel_ignored) {
		a->ignore(a->ignore_ctx, c->sock_key);
		c->kernel_ignored = true;
		a->st.conns_ignored++;
	}
}

static void stream_reset_partial(struct stream *s)
{
	free(s->partial);
	s->partial = NULL;
	s->partial_len = 0;
}

/*
 * The tuple index: connections by their addresses and ports, so that the two ends of a
 * connection between two traced processes of this host find each other. Addresses compare in
 * the IPv6 form (an IPv4 address as ::ffff:a.b.c.d), as one end may be a dual-stack socket.
 */
static void addr_v6(uint16_t family, const uint8_t *in, uint8_t out[16])
{
	if (family == 2) {
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
	return tuple_hash(l, c->sport, r, c->dport);
}

static void tuple_add(struct assembler *a, struct conn *c)
{
	unsigned int b = conn_tuple_hash(c);

	c->tnext = a->tuples[b];
	a->tuples[b] = c;
	a->tuple_gen++;
}

static void tuple_del(struct assembler *a, struct conn *c)
{
	struct conn **p = &a->tuples[conn_tuple_hash(c)];

	while (*p && *p != c)
		p = &(*p)->tnext;
	if (*p)
		*p = c->tnext;
	a->tuple_gen++;
}

/*
 * The other end of c, when it is a connection of a traced process on this host. Asked several
 * times a span; kept in c until the index changes (a connection opens, closes or is announced
 * again), which on kept-alive connections is rare.
 */
static struct conn *tuple_peer(struct assembler *a, struct conn *c)
{
	uint8_t l[16], r[16], pl[16], pr[16];
	struct conn *p;

	if (c->tpeer_gen == a->tuple_gen)
		return c->tpeer;
	c->tpeer_gen = a->tuple_gen;
	c->tpeer = NULL;
	addr_v6(c->family, c->saddr, l);
	addr_v6(c->family, c->daddr, r);
	for (p = a->tuples[tuple_hash(r, c->dport, l, c->sport)]; p; p = p->tnext) {
		if (p == c || p->sport != c->dport || p->dport != c->sport)
			continue;
		addr_v6(p->family, p->saddr, pl);
		addr_v6(p->family, p->daddr, pr);
		if (!memcmp(pl, r, 16) && !memcmp(pr, l, 16))
			return c->tpeer = p;
	}
	return NULL;
}

/*
 * A fresh exchange: from the pool, or allocated. Zeroed up to its strings; the tracestate is
 * made empty, and the request's head writes every other string (on_request_head), so they need
 * no clearing.
 */
static struct exchange *exchange_new(struct assembler *a)
{
	struct exchange *x = a->n_xpool ? a->xpool[--a->n_xpool] : malloc(sizeof(*x));

	if (x) {
		memset(x, 0, offsetof(struct exchange, tracestate));
		x->tracestate[0] = '\0';
	}
	return x;
}

static void exchange_put(struct assembler *a, struct exchange *x)
{
	if (a->n_xpool < XPOOL_MAX)
		a->xpool[a->n_xpool++] = x;
	else
		free(x);
}

static void conn_free(struct assembler *a, struct conn *c)
{
	int i;

	if (c->have_tuple)
		tuple_del(a, c);
	for (i = 0; i < c->n_pending; i++)
		exchange_put(a, c->pending[i]);
	for (i = 0; i < c->n_held; i++)
		exchange_put(a, c->held[i]); /* emitted before, where the connection ended */
	stream_reset_partial(&c->req);
	stream_reset_partial(&c->resp);
	if (c->dbd && c->db)
		c->dbd->destroy(c->db);
	free(c->db_held); /* released (emitted) before, where the connection ended */
	free(c->det_buf);
	free(c->db_recent);
	if (c->res)
		resource__put(c->res);
	free(c);
	a->st.conns_open--;
}

void assembler__free(struct assembler *a)
{
	struct conn *c, *n;
	int i;

	if (!a)
		return;
	for (i = 0; i < CONN_BUCKETS; i++)
		for (c = a->buckets[i]; c; c = n) {
			n = c->next;
			conn_free(a, c);
		}
	while (a->n_xpool)
		free(a->xpool[--a->n_xpool]);
	linker__free(a->linker);
	runtime_cache__free(a->runtimes);
	free(a);
}

void assembler__stats(const struct assembler *a, struct assembler_stats *out)
{
	struct linker_stats ls;

	*out = a->st;
	linker__stats(a->linker, &ls);
	out->links_ambiguous = ls.ambiguous;
	out->threads_taken_on = ls.threads_taken_on;
	out->links_unguessed = ls.unguessed;
}

static struct conn *conn_find(struct assembler *a, uint64_t id)
{
	struct conn *c;

	for (c = a->buckets[id % CONN_BUCKETS]; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static struct conn *conn_new(struct assembler *a, uint64_t id, uint32_t tgid, const char *comm)
{
	struct conn *c;

	if (a->st.conns_open >= CONN_MAX) {
		a->st.conns_dropped++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	c->tgid = tgid;
	c->asm_ = a;
	if (comm)
		memcpy(c->comm, comm, sizeof(c->comm) - 1);
	c->selected = process_table__selected(a->procs, tgid, c->comm);
	if (c->selected) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		enum proc_runtime rt = runtime_cache__get(a->runtimes, tgid,
							  now.tv_sec * 1000000000ULL + now.tv_nsec);

		c->link_go = rt == RUNTIME_GO;
		c->no_guess = rt == RUNTIME_PYTHON;
		/* Go: goroutines move between threads, and the thread would name wrong parents;
		 * the goroutine the kernel reports stands for the thread (see runtime.h). */
		if (c->link_go && a->go_process)
			a->go_process(a->go_process_ctx, tgid);
	}
	/* Bind the process now: a short-lived client may be gone when its span ends. */
	c->res = process_table__resource(a->procs, tgid, c->comm);
	if (c->res)
		resource__get(c->res);
	c->next = a->buckets[id % CONN_BUCKETS];
	a->buckets[id % CONN_BUCKETS] = c;
	a->st.conns_open++;
	a->st.conns_total++;
	return c;
}

static void held_release(struct assembler *a, struct conn *c, int n);

static void conn_remove(struct assembler *a, struct conn *c)
{
	struct conn **p = &a->buckets[c->id % CONN_BUCKETS];

	held_release(a, c, c->n_held);
	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	conn_free(a, c);
}

/* Copy s into dst (of dstsz), cut to fit, NUL-terminated; returns the length copied. */
static uint16_t copy_str(char *dst, size_t dstsz, const struct http1_str *s)
{
	size_t n = s->len < dstsz - 1 ? s->len : dstsz - 1;

	if (n)
		memcpy(dst, s->p, n);
	dst[n] = 0;
	return (uint16_t)n;
}

static void addr_string(uint16_t family, const uint8_t *addr, char *out, size_t outsz)
{
	/* IPv4-mapped IPv6 peers are shown as IPv4, as users know them. */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == 10 && !memcmp(addr, mapped, 12))
		inet_ntop(AF_INET, addr + 12, out, outsz);
	else
		inet_ntop(family == 10 ? AF_INET6 : AF_INET, addr, out, outsz);
}

/* Copy n bytes of src into dst (of dstsz), cut to fit, NUL-terminated. */
static void copy_n(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* n bytes of src at dst + o (o < dstsz), cut to leave room for a NUL; the new end. */
static size_t put_at(char *dst, size_t dstsz, size_t o, const char *src, size_t n)
{
	if (o + n >= dstsz)
		n = dstsz - 1 - o;
	memcpy(dst + o, src, n);
	return o + n;
}

/* a + b + c (of lengths la, lb, lc) into dst, cut to fit, NUL-terminated; the length. */
static size_t cat3(char *dst, size_t dstsz, const char *a, size_t la, const char *b, size_t lb,
		   const char *c, size_t lc)
{
	size_t o = put_at(dst, dstsz, 0, a, la);

	o = put_at(dst, dstsz, o, b, lb);
	o = put_at(dst, dstsz, o, c, lc);
	dst[o] = 0;
	return o;
}

/* Split "host:port" (or "[v6]:port") from a Host header; the length of the name. */
static size_t split_host(const char *host, char *name, size_t namesz, int *port)
{
	const char *colon;
	size_t n;

	*port = 0;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');

		n = end ? (size_t)(end - host - 1) : strlen(host + 1);
		copy_n(name, namesz, host + 1, n);
		if (end && end[1] == ':')
			*port = atoi(end + 2);
		return n < namesz ? n : namesz - 1;
	}
	colon = strrchr(host, ':');
	n = colon ? (size_t)(colon - host) : strlen(host);
	copy_n(name, namesz, host, n);
	if (colon)
		*port = atoi(colon + 1);
	return n < namesz ? n : namesz - 1;
}

/* Build the span of a finished exchange and hand it on. */
static void emit_span(struct assembler *a, struct conn *c, struct exchange *x, bool incomplete)
{
	struct span sp;
	const char *peer = c->peer;
	char host[128], buf[600], ver[4] = {'1', '.', '0', 0};
	bool server = c->role == SONDE_ROLE_SERVER;
	size_t host_len, n;
	int host_port = 0;

	memset(&sp, 0, offsetof(struct span, attrs));
	if (!c->res) {
		c->res = process_table__resource(a->procs, c->tgid, c->comm);
		if (c->res)
			resource__get(c->res);
	}
	if (!c->res)
		return;
	sp.res = c->res;
	sp.kind = server ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	memcpy(sp.trace_id, x->trace_id, 16);
	memcpy(sp.span_id, x->span_id, 8);
	memcpy(sp.parent_span_id, x->parent_id, 8);
	if (x->tracestate[0] && !memcmp(x->trace_id, x->ctx.trace_id, 16))
		span__set_trace_state(&sp, x->tracestate, strlen(x->tracestate));
	if (server)
		linker__server_end(a->linker, c->tgid, x->actor, x->span_id, x->end_ns);
	else if (!span__id_is_zero(x->parent_id, 8))
		linker__child_end(a->linker, c->tgid, x->actor, x->parent_id, x->end_ns);
	if (!span__trace_sampled(x->trace_id, a->cfg->sample_threshold)) {
		/* Dropped by the sampler before it is built: counted as assembled, not sent. */
		a->st.spans++;
		a->st.spans_unsampled++;
		if (!x->has_response && incomplete)
			a->st.spans_incomplete++;
		return;
	}
	sp.start_unix_ns = assembler__to_unix_ns(a, x->start_ns);
	sp.end_unix_ns = assembler__to_unix_ns(a, x->end_ns > x->start_ns ? x->end_ns : x->start_ns);
	/* No printf on this per-span path: plain copies. Each key below is set once: added
	 * without the search for an existing one. */
	cat3(sp.name, sizeof(sp.name), x->method, x->method_len, " ", 1, x->route, x->route_len);

	span__add_str(&sp, "http.request.method", x->method, x->method_len);
	host_len = split_host(x->host, host, sizeof(host), &host_port);
	if (server) {
		span__add_str(&sp, "url.path", x->path, x->path_len);
		span__add_str(&sp, "url.scheme", "http", 4);
		if (x->query_len && a->cfg->export_query)
			span__add_str(&sp, "url.query", x->query, x->query_len);
		if (host_len)
			span__add_str(&sp, "server.address", host, host_len);
		if (host_port || c->have_tuple)
			span__add_int(&sp, "server.port", host_port ? host_port : c->sport);
		if (c->peer_len)
			span__add_str(&sp, "client.address", peer, c->peer_len);
	} else {
		n = cat3(buf, sizeof(buf), "http://", 7, host_len ? x->host : peer,
			 host_len ? x->host_len : c->peer_len, x->path, x->path_len);
		if (x->query_len && a->cfg->export_query) {
			n = put_at(buf, sizeof(buf), n, "?", 1);
			n = put_at(buf, sizeof(buf), n, x->query, x->query_len);
		}
		span__add_str(&sp, "url.full", buf, n);
		if (host_len)
			span__add_str(&sp, "server.address", host, host_len);
		else
			span__add_str(&sp, "server.address", peer, c->peer_len);
		if (host_port || c->have_tuple)
			span__add_int(&sp, "server.port", host_port ? host_port : c->dport);
	}
	span__add_str(&sp, "url.template", x->route, x->route_len);
	if (c->peer_len) {
		span__add_str(&sp, "network.peer.address", peer, c->peer_len);
		span__add_int(&sp, "network.peer.port", c->dport);
	}
	ver[2] = (char)('0' + (x->version_minor % 10));
	span__add_str(&sp, "network.protocol.version", ver, 3);
	if (x->ua_len)
		span__add_str(&sp, "user_agent.original", x->user_agent, x->ua_len);
	span__add_int(&sp, "thread.id", x->tid);
	if (x->has_response) {
		span__add_int(&sp, "http.response.status_code", x->status);
		if (x->status >= 500 || (!server && x->status >= 400)) {
			sp.status = SPAN_STATUS_ERROR;
			buf[0] = (char)('0' + x->status / 100 % 10);
			buf[1] = (char)('0' + x->status / 10 % 10);
			buf[2] = (char)('0' + x->status % 10);
			span__add_str(&sp, "error.type", buf, 3);
		}
	} else if (incomplete) {
		sp.status = SPAN_STATUS_ERROR;
		span__add_cstr(&sp, "error.type", "connection_closed");
		a->st.spans_incomplete++;
	}
	a->st.spans++;
	a->emit(a->emit_ctx, &sp);
}

/* Emit and drop held[0..n). */
static void held_release(struct assembler *a, struct conn *c, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		emit_span(a, c, c->held[i], c->held[i]->incomplete);
		exchange_put(a, c->held[i]);
	}
	memmove(c->held, c->held + n, (c->n_held - n) * sizeof(c->held[0]));
	c->n_held -= n;
}

/* Emit and drop the first n pending exchanges (a server span still waiting for its client
 * end's request is held instead, see HTTP_LINK_WAIT_NS). */
static void finish_front(struct assembler *a, struct conn *c, int n, bool incomplete)
{
	struct exchange *x;
	int i;

	for (i = 0; i < n; i++) {
		x = c->pending[i];
		if (x->awaiting_peer) {
			if (c->n_held == HELD_MAX)
				held_release(a, c, 1);
			x->incomplete = incomplete;
			c->held[c->n_held++] = x;
			continue;
		}
		emit_span(a, c, x, incomplete);
		exchange_put(a, x);
	}
	memmove(c->pending, c->pending + n, (c->n_pending - n) * sizeof(c->pending[0]));
	c->n_pending -= n;
	c->n_answered = c->n_answered > n ? c->n_answered - n : 0;
}

/* The resource of a connection's process, bound at the first span if not at the open. */
static struct resource *conn_resource(struct assembler *a, struct conn *c)
{
	if (!c->res) {
		c->res = process_table__resource(a->procs, c->tgid, c->comm);
		if (c->res)
			resource__get(c->res);
	}
	return c->res;
}

/*
 * Linking the two ends of a database connection between two traced processes of this host:
 * both ends' decoders see the same requests in the same order, so the n-th operation of the
 * server end is the n-th of the client end. The server usually finishes first (it answers
 * before the client reads): its span waits, for a while, for the client's ids.
 */
#define DB_LINK_RECENT 16
#define DB_LINK_HELD 16
#define DB_LINK_WAIT_NS (2000ULL * 1000000ULL)
#define DB_LINK_SLACK_NS (5ULL * 1000000ULL) /* clock order of the two ends on one host */

struct db_recent {
	uint32_t seq;
	uint64_t start_ns, end_ns;
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

struct db_held {
	uint32_t seq;	  /* 0: free */
	uint64_t start_ns, end_ns;
	uint64_t since_ns; /* when it began to wait (the record clock) */
	struct span sp;
};

/* The server op (start, end) can be the client op (cstart, cend): it lies within it. */
static bool db_link_fits(uint64_t cstart, uint64_t cend, uint64_t start, uint64_t end)
{
	return start + DB_LINK_SLACK_NS >= cstart && end <= cend + DB_LINK_SLACK_NS;
}

static void db_emit_final(struct assembler *a, struct span *sp)
{
	a->st.spans++;
	a->st.spans_db++;
	/* Decided here, once a held server span has its client's trace. */
	if (!span__trace_sampled(sp->trace_id, a->cfg->sample_threshold)) {
		a->st.spans_unsampled++;
		return;
	}
	a->emit(a->emit_ctx, sp);
}

/* Emit the held server spans: all of them, or those waiting since before `before`. */
static void db_release_held(struct assembler *a, struct conn *c, uint64_t before, bool all)
{
	int i;

	if (!c->db_held)
		return;
	for (i = 0; i < DB_LINK_HELD; i++)
		if (c->db_held[i].seq && (all || c->db_held[i].since_ns < before)) {
			db_emit_final(a, &c->db_held[i].sp);
			c->db_held[i].seq = 0;
		}
}

/* A client op was reported: remember its ids, and give them to a server span waiting for them. */
static void db_link_client(struct assembler *a, struct conn *c, const struct db_op *op,
			   const struct span *sp)
{
	struct db_recent *r;
	struct conn *p;
	int i;

	if (!c->db_recent)
		c->db_recent = calloc(DB_LINK_RECENT, sizeof(*c->db_recent));
	if (!c->db_recent)
		return;
	r = &c->db_recent[c->db_ops % DB_LINK_RECENT];
	r->seq = c->db_ops;
	r->start_ns = op->start_ns;
	r->end_ns = op->end_ns;
	memcpy(r->trace_id, sp->trace_id, 16);
	memcpy(r->span_id, sp->span_id, 8);
	p = tuple_peer(a, c);
	if (!p || p->proto != PROTO_DB || !p->db_held)
		return;
	for (i = 0; i < DB_LINK_HELD; i++) {
		struct db_held *h = &p->db_held[i];

		if (h->seq != c->db_ops)
			continue;
		if (db_link_fits(op->start_ns, op->end_ns, h->start_ns, h->end_ns)) {
			memcpy(h->sp.trace_id, sp->trace_id, 16);
			memcpy(h->sp.parent_span_id, sp->span_id, 8);
			a->st.links_tuple++;
		}
		db_emit_final(a, &h->sp);
		h->seq = 0;
		return;
	}
}

/*
 * A server op was reported: take the client end's ids if its op is already known, wait for
 * them if the client end is a traced connection of this host, else go now. Returns true when
 * the span was kept to wait.
 */
static bool db_link_server(struct assembler *a, struct conn *c, const struct db_op *op,
			   struct span *sp)
{
	struct db_recent *r;
	struct db_held *h = NULL;
	struct conn *p = tuple_peer(a, c);
	int i;

	if (!p || p->proto != PROTO_DB || p->role != SONDE_ROLE_CLIENT)
		return false;
	if (p->db_recent) {
		r = &p->db_recent[c->db_ops % DB_LINK_RECENT];
		if (r->seq == c->db_ops && p->db_ops >= c->db_ops) {
			if (db_link_fits(r->start_ns, r->end_ns, op->start_ns, op->end_ns)) {
				memcpy(sp->trace_id, r->trace_id, 16);
				memcpy(sp->parent_span_id, r->span_id, 8);
				a->st.links_tuple++;
			}
			return false;
		}
		if (p->db_ops >= c->db_ops)
			return false; /* the client end went past it: counts differ */
	}
	if (!c->db_held)
		c->db_held = calloc(DB_LINK_HELD, sizeof(*c->db_held));
	for (i = 0; c->db_held && i < DB_LINK_HELD; i++)
		if (!c->db_held[i].seq) {
			h = &c->db_held[i];
			break;
		}
	if (!h)
		return false;
	h->seq = c->db_ops;
	h->start_ns = op->start_ns;
	h->end_ns = op->end_ns;
	h->since_ns = c->last_ns;
	h->sp = *sp;
	return true;
}

/*
 * The request thread `actor` of c's process was serving at ts (linker.h): on a CPython event
 * loop only when it is the one open (asyncio runs a request's code turns after the read that
 * woke it, so the wake-up rules of event loops would name another request).
 */
static bool thread_parent(struct assembler *a, const struct conn *c, uint64_t actor, uint64_t ts,
			  uint64_t cause, uint8_t trace_id[16], uint8_t span_id[8])
{
	if (c->no_guess)
		return linker__parent_if_one(a->linker, c->tgid, actor, ts, trace_id, span_id);
	return linker__parent_at(a->linker, c->tgid, actor, ts, cause, trace_id, span_id);
}

/* A database or cache operation the decoder finished: its span. */
static void emit_db_span(void *ctx, const struct db_op *op)
{
	struct conn *c = ctx;
	struct assembler *a = c->asm_;
	bool server = c->role == SONDE_ROLE_SERVER;
	const char *name;
	struct span sp;

	/* Ids the kernel put on the wire (client) or took from it (server): the TCP option came
	 * with the run this op's request starts; once, for the first op of the run. */
	const struct sonde_trace_ctx *k = c->req.kctx.kind != SONDE_CTX_NONE &&
						  c->req.kctx_ts == op->start_ns
					  ? &c->req.kctx
					  : NULL;
	uint8_t trace[16], parent[8];

	memset(&sp, 0, offsetof(struct span, attrs));
	if (!conn_resource(a, c))
		return;
	sp.res = c->res;
	sp.kind = server ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	span__new_span_id(sp.span_id);
	if (k && server && k->kind == SONDE_CTX_PEER) {
		memcpy(sp.trace_id, k->trace_id, 16);
		memcpy(sp.parent_span_id, k->parent_id, 8);
		a->st.links_kernel++;
	} else if (k && !server && k->kind == SONDE_CTX_INJECTED) {
		memcpy(sp.trace_id, k->trace_id, 16);
		memcpy(sp.span_id, k->span_id, 8);
		if (op->tid &&
		    thread_parent(a, c, op->tid, op->start_ns, 0, trace, parent) &&
		    !memcmp(trace, sp.trace_id, 16)) {
			memcpy(sp.parent_span_id, parent, 8);
			a->st.links_thread++;
		}
	} else if (!server && op->tid &&
		   thread_parent(a, c, op->tid, op->start_ns, 0, sp.trace_id,
				     sp.parent_span_id)) {
		a->st.links_thread++;
	} else {
		span__new_trace_id(sp.trace_id);
	}
	if (k)
		c->req.kctx.kind = SONDE_CTX_NONE;
	sp.start_unix_ns = assembler__to_unix_ns(a, op->start_ns);
	sp.end_unix_ns = assembler__to_unix_ns(a, op->end_ns > op->start_ns ? op->end_ns
									  : op->start_ns);
	name = op->summary[0] ? op->summary
			      : op->operation[0] ? op->operation : db_system_name(op->system);
	copy_n(sp.name, sizeof(sp.name), name, strlen(name));
	/* Each key below is set once, on a span with no attributes yet: added without the search
	 * for an existing one (the search's strcmp calls were a tenth of the agent's CPU on Redis). */
	span__add_cstr(&sp, "db.system.name", db_system_name(op->system));
	if (op->namespace_[0])
		span__add_cstr(&sp, "db.namespace", op->namespace_);
	if (op->operation[0])
		span__add_cstr(&sp, "db.operation.name", op->operation);
	if (op->collection[0])
		span__add_cstr(&sp, "db.collection.name", op->collection);
	if (op->summary[0])
		span__add_cstr(&sp, "db.query.summary", op->summary);
	if (op->query[0] && a->cfg->db.query_mode != DB_QUERY_OFF)
		span__add_cstr(&sp, "db.query.text", op->query);
	if (op->batch_size > 1)
		span__add_int(&sp, "db.operation.batch.size", op->batch_size);
	if (op->returned_rows >= 0)
		span__add_int(&sp, "db.response.returned_rows", op->returned_rows);
	if (op->status_code[0])
		span__add_cstr(&sp, "db.response.status_code", op->status_code);
	if (server) {
		if (c->have_tuple)
			span__add_int(&sp, "server.port", c->sport);
		if (c->peer_len)
			span__add_str(&sp, "client.address", c->peer, c->peer_len);
	} else if (c->peer_len) {
		span__add_str(&sp, "server.address", c->peer, c->peer_len);
		span__add_int(&sp, "server.port", c->dport);
	}
	if (c->peer_len) {
		span__add_str(&sp, "network.peer.address", c->peer, c->peer_len);
		span__add_int(&sp, "network.peer.port", c->dport);
	}
	if (!c->link_go) /* a goroutine's I/O runs on any thread */
		span__add_int(&sp, "thread.id", (int64_t)op->tid);
	if (op->error) {
		sp.status = SPAN_STATUS_ERROR;
		span__add_cstr(&sp, "error.type", op->error_type[0] ? op->error_type
				: op->status_code[0] ? op->status_code : "error");
	} else if (op->incomplete) {
		sp.status = SPAN_STATUS_ERROR;
		span__add_cstr(&sp, "error.type", "connection_closed");
		a->st.spans_incomplete++;
	}
	c->db_ops++;
	if (a->cfg->propagation & PROPAGATION_LINK) {
		if (server) {
			if (!k && db_link_server(a, c, op, &sp))
				return;
		} else {
			db_link_client(a, c, op, &sp);
		}
	}
	db_emit_final(a, &sp);
}

/*
 * The two ends' records can come in either order: the sender's I/O is timestamped when its send
 * returns, and by then the receiver, on another CPU, may have read the bytes. Within this much,
 * the order of the two ends' timestamps means nothing.
 */
#define PEER_SKEW_NS (5ULL * 1000000ULL)

/* The client exchange of the peer connection that a request just read on c was sent by. */
static struct exchange *peer_request(struct conn *p, uint64_t ts)
{
	int i;

	if (p->proto != PROTO_HTTP1 || p->role != SONDE_ROLE_CLIENT)
		return NULL;
	for (i = 0; i < p->n_pending; i++)
		if (!p->pending[i]->peer_linked && p->pending[i]->start_ns <= ts + PEER_SKEW_NS)
			return p->pending[i];
	return NULL;
}

/*
 * A client request was just seen, and the server end of its connection is traced here: if that
 * end read the request first (its record came first), the server span took a trace of its own
 * while it waited; it joins the client's now.
 */
static void peer_late_client(struct assembler *a, struct conn *c, struct exchange *x)
{
	struct conn *p;
	struct exchange *sx;
	int i, n_held;

	if (!(a->cfg->propagation & PROPAGATION_LINK) || !c->have_tuple || !(p = tuple_peer(a, c)) ||
	    p->proto != PROTO_HTTP1 || p->role != SONDE_ROLE_SERVER)
		return;
	/* The server's requests in order: the finished ones that wait, then the open ones. */
	n_held = p->n_held;
	for (i = 0; i < n_held + p->n_pending; i++) {
		sx = i < n_held ? p->held[i] : p->pending[i - n_held];
		if (!sx->awaiting_peer)
			continue;
		sx->awaiting_peer = false;
		if (sx->start_ns + PEER_SKEW_NS < x->start_ns)
			continue; /* too old to be this one: it stays on its own */
		x->peer_linked = true;
		if (!sx->has_ctx || !memcmp(sx->trace_id, x->trace_id, 16)) {
			memcpy(sx->trace_id, x->trace_id, 16);
			memcpy(sx->parent_id, x->span_id, 8);
			linker__server_retrace(a->linker, p->tgid, sx->actor, sx->span_id, x->trace_id);
			a->st.links_tuple++;
		}
		break;
	}
	/* Held spans that wait no more (linked, or judged on their own) go now, in order. */
	for (i = 0; i < p->n_held && !p->held[i]->awaiting_peer; i++)
		;
	if (i)
		held_release(a, p, i);
}

/*
 * A request's span ids, fixed when its head is seen, so that the calls it causes can name it.
 *
 * Server: the ids the kernel gave it (header propagation), else the caller's context from the
 * request's headers, else the client span at the other end of the connection when that end is
 * a traced process of this host, else a new trace. When the other end is traced and its span
 * is of the same trace as the header, it is the closer parent (the header may have been
 * forwarded unchanged by a proxy, or set by an instrumented application whose own span is the
 * header's). The other end's requests are taken in order in every case, so that the pairing
 * of the next ones stays right.
 *
 * Client: the context the application put in the request names the trace (its span, the
 * header's, is the application's own, or a caller's forwarded by a proxy: sonde's span is a
 * new one under the request its thread serves, else under the header's span); else what the
 * kernel injected; else a child of the request its thread is serving; else a root.
 */
static bool is_local_peer(const struct conn *c);

static void exchange_ids(struct assembler *a, struct conn *c, struct exchange *x,
			 const struct sonde_trace_ctx *k)
{
	uint8_t trace[16], parent[8];
	struct exchange *px = NULL;
	struct conn *p;
	/* When the client decided this call: its connect, for a new connection's first request
	 * (an event loop writes it when the connection is up, after other work). */
	uint64_t cause = !c->n_requests && c->open_ts && c->open_ts < x->start_ns ? c->open_ts
										  : x->start_ns;

	if (c->role == SONDE_ROLE_SERVER) {
		p = (a->cfg->propagation & PROPAGATION_LINK) && c->have_tuple ? tuple_peer(a, c)
									      : NULL;
		if (p && (px = peer_request(p, x->start_ns)))
			px->peer_linked = true;
		else if (p && k->kind != SONDE_CTX_SERVER &&
			 (p->proto == PROTO_HTTP1 || p->proto == PROTO_UNKNOWN))
			x->awaiting_peer = true; /* its request may come next: peer_late_client */
		else if (!p && (a->cfg->propagation & PROPAGATION_LINK) && c->have_tuple &&
			 k->kind != SONDE_CTX_SERVER && is_local_peer(c))
			/* A client on this host whose first send has not been reported: on loopback
			 * the server can read it before the send returns to the sender, whose
			 * connection the kernel announces then. */
			x->awaiting_peer = true;
		if (k->kind == SONDE_CTX_SERVER) {
			memcpy(x->trace_id, k->trace_id, 16);
			memcpy(x->span_id, k->span_id, 8);
			memcpy(x->parent_id, k->parent_id, 8);
			a->st.links_kernel++;
		} else if (x->has_ctx) {
			memcpy(x->trace_id, x->ctx.trace_id, 16);
			memcpy(x->parent_id, x->ctx.span_id, 8);
			span__new_span_id(x->span_id);
			if (px && !memcmp(px->trace_id, x->trace_id, 16)) {
				memcpy(x->parent_id, px->span_id, 8);
				a->st.links_tuple++;
			}
		} else if (px) {
			memcpy(x->trace_id, px->trace_id, 16);
			memcpy(x->parent_id, px->span_id, 8);
			span__new_span_id(x->span_id);
			a->st.links_tuple++;
		} else {
			span__new_trace_id(x->trace_id);
			span__new_span_id(x->span_id);
		}
		if (x->actor)
			linker__server_begin(a->linker, c->tgid, x->actor, x->start_ns, x->trace_id,
					     x->span_id);
		return;
	}
	if (k->kind == SONDE_CTX_INJECTED && !x->has_ctx) {
		/* What the kernel put on the wire names this span (a context the application put in
		 * the request wins: the server's sonde takes that one too). */
		memcpy(x->trace_id, k->trace_id, 16);
		memcpy(x->span_id, k->span_id, 8);
		if (x->actor &&
		    thread_parent(a, c, x->actor, x->start_ns, cause, trace, parent) &&
		    !memcmp(trace, x->trace_id, 16)) {
			memcpy(x->parent_id, parent, 8);
			a->st.links_thread++;
		}
		return;
	}
	span__new_span_id(x->span_id);
	if (x->has_ctx) {
		memcpy(x->trace_id, x->ctx.trace_id, 16);
		memcpy(x->parent_id, x->ctx.span_id, 8);
		if (x->actor &&
		    thread_parent(a, c, x->actor, x->start_ns, cause, trace, parent) &&
		    !memcmp(trace, x->trace_id, 16)) {
			memcpy(x->parent_id, parent, 8);
			a->st.links_thread++;
		}
		return;
	}
	if (x->actor &&
	    thread_parent(a, c, x->actor, x->start_ns, cause, x->trace_id,
			      x->parent_id)) {
		a->st.links_thread++;
		return;
	}
	span__new_trace_id(x->trace_id);
}

static void on_request_head(struct assembler *a, struct conn *c, struct stream *s,
			    const struct http1_request *r, uint64_t ts, uint32_t tid)
{
	struct exchange *x;

	if (c->role == SONDE_ROLE_SERVER && r->user_agent.len >= 6 &&
	    !memcmp(r->user_agent.p, "sonde/", 6)) {
		/* A collector receiving another sonde's exports: tracing them would feed the two
		 * agents on each other (our own exports are known by their ports already). */
		c->selected = false;
		c->proto = PROTO_OTHER;
		conn_give_up(a, c);
		return;
	}
	if (c->n_pending >= PIPELINE_MAX) {
		a->st.pipeline_full++;
		return;
	}
	x = exchange_new(a);
	if (!x)
		return;
	x->start_ns = ts;
	x->tid = tid;
	x->actor = c->cur_actor;
	x->version_minor = r->version_minor;
	x->method_len = copy_str(x->method, sizeof(x->method), &r->method);
	x->path_len = copy_str(x->path, sizeof(x->path), &r->path);
	x->query_len = copy_str(x->query, sizeof(x->query), &r->query);
	x->host_len = copy_str(x->host, sizeof(x->host), &r->host);
	x->ua_len = copy_str(x->user_agent, sizeof(x->user_agent), &r->user_agent);
	x->route_len = (uint16_t)http_route_from_path(x->path, x->path_len, x->route,
						      sizeof(x->route));
	x->head_request = r->method.len == 4 && !memcmp(r->method.p, "HEAD", 4);
	if (r->traceparent.len)
		x->has_ctx = tracecontext_parse_traceparent(r->traceparent.p, r->traceparent.len,
							    &x->ctx);
	if (x->has_ctx && r->tracestate.len)
		copy_str(x->tracestate, sizeof(x->tracestate), &r->tracestate);
	if (!x->has_ctx && r->b3.len)
		x->has_ctx = tracecontext_parse_b3(r->b3.p, r->b3.len, &x->ctx);
	if (!x->has_ctx && r->x_b3_traceid.len)
		x->has_ctx = tracecontext_parse_b3_multi(
			r->x_b3_traceid.p, r->x_b3_traceid.len, r->x_b3_spanid.p,
			r->x_b3_spanid.len, r->x_b3_sampled.p, r->x_b3_sampled.len, &x->ctx);
	exchange_ids(a, c, x, &s->kctx);
	s->kctx.kind = SONDE_CTX_NONE; /* it was this request's */
	c->pending[c->n_pending++] = x;
	c->n_requests++;
	choose_resp_mode(a, c);
	if (c->role == SONDE_ROLE_CLIENT)
		peer_late_client(a, c, x);
}

/* The exchange a response head belongs to, or NULL for an orphan. */
static struct exchange *next_unanswered(struct conn *c)
{
	return c->n_answered < c->n_pending ? c->pending[c->n_answered] : NULL;
}

/* The response of pending[n_answered - 1] ended at ts: finish every answered exchange up to it. */
static void response_done(struct assembler *a, struct conn *c, uint64_t ts)
{
	struct exchange *x;

	if (!c->n_answered)
		return;
	x = c->pending[c->n_answered - 1];
	x->end_ns = ts;
	finish_front(a, c, c->n_answered, false);
}

/* Bytes that were counted but not copied: advance the framing over them. */
static void stream_skip(struct assembler *a, struct conn *c, struct stream *s, uint64_t n,
			bool is_resp, uint64_t ts)
{
	uint64_t d;

	if (!n || s->lost || s->until_close)
		return;
	if (s->body_remaining) {
		d = n < s->body_remaining ? n : s->body_remaining;
		s->body_remaining -= d;
		n -= d;
		if (!s->body_remaining && is_resp)
			response_done(a, c, ts);
	} else if (s->chunked) {
		if (!http1_chunked_skip(&s->ch, n)) {
			s->lost = true;
			a->st.framing_lost++;
		}
		return;
	}
	if (n) {
		/* Unknown bytes where a head could start: this run's boundaries are gone. */
		s->lost = true;
		a->st.framing_lost++;
	}
}

/*
 * A head was cut by the capture limit: parse what there is, up to the last complete line, as if
 * the head ended there. The framing headers may be in the lost part, so the run is then lost.
 */
static enum http1_result parse_truncated(const uint8_t *p, size_t len, bool is_resp,
					 bool head_req, void *out)
{
	uint8_t buf[SONDE_PAYLOAD_MAX + PARTIAL_MAX + 4];
	size_t n = len;

	while (n && p[n - 1] != '\n')
		n--;
	if (!n || n + 2 > sizeof(buf))
		return HTTP1_INVALID;
	memcpy(buf, p, n);
	memcpy(buf + n, "\r\n", 2);
	if (is_resp)
		return http1_parse_response(buf, n + 2, head_req, out);
	return http1_parse_request(buf, n + 2, out);
}

/*
 * Follow one stream over captured bytes at run offset pos. `truncated` says the I/O went on past
 * the captured bytes (its rest is skipped by the caller).
 */
static void stream_feed(struct assembler *a, struct conn *c, struct stream *s, bool is_resp,
			const uint8_t *data, size_t len, uint64_t pos, uint64_t ts, uint32_t tid,
			bool truncated)
{
	struct http1_request req;
	struct http1_response resp;
	enum http1_result r;
	const uint8_t *p;
	uint8_t *joined = NULL;
	size_t off = 0, avail, used, head_len;
	bool cut;

	while (off < len) {
		if (s->lost || s->until_close)
			return;
		if (s->body_remaining) {
			used = len - off < s->body_remaining ? len - off : s->body_remaining;
			s->body_remaining -= used;
			off += used;
			if (!s->body_remaining && is_resp)
				response_done(a, c, ts);
			continue;
		}
		if (s->chunked) {
			enum http1_chunk_result cr = http1_chunked_feed(&s->ch, data + off, len - off,
									&used);

			if (cr == HTTP1_CHUNK_DONE) {
				s->chunked = false;
				off += used;
				if (is_resp)
					response_done(a, c, ts);
				continue;
			}
			if (cr == HTTP1_CHUNK_ERROR) {
				s->lost = true;
				a->st.framing_lost++;
			}
			return;
		}

		/* A message head starts here, perhaps continuing one kept from the last I/O. */
		p = data + off;
		avail = len - off;
		if (s->partial_len) {
			size_t total = s->partial_len + avail;

			joined = malloc(total);
			if (!joined)
				return;
			memcpy(joined, s->partial, s->partial_len);
			memcpy(joined + s->partial_len, p, avail);
			p = joined;
			avail = total;
		}
		cut = false;
		if (is_resp) {
			struct exchange *x = next_unanswered(c);

			r = http1_parse_response(p, avail, x && x->head_request, &resp);
			if (r == HTTP1_INCOMPLETE && truncated) {
				r = parse_truncated(p, avail, true, x && x->head_request, &resp);
				cut = true;
			}
		} else {
			r = http1_parse_request(p, avail, &req);
			if (r == HTTP1_INCOMPLETE && truncated) {
				r = parse_truncated(p, avail, false, false, &req);
				cut = true;
			}
		}
		if (r == HTTP1_INCOMPLETE) {
			/* The head goes on in the next I/O: keep it (bounded). */
			if (avail > PARTIAL_MAX) {
				s->lost = true;
				a->st.framing_lost++;
				stream_reset_partial(s);
				break;
			}
			if (!s->partial_len) {
				s->partial_ts = ts;
				s->partial_pos = pos + off;
			}
			if (joined) {
				free(s->partial);
				s->partial = joined;
				joined = NULL;
			} else {
				s->partial = malloc(PARTIAL_MAX);
				if (!s->partial)
					return;
				memcpy(s->partial, p, avail);
			}
			s->partial_len = avail;
			return;
		}
		if (r == HTTP1_INVALID) {
			a->st.parse_errors++;
			s->lost = true;
			stream_reset_partial(s);
			break;
		}
		/* A complete head: it started in the kept part, if there was one. */
		{
			uint64_t head_ts = s->partial_len ? s->partial_ts : ts;
			size_t kept = s->partial_len;

			head_len = is_resp ? resp.head_len : req.head_len;
			if (cut)
				head_len = avail;
			if (is_resp) {
				struct exchange *x = next_unanswered(c);

				if (!x) {
					a->st.orphan_responses++;
				} else if (resp.status >= 100 && resp.status < 200 &&
					   resp.status != 101) {
					/* interim (100 Continue): the final response follows */
				} else {
					x->status = resp.status;
					x->has_response = true;
					c->n_answered++;
					if (c->role == SONDE_ROLE_SERVER)
						linker__server_end(a->linker, c->tgid, x->actor,
								   x->span_id, head_ts);
				}
				if (resp.status == 101) {
					/* Upgraded (WebSocket, h2c): no more HTTP/1.x here. */
					response_done(a, c, ts);
					c->proto = PROTO_OTHER;
					conn_give_up(a, c);
					s->lost = true;
				} else if (resp.framing == HTTP1_BODY_LENGTH && resp.content_length) {
					s->body_remaining = resp.content_length;
				} else if (resp.framing == HTTP1_BODY_CHUNKED) {
					s->chunked = true;
					http1_chunked_init(&s->ch);
				} else if (resp.framing == HTTP1_BODY_UNTIL_CLOSE) {
					s->until_close = true;
				} else if (x && x->has_response) {
					response_done(a, c, ts);
				}
			} else {
				on_request_head(a, c, s, &req, head_ts, tid);
				if (req.framing == HTTP1_BODY_LENGTH && req.content_length)
					s->body_remaining = req.content_length;
				else if (req.framing == HTTP1_BODY_CHUNKED) {
					s->chunked = true;
					http1_chunked_init(&s->ch);
				}
			}
			if (cut) {
				/* the head was cut: its framing headers may be missing */
				s->body_remaining = 0;
				s->chunked = false;
				s->lost = true;
			}
			stream_reset_partial(s);
			free(joined);
			joined = NULL;
			/* Bytes of this I/O the head used: the kept part came from earlier I/Os. */
			off += head_len - kept;
		}
	}
	free(joined);
}

/*
 * Databases and caches. The connection's two directions go to its decoder as captured bytes and
 * counted gaps; the decoder pairs requests with answers and reports finished operations.
 */
static bool db_from_client(const struct conn *c, uint16_t dir)
{
	return (dir == SONDE_DIR_EGRESS) == (c->role == SONDE_ROLE_CLIENT);
}

/* The first bytes of a run, on a connection that is not HTTP: does a decoder claim it? */
static bool db_classify(struct assembler *a, struct conn *c, const uint8_t *p, size_t n,
			uint16_t dir)
{
	const struct db_decoder *const *d;
	enum db_side side = DB_SIDE_NONE;

	for (d = db_decoders; *d; d++) {
		side = (*d)->detect(p, n, c->have_tuple ? c->sport : 0,
				    c->have_tuple ? c->dport : 0);
		if (side != DB_SIDE_NONE)
			break;
	}
	if (!*d)
		return false;
	/* Who sent these bytes, and which way they moved, say which side this process is. */
	c->role = (side == DB_SIDE_CLIENT) == (dir == SONDE_DIR_EGRESS)
			  ? SONDE_ROLE_CLIENT : SONDE_ROLE_SERVER;
	if (c->role == SONDE_ROLE_SERVER && !a->cfg->db_server_spans) {
		c->proto = PROTO_OTHER;
		conn_give_up(a, c);
		return true;
	}
	c->db = (*d)->create(&a->cfg->db);
	if (!c->db) {
		c->proto = PROTO_OTHER;
		conn_give_up(a, c);
		return true;
	}
	c->dbd = *d;
	c->proto = PROTO_DB;
	a->st.conns_db++;
	return true;
}

/* A run of one direction ended: what of it was not fed goes by as a gap, then its end. */
static void db_run_end(struct assembler *a, struct conn *c, const struct sonde_run_summary *run)
{
	bool from_client = db_from_client(c, run->dir);
	struct stream *s = from_client ? &c->req : &c->resp;
	struct db_sink out = {emit_db_span, c};
	struct db_feed f = {0};

	(void)a;
	if (run->dir == SONDE_DIR_NONE || run->seq < s->run_seq ||
	    (run->seq == s->run_seq && s->run_ended))
		return;
	if (run->seq != s->run_seq) {
		/* A whole run went by without a record (a full ring): its bytes are a gap. */
		s->run_seq = run->seq;
		s->pos = 0;
		f.run_start = true;
	}
	if (run->bytes > s->pos || f.run_start) {
		f.gap = run->bytes > s->pos ? run->bytes - s->pos : 0;
		f.ts = run->last_ts_ns;
		c->dbd->feed(c->db, from_client, &f, &out);
		s->pos = run->bytes;
	}
	s->run_ended = true;
	c->dbd->run_end(c->db, from_client, run->last_ts_ns, &out);
}

/* The decoder found out it was not its protocol: the connection is nobody's (true). */
static bool db_rejected(struct assembler *a, struct conn *c)
{
	if (!c->dbd->rejected || !c->dbd->rejected(c->db))
		return false;
	db_release_held(a, c, 0, true);
	c->dbd->destroy(c->db);
	c->db = NULL;
	c->dbd = NULL;
	c->proto = PROTO_OTHER;
	a->st.conns_not_http++;
	conn_give_up(a, c);
	return true;
}

static void db_on_data(struct conn *c, const struct sonde_data_event *ev, uint32_t cap)
{
	bool from_client = db_from_client(c, ev->head.dir);
	struct stream *s = from_client ? &c->req : &c->resp;
	struct db_sink out = {emit_db_span, c};
	struct db_feed f = {0};

	if (ev->run_seq != s->run_seq) {
		s->run_seq = ev->run_seq;
		s->pos = 0;
		s->run_ended = false;
		f.run_start = true;
		if (from_client && ev->ctx.kind != SONDE_CTX_NONE) {
			s->kctx = ev->ctx;
			s->kctx_ts = ev->head.ts_ns;
		}
	}
	if (ev->run_offset < s->pos)
		return; /* already accounted */
	f.gap = ev->run_offset - s->pos;
	f.data = ev->payload;
	f.len = cap;
	f.tail = ev->io_bytes > cap ? ev->io_bytes - cap : 0;
	f.ts = ev->head.ts_ns;
	f.tid = c->link_go ? ev->go_g : ev->head.tid;
	c->dbd->feed(c->db, from_client, &f, &out);
	s->pos = ev->run_offset + ev->io_bytes;
}

/* The peer is on this host: a loopback address, or this connection's own local address. */
static bool is_local_peer(const struct conn *c)
{
	static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (c->family == 2)
		return c->daddr[0] == 127 || !memcmp(c->daddr, c->saddr, 4);
	if (!memcmp(c->daddr, mapped, 12))
		return c->daddr[12] == 127 || !memcmp(c->daddr, c->saddr, 16);
	return !memcmp(c->daddr, v6_loop, 16) || !memcmp(c->daddr, c->saddr, 16);
}

static void on_open(struct assembler *a, const struct sonde_open_event *ev)
{
	struct conn *c = conn_find(a, ev->head.conn_id);

	if (!c)
		c = conn_new(a, ev->head.conn_id, ev->head.tgid, ev->comm);
	if (!c)
		return;
	if (c->have_tuple)
		tuple_del(a, c); /* announced again: re-index */
	c->sock_key = ev->sock_key;
	c->family = ev->family;
	memcpy(c->saddr, ev->saddr, 16);
	memcpy(c->daddr, ev->daddr, 16);
	c->sport = ev->sport;
	c->dport = ev->dport;
	c->have_tuple = true;
	tuple_add(a, c);
	c->kernel_role = (uint8_t)ev->role;
	c->open_ts = ev->open_ts_ns;
	addr_string(c->family, c->daddr, c->peer, sizeof(c->peer));
	c->peer_len = (uint8_t)strlen(c->peer);
	c->last_ns = ev->head.ts_ns;
	/* The collector's end of one of our own exports: tracing it would feed on itself. */
	if (self_conns__has(c->dport) && is_local_peer(c))
		c->selected = false;
	/* Another sonde's exports: two agents tracing each other would feed on each other. */
	if (!strncmp(ev->comm, "sonde", sizeof(ev->comm)))
		c->selected = false;
	if (!c->selected)
		conn_give_up(a, c);
}

/* A run ended: a response that was still being sent ended with it. */
/*
 * A response run the kernel summarized (no record: its status line only) started at ts: it
 * answers the requests waiting. Pipelined requests cannot be told apart without the heads: the
 * first gets the status, the others none, and the kernel is asked for full records from now on.
 * Until the run ends (lite_end) the exchanges stay pending. Known already, or no request is
 * waiting yet (its record may still come): nothing, a later summary of the run will tell.
 */
static void lite_answer(struct assembler *a, struct conn *c, uint32_t seq, uint16_t status,
			uint64_t ts)
{
	struct exchange *x;
	int i, open;

	if (c->proto != PROTO_HTTP1 || !c->selected || seq <= c->lite_seq)
		return;
	open = c->n_pending - c->n_answered;
	if (open <= 0)
		return;
	c->lite_seq = seq;
	c->lite_open = true;
	if (ts > c->last_ns)
		c->last_ns = ts;
	if (open > 1)
		a->st.responses_pipelined++; /* the kernel was asked for full records already */
	for (i = c->n_answered; i < c->n_pending; i++) {
		x = c->pending[i];
		if (i == c->n_answered) {
			x->status = status;
			x->has_response = true;
		}
		if (c->role == SONDE_ROLE_SERVER)
			linker__server_end(a->linker, c->tgid, x->actor, x->span_id, ts);
		else if (!span__id_is_zero(x->parent_id, 8))
			linker__child_end(a->linker, c->tgid, x->actor, x->parent_id, ts);
	}
	c->n_answered = c->n_pending;
}

/* The summarized response run seq ended at last_ts: its exchanges are done. */
static void lite_end(struct assembler *a, struct conn *c, uint32_t seq, uint64_t last_ts)
{
	if (!c->lite_open || seq != c->lite_seq)
		return;
	c->lite_open = false;
	if (c->n_answered)
		response_done(a, c, last_ts);
}

/* A thread's note that it started a summarized response (sonde_http1_note). */
static void on_note(struct assembler *a, uint32_t tgid, const struct sonde_http1_note *n)
{
	struct conn *c = conn_find(a, n->conn_id);

	if (c && c->tgid == tgid)
		lite_answer(a, c, n->run_seq, n->status, n->ts_ns);
}

static void on_run_end(struct assembler *a, struct conn *c, const struct sonde_run_summary *run)
{
	uint16_t resp_dir;

	if (c->proto == PROTO_DB) {
		db_run_end(a, c, run);
		db_rejected(a, c);
		return;
	}
	if (run->dir == SONDE_DIR_NONE || c->proto != PROTO_HTTP1)
		return;
	resp_dir = c->role == SONDE_ROLE_SERVER ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
	if (run->dir != resp_dir)
		return;
	if (run->http1_status) {
		lite_answer(a, c, run->seq, run->http1_status, run->first_ts_ns);
		lite_end(a, c, run->seq, run->last_ts_ns);
		return;
	}
	if (c->n_answered && c->resp.run_seq == run->seq) {
		c->resp.body_remaining = 0;
		c->resp.chunked = false;
		c->resp.until_close = false;
		response_done(a, c, run->last_ts_ns);
	}
}

/*
 * The next I/O of a run whose first bytes were too few to classify: classify the bytes joined.
 * Returns true when the connection became a database one and this I/O is to be fed (the kept
 * bytes were fed first).
 */
static bool classify_more(struct assembler *a, struct conn *c, const struct sonde_data_event *ev,
			  uint32_t cap)
{
	static struct sonde_data_event first;
	uint32_t old = c->det_len, add;

	if (!c->det_buf || ev->run_seq != c->det_seq || ev->head.dir != c->det_dir ||
	    ev->run_offset != old)
		return false;
	add = cap < DETECT_BUF - old ? cap : DETECT_BUF - old;
	memcpy(c->det_buf + old, ev->payload, add);
	c->det_len = old + add;
	if (db_classify(a, c, c->det_buf, c->det_len, ev->head.dir)) {
		if (c->proto == PROTO_DB) {
			/* The decoder reads the run from its first byte: the kept ones first. */
			memset(&first, 0, offsetof(struct sonde_data_event, payload));
			first.head = ev->head;
			first.head.ts_ns = c->det_ts;
			first.head.tid = c->det_tid;
			first.go_g = ev->go_g; /* the run's next I/O: the same goroutine */
			first.run_seq = ev->run_seq;
			first.io_bytes = first.cap_len = old;
			memcpy(first.payload, c->det_buf, old);
			db_on_data(c, &first, old);
		}
		free(c->det_buf);
		c->det_buf = NULL;
		return c->proto == PROTO_DB;
	}
	if (c->det_len < DETECT_MIN && add == cap && cap == ev->io_bytes)
		return false; /* still too few: wait for the next one */
	free(c->det_buf);
	c->det_buf = NULL;
	c->proto = PROTO_OTHER;
	a->st.conns_not_http++;
	conn_give_up(a, c);
	return false;
}

static void on_data(struct assembler *a, const struct sonde_data_event *ev, size_t size)
{
	struct conn *c = conn_find(a, ev->head.conn_id);
	uint32_t cap = ev->cap_len;
	struct stream *s;
	bool is_resp, truncated;
	uint16_t req_dir;
	uint64_t gap;

	if (cap > size - offsetof(struct sonde_data_event, payload))
		cap = size - offsetof(struct sonde_data_event, payload);
	for (int i = 0; i < SONDE_HTTP1_NOTES && ev->http1_notes[i].conn_id; i++)
		on_note(a, ev->head.tgid, &ev->http1_notes[i]);

	if (!c)
		c = conn_new(a, ev->head.conn_id, ev->head.tgid, NULL);
	if (!c)
		return;
	c->last_ns = ev->head.ts_ns;
	if (!c->selected || c->proto == PROTO_OTHER)
		return;
	if (ev->run_offset == 0)
		on_run_end(a, c, &ev->prev);

	if (c->proto == PROTO_UNKNOWN) {
		/* Classify on the first byte of a run: a request tells who is the server. */
		if (!cap)
			return;
		if (ev->run_offset == 0 && c->det_buf) {
			free(c->det_buf); /* a new run: what was kept of the last one is moot */
			c->det_buf = NULL;
		}
		if (ev->run_offset != 0) {
			if (!classify_more(a, c, ev, cap))
				return;
		} else if (http1_is_request_start(ev->payload, cap)) {
			c->proto = PROTO_HTTP1;
			c->role = ev->head.dir == SONDE_DIR_INGRESS ? SONDE_ROLE_SERVER
								    : SONDE_ROLE_CLIENT;
		} else if (db_classify(a, c, ev->payload, cap, ev->head.dir)) {
			if (c->proto != PROTO_DB)
				return;
		} else if (cap < DETECT_MIN && cap == ev->io_bytes && !c->det_buf &&
			   (c->det_buf = malloc(DETECT_BUF))) {
			/* Too few bytes to tell (a client reading a 4-byte packet header alone):
			 * keep them, and try again with the next I/O of the run. */
			memcpy(c->det_buf, ev->payload, cap);
			c->det_len = cap;
			c->det_seq = ev->run_seq;
			c->det_dir = ev->head.dir;
			c->det_ts = ev->head.ts_ns;
			c->det_tid = ev->head.tid;
			return;
		} else {
			/* A response first means sonde started mid-exchange: wait for the next
			 * request, a few times. Anything else is not HTTP/1.x. */
			if (!http1_is_response_start(ev->payload, cap) || ++c->junk >= JUNK_LIMIT) {
				c->proto = PROTO_OTHER;
				a->st.conns_not_http++;
				conn_give_up(a, c);
			}
			return;
		}
	}
	if (c->proto == PROTO_DB) {
		db_on_data(c, ev, cap);
		db_rejected(a, c);
		return;
	}
	req_dir = c->role == SONDE_ROLE_SERVER ? SONDE_DIR_INGRESS : SONDE_DIR_EGRESS;
	is_resp = ev->head.dir != req_dir;
	s = is_resp ? &c->resp : &c->req;
	if (ev->run_seq != s->run_seq) {
		/* A new run in this direction: its first byte starts a message or goes on with a
		 * body (100-continue, a response sent while the next request arrives). */
		s->run_seq = ev->run_seq;
		s->pos = 0;
		s->lost = false;
		stream_reset_partial(s);
		s->kctx.kind = SONDE_CTX_NONE;
	}
	if (ev->ctx.kind != SONDE_CTX_NONE)
		s->kctx = ev->ctx;
	if (ev->run_offset < s->pos)
		return; /* already accounted (a record delivered twice) */
	gap = ev->run_offset - s->pos;
	stream_skip(a, c, s, gap, is_resp, ev->head.ts_ns);
	if (gap && s->partial_len)
		stream_reset_partial(s);
	truncated = cap < ev->io_bytes;
	c->cur_actor = c->link_go ? ev->go_g : ev->head.tid;
	stream_feed(a, c, s, is_resp, ev->payload, cap, ev->run_offset, ev->head.ts_ns,
		    ev->head.tid, truncated);
	if (truncated)
		stream_skip(a, c, s, ev->io_bytes - cap, is_resp, ev->head.ts_ns);
	s->pos = ev->run_offset + ev->io_bytes;
	if (is_resp && c->n_answered && !s->body_remaining && !s->chunked && !s->until_close &&
	    !s->lost && !s->partial_len)
		response_done(a, c, ev->head.ts_ns);
}

static void on_close(struct assembler *a, const struct sonde_close_event *ev)
{
	struct conn *c = conn_find(a, ev->head.conn_id);

	if (!c)
		return;
	if (c->proto == PROTO_DB) {
		struct db_sink out = {emit_db_span, c};

		db_run_end(a, c, &ev->last);
		if (!db_rejected(a, c)) {
			c->dbd->close(c->db, ev->head.ts_ns, &out);
			db_release_held(a, c, 0, true);
		}
	}
	if (c->selected && c->proto == PROTO_HTTP1) {
		on_run_end(a, c, &ev->last);
		if (c->n_pending) {
			/* Requests left without a response: the connection closed mid-exchange. */
			int i;

			for (i = 0; i < c->n_pending; i++)
				if (!c->pending[i]->has_response)
					c->pending[i]->end_ns = ev->head.ts_ns;
			finish_front(a, c, c->n_pending, true);
		}
	}
	conn_remove(a, c);
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

/*
 * A response whose end no record has told yet (a keep-alive connection gone quiet): ask the
 * kernel how its run stands. Once the run has been quiet for idle_close_ms, its last I/O was the
 * response's last byte.
 */
static void check_idle(struct assembler *a, struct conn *c, uint64_t now)
{
	struct sonde_conn_state ks;
	uint16_t resp_dir = c->role == SONDE_ROLE_SERVER ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
	uint64_t idle = (uint64_t)a->cfg->idle_close_ms * 1000000ULL;

	if (!a->state || !c->sock_key) {
		if (now - c->last_ns > idle) {
			c->resp.lost = true;
			response_done(a, c, c->last_ns);
		}
		return;
	}
	if (a->state(a->state_ctx, c->sock_key, &ks))
		return; /* gone: its close record is on the way */
	if (ks.conn_id != c->id || ks.run_seq != c->resp.run_seq || ks.run_dir != resp_dir)
		return; /* a later run started: its record is on the way */
	if (now > ks.run_last_ts && now - ks.run_last_ts > idle) {
		c->resp.body_remaining = 0;
		c->resp.chunked = false;
		c->resp.until_close = false;
		response_done(a, c, ks.run_last_ts);
	}
}

/*
 * A connection whose requests wait for a summarized response, quiet for idle_close_ms: the
 * kernel's state tells whether a response started (when no later record said so) and when its
 * run went idle. Only connections quiet that long cost the lookup.
 */
static void check_idle_lite(struct assembler *a, struct conn *c, uint64_t now)
{
	struct sonde_conn_state ks;
	uint16_t resp_dir = c->role == SONDE_ROLE_SERVER ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
	uint64_t idle = (uint64_t)a->cfg->idle_close_ms * 1000000ULL;

	if (!a->state || !c->sock_key || now < c->last_ns || now - c->last_ns <= idle)
		return;
	if (a->state(a->state_ctx, c->sock_key, &ks))
		return; /* gone: its close record is on the way */
	if (ks.conn_id != c->id || ks.run_dir != resp_dir || !ks.run_http1_status)
		return;
	lite_answer(a, c, ks.run_seq, ks.run_http1_status, ks.run_first_ts);
	if (now > ks.run_last_ts && now - ks.run_last_ts > idle)
		lite_end(a, c, ks.run_seq, ks.run_last_ts);
}

/* The same for a database connection whose decoder waits for an answer's end. */
static void check_idle_db(struct assembler *a, struct conn *c, uint64_t now)
{
	struct sonde_run_summary run = {0};
	struct sonde_conn_state ks;
	uint16_t resp_dir = c->role == SONDE_ROLE_SERVER ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
	uint64_t idle = (uint64_t)a->cfg->idle_close_ms * 1000000ULL;

	if (!c->resp.run_seq || c->resp.run_ended)
		return; /* no answer has started */
	run.dir = resp_dir;
	run.seq = c->resp.run_seq;
	if (!a->state || !c->sock_key) {
		if (now - c->last_ns > idle) {
			run.last_ts_ns = c->last_ns;
			run.bytes = c->resp.pos;
			db_run_end(a, c, &run);
		}
		return;
	}
	if (a->state(a->state_ctx, c->sock_key, &ks))
		return;
	if (ks.conn_id != c->id || ks.run_seq != c->resp.run_seq || ks.run_dir != resp_dir)
		return;
	if (now > ks.run_last_ts && now - ks.run_last_ts > idle) {
		run.first_ts_ns = ks.run_first_ts;
		run.last_ts_ns = ks.run_last_ts;
		run.bytes = ks.run_bytes;
		db_run_end(a, c, &run);
	}
}

#define THREAD_IDLE_NS (300ULL * 1000000000ULL)

void assembler__tick(struct assembler *a, uint64_t now)
{
	struct conn **p, *c;
	int i;

	/* The wall clock may be stepped or slewed (NTP, a VM resumed) while the agent runs: spans
	 * take its current offset from the monotonic clock, not the one it had at start. */
	a->mono_to_unix = clock_offset();

	if (now > THREAD_IDLE_NS && now - a->linker_expired_ns > 10ULL * 1000000000ULL) {
		linker__expire(a->linker, now - THREAD_IDLE_NS);
		a->linker_expired_ns = now;
	}

	for (i = 0; i < CONN_BUCKETS; i++) {
		p = &a->buckets[i];
		while ((c = *p)) {
			if (c->lite_open ||
			    (c->proto == PROTO_HTTP1 && c->n_pending > c->n_answered))
				check_idle_lite(a, c, now);
			if (c->n_answered && !c->lite_open)
				check_idle(a, c, now);
			else if (c->proto == PROTO_DB && c->dbd->waiting(c->db))
				check_idle_db(a, c, now);
			if (c->db_held && now > DB_LINK_WAIT_NS)
				db_release_held(a, c, now - DB_LINK_WAIT_NS, false);
			if (c->n_held) {
				int k = 0;

				while (k < c->n_held && c->held[k]->end_ns + HTTP_LINK_WAIT_NS < now)
					k++;
				held_release(a, c, k);
			}
			if (now > c->last_ns && now - c->last_ns > CONN_IDLE_EVICT_NS) {
				if (c->proto == PROTO_DB) {
					struct db_sink out = {emit_db_span, c};

					c->dbd->close(c->db, c->last_ns, &out);
					db_release_held(a, c, 0, true);
				}
				/* Silent for minutes with no close seen (the kernel's table may have
				 * evicted it): what is pending will not be answered here. */
				if (c->n_pending) {
					int i;

					for (i = 0; i < c->n_pending; i++)
						if (!c->pending[i]->has_response)
							c->pending[i]->end_ns = c->last_ns;
					finish_front(a, c, c->n_pending, true);
				}
				held_release(a, c, c->n_held);
				*p = c->next;
				a->st.conns_evicted++;
				conn_free(a, c);
				continue;
			}
			p = &c->next;
		}
	}
}

void assembler__flush(struct assembler *a)
{
	struct conn *c;
	int i;

	for (i = 0; i < CONN_BUCKETS; i++)
		for (c = a->buckets[i]; c; c = c->next) {
			if (c->n_answered)
				response_done(a, c, c->last_ns);
			if (c->proto == PROTO_DB && c->dbd->waiting(c->db) && c->resp.run_seq &&
			    !c->resp.run_ended) {
				struct sonde_run_summary run = {0};

				run.dir = c->role == SONDE_ROLE_SERVER ? SONDE_DIR_EGRESS
								       : SONDE_DIR_INGRESS;
				run.seq = c->resp.run_seq;
				run.bytes = c->resp.pos;
				run.last_ts_ns = c->last_ns;
				db_run_end(a, c, &run);
			}
			if (c->proto == PROTO_DB)
				db_release_held(a, c, 0, true);
			held_release(a, c, c->n_held);
		}
}
