// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The OTLP/HTTP protobuf exporter. A submitted span is encoded at once, while it is still in the
 * cache, and its bytes are queued in a bounded ring; full batches, or partial ones after
 * batch_delay_ms, are assembled from those bytes (and gzipped) into a request body, which
 * releases the spans, and POSTed through libcurl's multi socket API driven by the agent
 * loop, so no call here ever blocks. At most OTLP_INFLIGHT requests exist at a time; a request
 * waiting to be retried keeps its slot, which is what pushes back on a slow collector: the ring
 * fills and new spans are dropped and counted rather than memory growing. Retries follow the
 * OTLP/HTTP spec: only 429, 502, 503, 504 and transport failures, with Retry-After honoured and
 * jittered exponential backoff otherwise, until max_retry_ms after the first attempt.
 *
 * Accounting: spans_in == spans_exported + spans_dropped_full + spans_dropped_failed +
 * spans_queued whenever no callback is running. Spans a collector reports as rejected in
 * partial_success count in spans_rejected and, being lost, in spans_dropped_failed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>

#include <curl/curl.h>
#include <zlib.h>

#include "../self_conns.h"
#include "exporter_impl.h"
#include "otlp_encode.h"

#define OTLP_INFLIGHT 2
#define OTLP_RESP_MAX 4096
#define OTLP_MAX_SOCKS 16
/*
 * The byte ring shrinks by half when its use stayed under a quarter of it for a whole
 * BYTES_WINDOW_MS, down to BYTES_KEEP: a burst does not pin its memory for the agent's life, and
 * steady traffic, whose use goes up and down with every batch, does not make it shrink and grow
 * again (freeing it whenever it emptied cost CPU on every batch at saturation).
 */
#define BYTES_KEEP (256 * 1024)
#define BYTES_WINDOW_MS 10000

enum batch_state {
	BATCH_FREE,
	BATCH_SENDING,
	BATCH_WAITING, /* for its retry timer */
};

struct otlp_exporter;

/* One request slot: its easy handle is kept across requests so connections are reused. */
struct batch {
	struct otlp_exporter *x;
	CURL *easy;
	enum batch_state state;
	uint8_t *body;
	size_t len;
	uint32_t n_spans;
	unsigned int attempt;
	uint64_t first_ms;
	size_t resp_len;
	char resp[OTLP_RESP_MAX];
	char retry_after[64];
	char errbuf[CURL_ERROR_SIZE];
};

struct otlp_exporter {
	struct exporter base;
	const char *items_name; /* what its requests carry: "spans", "data points" */
	long last_status;	/* the collector's latest HTTP answer, 0: none yet */
	char *url;
	char *ca_file;
	bool insecure;
	bool gzip;
	uint32_t max_queue;
	uint32_t max_batch;
	uint32_t batch_delay_ms;
	uint32_t timeout_ms;
	uint32_t max_retry_ms;
	struct curl_slist *headers;
	CURLM *multi;

	/*
	 * Ring of encoded spans waiting for a request: entries in ring[], their bytes one after the
	 * other in the byte ring bytes[], which wraps like the entries do. Queued spans take their
	 * encoded size (a few hundred bytes for HTTP), not the size of a struct span (over 2 KiB),
	 * so the queue touches a fraction of the memory it did as a ring of spans.
	 */
	struct queued {
		struct resource *res; /* one reference */
		uint32_t off, len;
	} *ring;
	uint8_t *bytes;
	size_t bytes_cap;
	size_t bytes_used; /* the sum of the queued spans' lengths */
	size_t bytes_peak; /* the most bytes_used was in this window */
	uint64_t bytes_window_ms; /* when the window started */
	struct otlp_span_encoder *enc;
	struct otlp_encoded_span *items; /* max_batch: what send_batch() hands the assembler */
	uint32_t head;
	uint32_t count;
	uint32_t inflight_spans; /* encoded, in a request or waiting to retry */
	bool delay_armed;
	bool delay_due; /* the oldest queued span has waited batch_delay_ms */
	bool flushing;
	int socks[OTLP_MAX_SOCKS]; /* fds registered with the loop for curl, -1: unused */
	struct batch slots[OTLP_INFLIGHT];
};

void otlp_config__defaults(struct otlp_config *c)
{
	*c = (struct otlp_config){
		.gzip = true,
		.max_queue = 4096,
		.max_batch = 512,
		.batch_delay_ms = 1000,
		.timeout_ms = 10000,
		.max_retry_ms = 60000,
	};
}

static struct otlp_exporter *to_otlp(struct exporter *e)
{
	return (struct otlp_exporter *)e;
}

static void update_queued(struct otlp_exporter *x)
{
	x->base.stats.spans_queued = (uint64_t)x->count + x->inflight_spans;
}

static void pump(struct otlp_exporter *x);
static void check_multi(struct otlp_exporter *x);

static void on_batch_delay(struct loop *l, void *ctx)
{
	struct otlp_exporter *x = ctx;

	x->delay_armed = false;
	x->delay_due = true;
	pump(x);
}

/* Remember, or forget, an fd curl asked us to watch, so that freeing can unwatch stragglers. */
static void track_sock(struct otlp_exporter *x, int fd, bool add)
{
	int i;

	for (i = 0; i < OTLP_MAX_SOCKS; i++) {
		if (add && x->socks[i] < 0) {
			x->socks[i] = fd;
			return;
		}
		if (!add && x->socks[i] == fd) {
			x->socks[i] = -1;
			return;
		}
	}
}

static void on_sock(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct otlp_exporter *x = ctx;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(x->multi, fd, flags, &running);
	check_multi(x);
}

static int curl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct otlp_exporter *x = userp;
	uint32_t events = 0;
	int err;

	if (what == CURL_POLL_REMOVE) {
		if (socketp) {
			loop__del_fd(x->base.loop, s);
			track_sock(x, s, false);
			curl_multi_assign(x->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (socketp)
		err = loop__mod_fd(x->base.loop, s, events);
	else {
		err = loop__add_fd(x->base.loop, s, events, on_sock, x);
		if (!err) {
			track_sock(x, s, true);
			curl_multi_assign(x->multi, s, x);
		}
	}
	if (err)
		exporter__log("loop", err, "cannot watch the collector connection (fd %d): %s", s,
			      strerror(-err));
	return 0;
}

static void on_curl_timer(struct loop *l, void *ctx)
{
	struct otlp_exporter *x = ctx;
	int running;

	curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi(x);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct otlp_exporter *x = userp;

	/* Never call curl back from here: libcurl forbids it; the loop calls us back instead. */
	if (timeout_ms < 0)
		loop__cancel_timer(x->base.loop, on_curl_timer, x);
	else
		loop__arm_timer(x->base.loop, (uint64_t)timeout_ms, on_curl_timer, x);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct batch *b = userp;
	size_t n = size * nmemb, room = sizeof(b->resp) - b->resp_len;

	/* Only the start matters (partial_success, or an error text to log); skip the rest. */
	if (n < room)
		room = n;
	memcpy(b->resp + b->resp_len, data, room);
	b->resp_len += room;
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	static const char name[] = "retry-after:";
	struct batch *b = userp;
	size_t n = size * nmemb, len;
	const char *v, *end;

	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		v = data + sizeof(name) - 1;
		end = data + n;
		while (v < end && isspace((unsigned char)*v))
			v++;
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		len = end - v < (long)sizeof(b->retry_after) - 1 ? (size_t)(end - v)
								  : sizeof(b->retry_after) - 1;
		memcpy(b->retry_after, v, len);
		b->retry_after[len] = '\0';
	}
	return n;
}

static int gzip_body(struct batch *b)
{
	z_stream z = {};
	uint8_t *out;
	uLong bound;
	int ret;

	/* The fastest level: spans repeat their keys and values, so even level 1 compresses them
	 * well, and the default level took much of the agent's CPU in `make bench`. */
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, b->len);
	out = malloc(bound);
	if (!out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = b->body;
	z.avail_in = b->len;
	z.next_out = out;
	z.avail_out = bound;
	ret = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (ret != Z_STREAM_END) {
		free(out);
		return -EIO;
	}
	free(b->body);
	b->body = out;
	b->len = z.total_out;
	return 0;
}

static void release_batch(struct otlp_exporter *x, struct batch *b)
{
	free(b->body);
	b->body = NULL;
	b->len = 0;
	x->inflight_spans -= b->n_spans;
	b->n_spans = 0;
	b->state = BATCH_FREE;
	update_queued(x);
}

static void drop_batch(struct otlp_exporter *x, struct batch *b)
{
	x->base.stats.spans_dropped_failed += b->n_spans;
	release_batch(x, b);
}

static void start_request(struct otlp_exporter *x, struct batch *b)
{
	CURLMcode mc;

	b->resp_len = 0;
	b->retry_after[0] = '\0';
	b->errbuf[0] = '\0';
	curl_easy_setopt(b->easy, CURLOPT_POSTFIELDS, b->body);
	curl_easy_setopt(b->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
	mc = curl_multi_add_handle(x->multi, b->easy);
	if (mc != CURLM_OK) {
		exporter__log("curl_add", mc, "cannot start an OTLP request: %s; dropping %u %s",
			      curl_multi_strerror(mc), b->n_spans, x->items_name);
		drop_batch(x, b);
		return;
	}
	b->state = BATCH_SENDING;
	x->base.stats.requests++;
}

/* Where len bytes go in the byte ring, after the newest queued span; -1 when they do not fit. */
static int64_t bytes_place(const struct otlp_exporter *x, size_t len)
{
	const struct queued *oldest, *newest;
	size_t end;

	if (!x->count)
		return len <= x->bytes_cap ? 0 : -1;
	oldest = &x->ring[x->head];
	newest = &x->ring[(x->head + x->count - 1) % x->max_queue];
	end = (size_t)newest->off + newest->len;
	if (newest->off >= oldest->off) {
		/* Not wrapped: free after the newest, then before the oldest. */
		if (x->bytes_cap - end >= len)
			return end;
		return oldest->off >= len ? 0 : -1;
	}
	/* Wrapped: free between the newest and the oldest. */
	return oldest->off - end >= len ? (int64_t)end : -1;
}

/* A byte ring of cap bytes (cap holds the queued spans), the spans moved to its start in order. */
static int bytes_resize(struct otlp_exporter *x, size_t cap)
{
	size_t used = 0;
	uint8_t *nb;
	uint32_t i;

	nb = malloc(cap);
	if (!nb)
		return -ENOMEM;
	for (i = 0; i < x->count; i++) {
		struct queued *q = &x->ring[(x->head + i) % x->max_queue];

		memcpy(nb + used, x->bytes + q->off, q->len);
		q->off = used;
		used += q->len;
	}
	free(x->bytes);
	x->bytes = nb;
	x->bytes_cap = cap;
	return 0;
}

/*
 * A byte ring large enough for the queued spans and need bytes more. It starts small and grows to
 * what the traffic keeps queued: a ring's pages are all touched as it turns, so its size, not its
 * fill, is what it costs in memory.
 */
static int bytes_grow(struct otlp_exporter *x, size_t need)
{
	size_t cap = x->bytes_cap ? 2 * x->bytes_cap : 64 * 1024;

	while (cap < x->bytes_used + need + need / 2)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	return bytes_resize(x, cap);
}

/* At the end of each window: half the ring back when under a quarter of it was used. */
static void bytes_maybe_shrink(struct otlp_exporter *x)
{
	uint64_t now = loop__now_ms();

	if (now - x->bytes_window_ms < BYTES_WINDOW_MS)
		return;
	/* The old block goes back to the kernel: main() keeps large blocks mmapped. A failed
	 * malloc leaves the ring as it was. */
	if (x->bytes_cap > BYTES_KEEP && x->bytes_peak < x->bytes_cap / 4)
		bytes_resize(x, x->bytes_cap / 2);
	x->bytes_peak = x->bytes_used;
	x->bytes_window_ms = now;
}

/* Assemble the oldest min(count, max_batch) spans into b's body and release them. */
static void send_batch(struct otlp_exporter *x, struct batch *b)
{
	uint32_t n = x->count < x->max_batch ? x->count : x->max_batch, i;
	int err;

	for (i = 0; i < n; i++) {
		const struct queued *q = &x->ring[(x->head + i) % x->max_queue];

		x->items[i].res = q->res;
		x->items[i].bytes = x->bytes + q->off;
		x->items[i].len = q->len;
	}
	err = otlp__assemble(x->items, n, &b->body, &b->len);
	for (i = 0; i < n; i++) {
		struct queued *q = &x->ring[(x->head + i) % x->max_queue];

		resource__put(q->res);
		q->res = NULL;
		x->bytes_used -= q->len;
	}
	x->head = (x->head + n) % x->max_queue;
	x->count -= n;
	x->inflight_spans += n;
	bytes_maybe_shrink(x);
	b->n_spans = n;
	b->attempt = 0;
	b->first_ms = loop__now_ms();
	if (!err && x->gzip)
		err = gzip_body(b);
	if (err) {
		exporter__log("encode", err, "cannot encode %u spans for OTLP: %s; dropping them",
			      n, strerror(-err));
		drop_batch(x, b);
		return;
	}
	start_request(x, b);
}

/* Send what is ready on free slots; arm the batch delay for what must wait. */
static void pump(struct otlp_exporter *x)
{
	int i;

	for (i = 0; i < OTLP_INFLIGHT && x->count; i++) {
		if (x->slots[i].state != BATCH_FREE)
			continue;
		if (x->count < x->max_batch && !x->delay_due && !x->flushing)
			break;
		send_batch(x, &x->slots[i]);
	}
	if (!x->count) {
		x->delay_due = false;
		if (x->delay_armed) {
			loop__cancel_timer(x->base.loop, on_batch_delay, x);
			x->delay_armed = false;
		}
	} else if (!x->delay_armed && !x->delay_due) {
		loop__arm_timer(x->base.loop, x->batch_delay_ms, on_batch_delay, x);
		x->delay_armed = true;
	}
	update_queued(x);
}

static void on_retry(struct loop *l, void *ctx)
{
	struct batch *b = ctx;

	b->x->base.stats.retries++;
	start_request(b->x, b);
}

/* Transport failures worth retrying; bad URLs and certificate problems will not heal. */
static bool transport_is_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_OUT_OF_MEMORY:
		return false;
	default:
		return true;
	}
}

/* A log-safe copy of the start of an error body, which may be text or protobuf. */
static void printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	if (len > size - 1)
		len = size - 1;
	for (i = 0; i < len; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '.';
	dst[len] = '\0';
}

static void schedule_retry(struct otlp_exporter *x, struct batch *b, const char *why)
{
	uint64_t now = loop__now_ms(), delay, rnd;
	int64_t ra = -1;
	uint8_t r[8];

	b->attempt++;
	if (b->retry_after[0])
		ra = otlp__parse_retry_after(b->retry_after, time(NULL));
	if (ra >= 0) {
		delay = (uint64_t)ra;
	} else {
		span__new_span_id(r);
		memcpy(&rnd, r, sizeof(rnd));
		delay = otlp__backoff_ms(b->attempt, rnd);
	}
	if (now + delay - b->first_ms > x->max_retry_ms) {
		exporter__log("giveup", 0,
			      "dropping %u %s: the collector at %s still fails (%s) after %u "
			      "attempts over %llu ms; raise max_retry_ms or fix the collector",
			      b->n_spans, x->items_name, x->url, why, b->attempt,
			      (unsigned long long)(now - b->first_ms));
		drop_batch(x, b);
		return;
	}
	b->state = BATCH_WAITING;
	loop__arm_timer(x->base.loop, delay, on_retry, b);
}

static void on_done(struct otlp_exporter *x, struct batch *b, CURLcode rc)
{
	char why[CURL_ERROR_SIZE + 16], text[129];
	long status = 0;

	curl_multi_remove_handle(x->multi, b->easy);
	if (rc != CURLE_OK) {
		x->base.stats.errors_transport++;
		snprintf(why, sizeof(why), "%s", b->errbuf[0] ? b->errbuf : curl_easy_strerror(rc));
		if (!transport_is_retryable(rc)) {
			exporter__log("transport", rc,
				      "dropping %u %s: cannot export to %s: %s; check the URL, "
				      "the CA file or the collector's certificate",
				      b->n_spans, x->items_name, x->url, why);
			drop_batch(x, b);
			return;
		}
		exporter__log("transport", rc,
			      "cannot export to %s: %s; retrying. Is the collector running and the "
			      "endpoint right?",
			      x->url, why);
		schedule_retry(x, b, why);
		return;
	}
	curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
	x->last_status = status;
	if (status >= 200 && status < 300) {
		int64_t rejected = 0;
		char msg[256];

		if (otlp__decode_response((const uint8_t *)b->resp, b->resp_len, &rejected, msg,
					  sizeof(msg)) < 0)
			exporter__log("resp", 0,
				      "the collector at %s answered %ld with a body that is not an "
				      "OTLP ExportTraceServiceResponse; assuming success",
				      x->url, status);
		if (rejected < 0)
			rejected = 0;
		if ((uint64_t)rejected > b->n_spans)
			rejected = b->n_spans;
		if (rejected || msg[0])
			exporter__log("partial", 0,
				      "the collector at %s rejected %lld of %u %s: %s", x->url,
				      (long long)rejected, b->n_spans, x->items_name,
				      msg[0] ? msg : "no message");
		x->base.stats.spans_rejected += rejected;
		x->base.stats.spans_dropped_failed += rejected;
		x->base.stats.spans_exported += b->n_spans - rejected;
		release_batch(x, b);
		return;
	}
	x->base.stats.errors_http++;
	printable(text, sizeof(text), b->resp, b->resp_len);
	snprintf(why, sizeof(why), "HTTP %ld", status);
	if (otlp__status_is_retryable(status)) {
		exporter__log("http", status, "the collector at %s answered HTTP %ld: %s; retrying",
			      x->url, status, text);
		schedule_retry(x, b, why);
		return;
	}
	exporter__log("http", status,
		      "dropping %u %s: the collector at %s answered HTTP %ld, which is not "
		      "retryable: %s",
		      b->n_spans, x->items_name, x->url, status, text);
	drop_batch(x, b);
}

static void check_multi(struct otlp_exporter *x)
{
	bool finished = false;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(x->multi, &left))) {
		struct batch *b = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&b);
		/* on_done removes the handle, which invalidates m: copy the result first. */
		on_done(x, b, m->data.result);
		finished = true;
	}
	if (finished)
		pump(x);
}

static int otlp_submit(struct exporter *e, const struct span *s)
{
	struct otlp_exporter *x = to_otlp(e);
	struct queued *q;
	const uint8_t *enc;
	size_t len;
	int64_t at;
	int err;

	e->stats.spans_in++;
	if (x->count + x->inflight_spans >= x->max_queue) {
		e->stats.spans_dropped_full++;
		return -ENOSPC;
	}
	err = otlp__span_encode(x->enc, s, &enc, &len);
	if (!err) {
		at = bytes_place(x, len);
		if (at < 0) {
			err = bytes_grow(x, len);
			at = err ? -1 : bytes_place(x, len);
		}
		if (!err && at < 0)
			err = -ENOMEM; /* cannot be: a grown ring has room after its spans */
	}
	if (err) {
		e->stats.spans_dropped_failed++;
		exporter__log("encode", err, "cannot encode a span for OTLP: %s; dropping it",
			      strerror(-err));
		return err;
	}
	q = &x->ring[(x->head + x->count) % x->max_queue];
	memcpy(x->bytes + at, enc, len);
	q->off = (uint32_t)at;
	q->len = (uint32_t)len;
	q->res = resource__get(s->res);
	x->bytes_used += len;
	if (x->bytes_used > x->bytes_peak)
		x->bytes_peak = x->bytes_used;
	x->count++;
	if (x->count >= x->max_batch || !x->delay_armed)
		pump(x);
	else
		update_queued(x);
	return 0;
}

static void otlp_flush(struct exporter *e, uint64_t deadline_ms)
{
	struct otlp_exporter *x = to_otlp(e);
	uint64_t now;

	x->flushing = true;
	pump(x);
	while (deadline_ms && x->count + x->inflight_spans) {
		now = loop__now_ms();
		if (now >= deadline_ms)
			break;
		loop__run_once(e->loop, deadline_ms - now < 100 ? (int)(deadline_ms - now) : 100);
		pump(x);
	}
	x->flushing = false;
}

static void otlp_free(struct exporter *e)
{
	struct otlp_exporter *x = to_otlp(e);
	uint32_t i;

	loop__cancel_timer(e->loop, on_batch_delay, x);
	loop__cancel_timer(e->loop, on_curl_timer, x);
	for (i = 0; i < OTLP_INFLIGHT; i++) {
		struct batch *b = &x->slots[i];

		loop__cancel_timer(e->loop, on_retry, b);
		if (b->state == BATCH_SENDING)
			curl_multi_remove_handle(x->multi, b->easy);
		if (b->easy)
			curl_easy_cleanup(b->easy);
		free(b->body);
	}
	if (x->multi)
		curl_multi_cleanup(x->multi);
	/* Connections closed by the cleanup may not have been reported through curl_sock_cb. */
	for (i = 0; i < OTLP_MAX_SOCKS; i++)
		if (x->socks[i] >= 0)
			loop__del_fd(e->loop, x->socks[i]);
	for (i = 0; i < x->count; i++)
		resource__put(x->ring[(x->head + i) % x->max_queue].res);
	free(x->ring);
	free(x->bytes);
	free(x->items);
	otlp__span_encoder_free(x->enc);
	curl_slist_free_all(x->headers);
	free(x->url);
	free(x->ca_file);
	free(x);
}

static uint64_t otlp_room(const struct exporter *e)
{
	const struct otlp_exporter *x = (const struct otlp_exporter *)e;
	uint32_t used = x->count + x->inflight_spans;

	return used < x->max_queue ? x->max_queue - used : 0;
}

static const struct exporter_ops otlp_ops = {
	.name = "otlp",
	.submit = otlp_submit,
	.flush = otlp_flush,
	.room = otlp_room,
	.free = otlp_free,
};

/* The metrics exporter takes whole requests (otlp_exporter__post), never spans. */
static int otlp_no_spans(struct exporter *e, const struct span *s)
{
	return -EINVAL;
}

static const struct exporter_ops otlp_metrics_ops = {
	.name = "otlp-metrics",
	.submit = otlp_no_spans,
	.flush = otlp_flush,
	.free = otlp_free,
};

long otlp_exporter__last_status(const struct exporter *e)
{
	return ((const struct otlp_exporter *)e)->last_status;
}

int otlp_exporter__post(struct exporter *e, uint8_t *body, size_t len, uint32_t n_items)
{
	struct otlp_exporter *x = to_otlp(e);
	struct batch *b = NULL;
	int i, err;

	e->stats.spans_in += n_items;
	for (i = 0; i < OTLP_INFLIGHT && !b; i++)
		if (x->slots[i].state == BATCH_FREE)
			b = &x->slots[i];
	if (!b) { /* every slot still sending or waiting to retry an older request */
		e->stats.spans_dropped_full += n_items;
		free(body);
		return -ENOSPC;
	}
	b->body = body;
	b->len = len;
	b->n_spans = n_items;
	b->attempt = 0;
	b->first_ms = loop__now_ms();
	x->inflight_spans += n_items;
	if (x->gzip && (err = gzip_body(b))) {
		exporter__log("encode", err, "cannot compress %u %s: %s; dropping them", n_items,
			      x->items_name, strerror(-err));
		drop_batch(x, b);
		return err;
	}
	start_request(x, b);
	update_queued(x);
	return 0;
}

static void add_header(const char *key, const char *val, void *ctx)
{
	struct curl_slist **list = ctx, *n;
	char *line;

	if (asprintf(&line, "%s: %s", key, val) < 0)
		return;
	n = curl_slist_append(*list, line);
	free(line);
	if (n)
		*list = n;
}

static void bad_header(const char *pair, void *ctx)
{
	fprintf(stderr,
		"sonde: ignoring the OTLP header \"%s\": write it as key=value, with ',' and "
		"control characters in the value percent-encoded\n",
		pair);
}


/*
 * Called once a connection is up, before the request goes out: the collector's side of it must
 * not be traced (see self_conns.h), and its first bytes are read only after this.
 */
static int on_connected(void *ctx, char *conn_primary_ip, char *conn_local_ip,
			int conn_primary_port, int conn_local_port)
{
	self_conns__add((uint16_t)conn_local_port, (uint16_t)conn_primary_port);
	return CURL_PREREQFUNC_OK;
}

static int setup_easy(struct otlp_exporter *x, struct batch *b)
{
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	b->easy = c;
	b->x = x;
	curl_easy_setopt(c, CURLOPT_URL, x->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sonde/" SONDE_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(x->timeout_ms < 5000 ? x->timeout_ms : 5000));
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, b->errbuf);
	curl_easy_setopt(c, CURLOPT_PRIVATE, b);
	/* Redirects would replay span data to wherever the server points; OTLP needs none. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_connected);
	if (x->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (x->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, x->ca_file);
	return 0;
}

struct exporter *otlp_exporter__new(struct loop *l, const struct otlp_config *c)
{
	static bool curl_ready;
	struct otlp_exporter *x;
	struct curl_slist *h = NULL;
	int i, err = -ENOMEM;

	if (!c->url || (strncasecmp(c->url, "http://", 7) && strncasecmp(c->url, "https://", 8))) {
		fprintf(stderr,
			"sonde: the OTLP endpoint \"%s\" is not an http:// or https:// URL; give "
			"the full traces URL, e.g. http://127.0.0.1:4318/v1/traces\n",
			c->url ? c->url : "");
		errno = EINVAL;
		return NULL;
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "sonde: cannot initialise libcurl; is libcurl installed "
					"with its TLS library?\n");
			errno = ENOMEM;
			return NULL;
		}
		curl_ready = true;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		goto err;
	x->base.ops = c->metrics ? &otlp_metrics_ops : &otlp_ops;
	x->base.loop = l;
	x->items_name = c->metrics ? "data points" : "spans";
	for (i = 0; i < OTLP_MAX_SOCKS; i++)
		x->socks[i] = -1;
	x->insecure = c->insecure;
	x->gzip = c->gzip;
	x->max_queue = c->max_queue ? c->max_queue : 4096;
	x->max_batch = c->max_batch ? c->max_batch : 512;
	if (x->max_batch > x->max_queue)
		x->max_batch = x->max_queue;
	x->batch_delay_ms = c->batch_delay_ms;
	x->timeout_ms = c->timeout_ms ? c->timeout_ms : 10000;
	x->max_retry_ms = c->max_retry_ms;
	x->url = strdup(c->url);
	x->ca_file = c->ca_file ? strdup(c->ca_file) : NULL;
	x->ring = malloc((size_t)x->max_queue * sizeof(*x->ring));
	x->items = malloc((size_t)x->max_batch * sizeof(*x->items));
	x->enc = otlp__span_encoder_new();
	x->multi = curl_multi_init();
	if (!x->url || (c->ca_file && !x->ca_file) || !x->ring || !x->items || !x->enc ||
	    !x->multi)
		goto err;

	h = curl_slist_append(h, "Content-Type: application/x-protobuf");
	/* No "Expect: 100-continue" round trip before large bodies. */
	if (h)
		h = curl_slist_append(h, "Expect:");
	if (h && x->gzip)
		h = curl_slist_append(h, "Content-Encoding: gzip");
	if (!h)
		goto err;
	x->headers = h;
	if (otlp__parse_headers(c->headers, add_header, bad_header, &x->headers) < 0)
		goto err;

	curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
	for (i = 0; i < OTLP_INFLIGHT; i++) {
		err = setup_easy(x, &x->slots[i]);
		if (err)
			goto err;
	}
	return &x->base;
err:
	fprintf(stderr, "sonde: cannot create the OTLP exporter: %s\n", strerror(-err));
	if (x)
		otlp_free(&x->base);
	errno = -err;
	return NULL;
}
