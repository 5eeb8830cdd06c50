// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Pod metadata from the Kubernetes API server. The watcher lists the pods of this node
 * (fieldSelector=spec.nodeName), then watches them from the list's resourceVersion, keeps them
 * in a pod table, lists again when the server says the version is gone (410), and reconnects
 * with a growing delay on any other error. Everything it does is optional: without a token, or
 * with the API server down, spans go on without k8s.* attributes and the watcher retries.
 *
 * Why a thread with blocking libcurl rather than the event loop's libcurl multi: the watch is
 * one response that never ends, read line by line, and the owner lookups (GET a ReplicaSet or
 * a Job) happen in the middle of applying an event; as sequential code on its own thread this
 * stays simple, and nothing it does (a slow API server, DNS, a TLS handshake, parsing a large
 * list) can delay the loop that drains the ring buffers. The only shared state is the pod
 * table, behind a mutex held for copies only, and its generation counter, read lock-free.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cidr.h"
#include "k8s.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount/"
#define LIST_PAGE 100			 /* pods per list request */
#define LIST_BODY_MAX (32u << 20)	 /* one list page at most */
#define WATCH_LINE_MAX (4u << 20)	 /* one watch event at most */
#define MAX_TOKENS (2 << 20)		 /* JSON values in one page or event at most */
#define WATCH_TIMEOUT_S 290		 /* the server ends a watch after this; we re-watch */
#define TOKEN_REREAD_MS 60000		 /* projected service-account tokens rotate */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define DENIED_RETRY_MS (10 * 60 * 1000) /* after a 403 on owners, ask again this much later */
#define OWNER_CACHE 256

/* ------------------------------------------------------------------ Pod objects (pure) */

/* Copy a JSON string into a fixed field; one that does not fit stays empty, never cut. */
static void jcopy(const char *text, const struct json_tok *toks, int i, char *out, size_t sz)
{
	if (json_str(text, toks, i, out, sz) < 0)
		out[0] = 0;
}

int k8s_owner_parse(const char *text, const struct json_tok *toks, int obj, char *kind,
		    size_t kind_sz, char *name, size_t name_sz)
{
	int refs = json_get(text, toks, json_get(text, toks, obj, "metadata"), "ownerReferences");
	int r, pick = -1;

	for (r = json_first(toks, refs); r >= 0; r = json_next(toks, refs, r)) {
		if (toks[r].type != JSON_OBJECT)
			continue;
		if (pick < 0)
			pick = r;
		if (json_bool(text, toks, json_get(text, toks, r, "controller"), false)) {
			pick = r;
			break;
		}
	}
	if (pick < 0)
		return -ENOENT;
	jcopy(text, toks, json_get(text, toks, pick, "kind"), kind, kind_sz);
	jcopy(text, toks, json_get(text, toks, pick, "name"), name, name_sz);
	return kind[0] && name[0] ? 0 : -ENOENT;
}

/* "containerd://<id>", "cri-o://<id>", "docker://<id>": the id after the scheme. */
static void add_containers(const char *text, const struct json_tok *toks, int list,
			   struct k8s_pod *pod)
{
	char full[96];
	const char *id;
	int c;

	for (c = json_first(toks, list); c >= 0 && pod->n_containers < K8S_MAX_CONTAINERS;
	     c = json_next(toks, list, c)) {
		struct k8s_container *kc = &pod->containers[pod->n_containers];

		if (json_str(text, toks, json_get(text, toks, c, "containerID"), full,
			     sizeof(full)) <= 0)
			continue; /* not started yet: no id */
		id = strstr(full, "://");
		id = id ? id + 3 : full;
		if (strlen(id) >= sizeof(kc->id))
			continue;
		strcpy(kc->id, id);
		jcopy(text, toks, json_get(text, toks, c, "name"), kc->name, sizeof(kc->name));
		pod->n_containers++;
	}
}

int k8s_pod_parse(const char *text, const struct json_tok *toks, int obj, struct k8s_pod *pod)
{
	int md, labels, spec, status;

	memset(pod, 0, sizeof(*pod));
	md = json_get(text, toks, obj, "metadata");
	jcopy(text, toks, json_get(text, toks, md, "name"), pod->meta.pod_name,
	      sizeof(pod->meta.pod_name));
	jcopy(text, toks, json_get(text, toks, md, "uid"), pod->meta.pod_uid,
	      sizeof(pod->meta.pod_uid));
	if (!pod->meta.pod_name[0] || !pod->meta.pod_uid[0])
		return -EINVAL;
	jcopy(text, toks, json_get(text, toks, md, "namespace"), pod->meta.namespace_name,
	      sizeof(pod->meta.namespace_name));
	jcopy(text, toks, json_get(text, toks, md, "resourceVersion"), pod->resource_version,
	      sizeof(pod->resource_version));
	labels = json_get(text, toks, md, "labels");
	jcopy(text, toks, json_get(text, toks, labels, "app.kubernetes.io/name"),
	      pod->meta.app_name, sizeof(pod->meta.app_name));
	/* the older convention, when the recommended label is absent */
	if (!pod->meta.app_name[0])
		jcopy(text, toks, json_get(text, toks, labels, "app"), pod->meta.app_name,
		      sizeof(pod->meta.app_name));
	jcopy(text, toks, json_get(text, toks, labels, "pod-template-hash"), pod->template_hash,
	      sizeof(pod->template_hash));
	if (k8s_owner_parse(text, toks, obj, pod->owner_kind, sizeof(pod->owner_kind),
			    pod->owner_name, sizeof(pod->owner_name)))
		pod->owner_kind[0] = pod->owner_name[0] = 0;
	spec = json_get(text, toks, obj, "spec");
	jcopy(text, toks, json_get(text, toks, spec, "nodeName"), pod->meta.node_name,
	      sizeof(pod->meta.node_name));
	status = json_get(text, toks, obj, "status");
	add_containers(text, toks, json_get(text, toks, status, "containerStatuses"), pod);
	add_containers(text, toks, json_get(text, toks, status, "initContainerStatuses"), pod);
	add_containers(text, toks, json_get(text, toks, status, "ephemeralContainerStatuses"), pod);
	return 0;
}

/* The characters of a pod-template-hash (the Deployment controller's safe alphabet). */
/* The string at toks[i], when it is a valid address range, into out unless it is there. */
static void range_add(const char *text, const struct json_tok *toks, int i,
		      char out[][K8S_RANGE_LEN], int max, int *n, bool *full)
{
	char r[K8S_RANGE_LEN];
	struct cidr c;
	bool all = false;
	int k, one = 0;

	if (i < 0 || json_str(text, toks, i, r, sizeof(r)) <= 0 || !strchr(r, '/') ||
	    cidr__parse_list(r, &c, 1, &one, &all, NULL, NULL, 0) || all)
		return;
	for (k = 0; k < *n; k++)
		if (!strcmp(out[k], r))
			return;
	if (*n < max)
		memcpy(out[(*n)++], r, sizeof(r));
	else
		*full = true;
}

/* Each string of the array at toks[arr] (none when arr is not one). */
static void ranges_add(const char *text, const struct json_tok *toks, int arr,
		       char out[][K8S_RANGE_LEN], int max, int *n, bool *full)
{
	int e;

	if (arr < 0 || toks[arr].type != JSON_ARRAY)
		return;
	for (e = json_first(toks, arr); e >= 0; e = json_next(toks, arr, e))
		range_add(text, toks, e, out, max, n, full);
}

int k8s_ranges_parse(const char *text, const struct json_tok *toks, int list,
		     char out[][K8S_RANGE_LEN], int max, int *n, bool *full)
{
	int items = json_get(text, toks, list, "items"), it, spec, before = *n;

	if (items < 0 || toks[items].type != JSON_ARRAY)
		return 0;
	for (it = json_first(toks, items); it >= 0; it = json_next(toks, items, it)) {
		spec = json_get(text, toks, it, "spec");
		if (spec < 0)
			continue;
		ranges_add(text, toks, json_get(text, toks, spec, "podCIDRs"), out, max, n, full);
		range_add(text, toks, json_get(text, toks, spec, "podCIDR"), out, max, n, full);
		ranges_add(text, toks, json_get(text, toks, spec, "cidrs"), out, max, n, full);
		range_add(text, toks, json_get(text, toks, spec, "cidr"), out, max, n, full);
	}
	return *n - before;
}

static bool is_template_hash(const char *s, size_t n)
{
	size_t i;

	if (n < 5 || n > 10)
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("bcdfghjklmnpqrstvwxz2456789", s[i]))
			return false;
	return true;
}

void k8s_pod_owner_by_name(struct k8s_pod *pod)
{
	struct k8s_meta *m = &pod->meta;
	const char *name = pod->owner_name, *dash = strrchr(name, '-');
	size_t pre = dash ? (size_t)(dash - name) : 0, i, n;

	if (!strcmp(pod->owner_kind, "ReplicaSet")) {
		snprintf(m->replicaset, sizeof(m->replicaset), "%s", name);
		/* "<deployment>-<hash>": the pod's own label names the hash when it has one */
		if (dash && pre && (pod->template_hash[0] ? !strcmp(dash + 1, pod->template_hash)
							  : is_template_hash(dash + 1, strlen(dash + 1))))
			snprintf(m->deployment, sizeof(m->deployment), "%.*s", (int)pre, name);
	} else if (!strcmp(pod->owner_kind, "StatefulSet")) {
		snprintf(m->statefulset, sizeof(m->statefulset), "%s", name);
	} else if (!strcmp(pod->owner_kind, "DaemonSet")) {
		snprintf(m->daemonset, sizeof(m->daemonset), "%s", name);
	} else if (!strcmp(pod->owner_kind, "Job")) {
		snprintf(m->job, sizeof(m->job), "%s", name);
		/* a CronJob names its Jobs "<cronjob>-<scheduled time in minutes>": 8+ digits */
		n = dash ? strlen(dash + 1) : 0;
		for (i = 0; i < n && isdigit((unsigned char)dash[1 + i]); i++)
			;
		if (dash && pre && n >= 8 && i == n)
			snprintf(m->cronjob, sizeof(m->cronjob), "%.*s", (int)pre, name);
	}
}

const char *k8s_meta_workload(const struct k8s_meta *m)
{
	if (m->deployment[0])
		return m->deployment;
	if (m->statefulset[0])
		return m->statefulset;
	if (m->daemonset[0])
		return m->daemonset;
	if (m->cronjob[0])
		return m->cronjob;
	if (m->job[0])
		return m->job;
	return NULL;
}

/* ------------------------------------------------------------------ the pod table */

#define POD_BUCKETS 512

struct pod_node {
	struct pod_node *next;
	bool seen; /* by the list in progress */
	struct k8s_pod pod;
};

struct k8s_pods {
	pthread_mutex_t lock;
	struct pod_node *buckets[POD_BUCKETS];
	int count;
	uint64_t revs;
	_Atomic uint64_t generation;
};

static unsigned int hash_str(const char *s)
{
	unsigned int h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % POD_BUCKETS;
}

struct k8s_pods *k8s_pods__new(void)
{
	struct k8s_pods *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void k8s_pods__free(struct k8s_pods *t)
{
	struct pod_node *n, *next;
	int i;

	if (!t)
		return;
	for (i = 0; i < POD_BUCKETS; i++)
		for (n = t->buckets[i]; n; n = next) {
			next = n->next;
			free(n);
		}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct pod_node **find_slot(struct k8s_pods *t, const char *uid)
{
	struct pod_node **slot = &t->buckets[hash_str(uid)];

	while (*slot && strcmp((*slot)->pod.meta.pod_uid, uid))
		slot = &(*slot)->next;
	return slot;
}

int k8s_pods__upsert(struct k8s_pods *t, const struct k8s_pod *pod)
{
	struct pod_node **slot, *n;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	slot = find_slot(t, pod->meta.pod_uid);
	n = *slot;
	if (!n) {
		if (t->count >= K8S_MAX_PODS || !(n = calloc(1, sizeof(*n)))) {
			err = -ENOSPC;
			goto out;
		}
		*slot = n;
		t->count++;
	}
	n->pod = *pod;
	n->pod.meta.rev = ++t->revs;
	n->seen = true;
	atomic_fetch_add(&t->generation, 1);
out:
	pthread_mutex_unlock(&t->lock);
	return err;
}

void k8s_pods__delete(struct k8s_pods *t, const char *uid)
{
	struct pod_node **slot, *n;

	pthread_mutex_lock(&t->lock);
	slot = find_slot(t, uid);
	if ((n = *slot)) {
		*slot = n->next;
		free(n);
		t->count--;
		atomic_fetch_add(&t->generation, 1);
	}
	pthread_mutex_unlock(&t->lock);
}

void k8s_pods__begin_list(struct k8s_pods *t)
{
	struct pod_node *n;
	int i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < POD_BUCKETS; i++)
		for (n = t->buckets[i]; n; n = n->next)
			n->seen = false;
	pthread_mutex_unlock(&t->lock);
}

int k8s_pods__end_list(struct k8s_pods *t)
{
	struct pod_node **slot, *n;
	int i, dropped = 0;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < POD_BUCKETS; i++) {
		slot = &t->buckets[i];
		while ((n = *slot)) {
			if (n->seen) {
				slot = &n->next;
				continue;
			}
			*slot = n->next;
			free(n);
			t->count--;
			dropped++;
		}
	}
	if (dropped)
		atomic_fetch_add(&t->generation, 1);
	pthread_mutex_unlock(&t->lock);
	return dropped;
}

int k8s_pods__count(struct k8s_pods *t)
{
	int n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* The container of pod with id cid, or NULL. */
static const struct k8s_container *find_container(const struct k8s_pod *pod, const char *cid)
{
	int i;

	for (i = 0; cid && *cid && i < pod->n_containers; i++)
		if (!strcmp(pod->containers[i].id, cid))
			return &pod->containers[i];
	return NULL;
}

bool k8s_pods__lookup(struct k8s_pods *t, const char *pod_uid, const char *container_id,
		      struct k8s_meta *out)
{
	const struct k8s_container *c = NULL;
	struct pod_node *n = NULL;
	int i;

	pthread_mutex_lock(&t->lock);
	if (pod_uid && *pod_uid) {
		n = *find_slot(t, pod_uid);
		if (n)
			c = find_container(&n->pod, container_id);
	} else if (container_id && *container_id) {
		/* no pod uid in the cgroup path (rare layouts): search every pod */
		for (i = 0; i < POD_BUCKETS && !c; i++)
			for (n = t->buckets[i]; n && !(c = find_container(&n->pod, container_id));
			     n = n->next)
				;
	}
	if (n) {
		*out = n->pod.meta;
		/* the rev tells a new container name apart too: part of what the caller compares */
		if (c)
			snprintf(out->container_name, sizeof(out->container_name), "%s", c->name);
		else
			out->container_name[0] = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return n != NULL;
}

uint64_t k8s_pods__generation(struct k8s_pods *t)
{
	return atomic_load(&t->generation);
}

/* ------------------------------------------------------------------ the watcher */

struct owner_entry {
	char key[16 + 64 + K8S_NAME]; /* "<kind>/<namespace>/<name>" */
	char kind[32];		      /* the owner's owner; "" when it has none */
	char name[K8S_NAME];
};

struct body {
	char *buf;
	size_t len, cap, max;
	bool too_big;
};

struct k8s_watcher {
	struct k8s_pods *pods;
	pthread_t thread;
	pthread_mutex_t lock; /* with cond: the backoff sleep that stop interrupts */
	pthread_cond_t cond;
	atomic_bool stop;
	bool verbose;
	char *api;
	char *node_q; /* the node name, URL-escaped */
	char node[K8S_NAME];
	char *token_file;
	char *ca_file;
	char token[8192];
	bool token_warned;
	uint64_t token_read_ms;
	CURL *curl; /* list and watch */
	CURL *get;  /* owner lookups, while a watch response is being read */
	char rv[64];
	int backoff_ms;
	char last_warning[256];
	uint64_t last_warning_ms;
	bool failing;
	uint64_t rs_denied_ms, job_denied_ms;
	struct owner_entry owners[OWNER_CACHE];
	int owners_next;
	/* the watch response being read */
	struct body line;
	struct body errbody;
	bool gone;	  /* the server said our resourceVersion is too old */
	int stream_err;	  /* a bad event: stop reading, list again */
	int events;
	/* --tcp-option-to cluster: read once at start (fetch_ranges) */
	char ranges[K8S_MAX_RANGES][K8S_RANGE_LEN];
	int n_ranges;
	bool ranges_full;    /* ... and there were more */
	bool ranges_private; /* the pod or the service ranges were not found, or ranges_full */
	char ranges_list[K8S_MAX_RANGES * K8S_RANGE_LEN];
	char ranges_note[768];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A warning, but the same one at most once a minute: a server down for hours is one line a minute. */
__attribute__((format(printf, 2, 3)))
static void warn(struct k8s_watcher *w, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	uint64_t now = now_ms();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->failing = true;
	if (!strcmp(msg, w->last_warning) && now - w->last_warning_ms < 60000)
		return;
	snprintf(w->last_warning, sizeof(w->last_warning), "%s", msg);
	w->last_warning_ms = now;
	fprintf(stderr, "sonde: k8s: warning: %s; spans go on without pod metadata, retrying\n",
		msg);
}

static void read_token(struct k8s_watcher *w, bool force)
{
	char buf[sizeof(w->token)];
	FILE *f;
	size_t n;

	if (!force && w->token_read_ms && now_ms() - w->token_read_ms < TOKEN_REREAD_MS)
		return;
	w->token_read_ms = now_ms();
	f = fopen(w->token_file, "re");
	if (!f) {
		/* plain http (tests, a local proxy) may need none; https always does */
		if (!w->token_warned && !strncmp(w->api, "https://", 8))
			fprintf(stderr, "sonde: k8s: warning: cannot read the service-account token "
					"%s: %s; the API server will refuse the requests (chart: "
					"serviceAccount.automountToken=true; or --k8s off)\n",
				w->token_file, strerror(errno));
		w->token_warned = true;
		w->token[0] = 0;
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = 0;
	if (memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
		fprintf(stderr, "sonde: k8s: warning: %s holds more than one line: not a token\n",
			w->token_file);
		n = 0;
		buf[0] = 0;
	}
	memcpy(w->token, buf, n + 1);
	w->token_warned = false;
}

static bool body_add(struct body *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->max) {
		b->too_big = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nb;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		nb = realloc(b->buf, cap);
		if (!nb) {
			b->too_big = true;
			return false;
		}
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = 0;
	return true;
}

static void body_reset(struct body *b, size_t max)
{
	b->len = 0;
	b->max = max;
	b->too_big = false;
	/* a large page's buffer is not kept between requests */
	if (b->cap > (1u << 20)) {
		free(b->buf);
		b->buf = NULL;
		b->cap = 0;
	}
}

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
	return body_add(ctx, p, sz * n) ? sz * n : 0;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct k8s_watcher *w = ctx;

	return atomic_load(&w->stop) ? 1 : 0;
}

/* Set up c for a GET of url; returns the header list to free after the transfer. */
static struct curl_slist *prepare(struct k8s_watcher *w, CURL *c, const char *url, long timeout_s)
{
	struct curl_slist *h = NULL;
	char auth[sizeof(w->token) + 32];

	read_token(w, false);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sonde/" SONDE_VERSION);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (w->ca_file && access(w->ca_file, R_OK) == 0)
		curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file);
	h = curl_slist_append(h, "Accept: application/json");
	if (w->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", w->token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	return h;
}

/* GET url into b; returns the HTTP status, or -EIO after a transport error (warned). */
static long http_get(struct k8s_watcher *w, CURL *c, const char *url, struct body *b,
		     size_t max, long timeout_s)
{
	struct curl_slist *h;
	CURLcode rc;
	long status = 0;

	body_reset(b, max);
	h = prepare(w, c, url, timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		if (atomic_load(&w->stop))
			;
		else if (b->too_big)
			warn(w, "GET %s: response larger than %zu bytes", url, max);
		else
			warn(w, "GET %s: %s", url, curl_easy_strerror(rc));
		return -EIO;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status == 401)
		read_token(w, true); /* rotated under us: take the new one now */
	return status;
}

/* Parse text into freshly allocated tokens; returns the count and *toks, or a JSON error. */
static int parse_json(const char *text, size_t len, struct json_tok **toks)
{
	size_t max = len / 2 + 2;
	int n;

	if (max > MAX_TOKENS)
		max = MAX_TOKENS;
	*toks = malloc(max * sizeof(**toks));
	if (!*toks)
		return -JSON_ETOKENS;
	n = json_parse(text, len, *toks, (int)max);
	if (n < 0) {
		free(*toks);
		*toks = NULL;
	}
	return n;
}

/* Kubernetes names are DNS labels or subdomains: anything else never goes into a URL. */
static bool safe_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' ||
		      *s == '.'))
			return false;
	return true;
}

/*
 * The owner of a ReplicaSet or a Job, from the API (needs RBAC get on them; the chart grants
 * it). Returns 0 with kind/name set ("" when it has no owner), or -errno when it cannot be read,
 * and the caller falls back on the name rule.
 */
static int owner_of(struct k8s_watcher *w, const char *kind, const char *ns, const char *name,
		    char *okind, size_t okind_sz, char *oname, size_t oname_sz)
{
	bool rs = !strcmp(kind, "ReplicaSet");
	uint64_t *denied = rs ? &w->rs_denied_ms : &w->job_denied_ms;
	struct owner_entry *e;
	struct json_tok *toks = NULL;
	struct body b = {0};
	char key[sizeof(e->key)], url[1024];
	long status;
	int i, n, err = -EIO;

	snprintf(key, sizeof(key), "%s/%s/%s", kind, ns, name);
	for (i = 0; i < OWNER_CACHE; i++) {
		e = &w->owners[i];
		if (!strcmp(e->key, key)) {
			snprintf(okind, okind_sz, "%s", e->kind);
			snprintf(oname, oname_sz, "%s", e->name);
			return 0;
		}
	}
	if (*denied && now_ms() - *denied < DENIED_RETRY_MS)
		return -EACCES;
	if (!safe_name(ns) || !safe_name(name))
		return -EINVAL;
	snprintf(url, sizeof(url), "%s/apis/%s/namespaces/%s/%s/%s", w->api,
		 rs ? "apps/v1" : "batch/v1", ns, rs ? "replicasets" : "jobs", name);
	status = http_get(w, w->get, url, &b, 4u << 20, 60);
	if (status == 401 || status == 403) {
		*denied = now_ms();
		fprintf(stderr, "sonde: k8s: no permission to get %ss (HTTP %ld): workload names "
				"from the %s name instead (the chart's RBAC grants it)\n",
			kind, status, kind);
		err = -EACCES;
		goto out;
	}
	if (status != 200)
		goto out;
	n = parse_json(b.buf, b.len, &toks);
	if (n < 0) {
		warn(w, "GET %s: %s", url, json_strerror(n));
		goto out;
	}
	okind[0] = oname[0] = 0;
	k8s_owner_parse(b.buf, toks, 0, okind, okind_sz, oname, oname_sz);
	e = &w->owners[w->owners_next];
	w->owners_next = (w->owners_next + 1) % OWNER_CACHE;
	snprintf(e->key, sizeof(e->key), "%s", key);
	snprintf(e->kind, sizeof(e->kind), "%s", okind);
	snprintf(e->name, sizeof(e->name), "%s", oname);
	err = 0;
out:
	free(toks);
	free(b.buf);
	return err;
}

/*
 * Workload names: the name rule first, then, for a ReplicaSet or a Job, the owner the API
 * server names, which wins where it can be read (a Deployment named "web-abcde" would fool the
 * rule).
 */
static void resolve_owner(struct k8s_watcher *w, struct k8s_pod *pod)
{
	struct k8s_meta *m = &pod->meta;
	char kind[32], name[K8S_NAME];
	bool rs = !strcmp(pod->owner_kind, "ReplicaSet");

	k8s_pod_owner_by_name(pod);
	if (!rs && strcmp(pod->owner_kind, "Job"))
		return;
	if (owner_of(w, pod->owner_kind, m->namespace_name, pod->owner_name, kind, sizeof(kind),
		     name, sizeof(name)))
		return;
	if (rs)
		snprintf(m->deployment, sizeof(m->deployment), "%s",
			 !strcmp(kind, "Deployment") ? name : "");
	else
		snprintf(m->cronjob, sizeof(m->cronjob), "%s", !strcmp(kind, "CronJob") ? name : "");
}

/* Apply one Pod object: ours (this node) goes into the table. */
static void apply_pod(struct k8s_watcher *w, const char *text, const struct json_tok *toks,
		      int obj)
{
	struct k8s_pod *pod = malloc(sizeof(*pod));

	if (!pod)
		return;
	if (!k8s_pod_parse(text, toks, obj, pod)) {
		if (pod->meta.node_name[0] && strcmp(pod->meta.node_name, w->node)) {
			/* moved off this node (never by the field selector, but be sure) */
			k8s_pods__delete(w->pods, pod->meta.pod_uid);
		} else {
			resolve_owner(w, pod);
			if (k8s_pods__upsert(w->pods, pod))
				warn(w, "more than %d pods on this node: pod %s/%s not kept",
				     K8S_MAX_PODS, pod->meta.namespace_name, pod->meta.pod_name);
		}
	}
	free(pod);
}

static void set_rv(struct k8s_watcher *w, const char *text, const struct json_tok *toks, int obj)
{
	char rv[sizeof(w->rv)];
	int i = json_get(text, toks, json_get(text, toks, obj, "metadata"), "resourceVersion");

	if (json_str(text, toks, i, rv, sizeof(rv)) > 0)
		memcpy(w->rv, rv, sizeof(rv));
}

/* List the node's pods, page by page; returns 0, -ESTALE (list again) or -EIO (warned). */
static int list_pods(struct k8s_watcher *w)
{
	struct body b = {0};
	struct json_tok *toks = NULL;
	char url[4096], cont[2048] = "", *econt;
	long status;
	int n, items, it, err = -EIO, md;

	k8s_pods__begin_list(w->pods);
	do {
		econt = cont[0] ? curl_easy_escape(w->curl, cont, 0) : NULL;
		snprintf(url, sizeof(url),
			 "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=%d%s%s", w->api,
			 w->node_q, LIST_PAGE, econt ? "&continue=" : "", econt ? econt : "");
		curl_free(econt);
		status = http_get(w, w->curl, url, &b, LIST_BODY_MAX, 60);
		if (status < 0)
			goto out;
		if (status == 410) {
			err = -ESTALE; /* the continue token expired: start over */
			goto out;
		}
		if (status != 200) {
			warn(w, "listing pods at %s: HTTP %ld%s%.200s", w->api, status,
			     b.len ? ": " : "", b.len ? b.buf : "");
			goto out;
		}
		free(toks);
		n = parse_json(b.buf, b.len, &toks);
		if (n < 0) {
			warn(w, "listing pods at %s: %s", w->api, json_strerror(n));
			goto out;
		}
		items = json_get(b.buf, toks, 0, "items");
		for (it = json_first(toks, items); it >= 0 && !atomic_load(&w->stop);
		     it = json_next(toks, items, it))
			apply_pod(w, b.buf, toks, it);
		set_rv(w, b.buf, toks, 0);
		md = json_get(b.buf, toks, 0, "metadata");
		if (json_str(b.buf, toks, json_get(b.buf, toks, md, "continue"), cont,
			     sizeof(cont)) < 0)
			cont[0] = 0;
	} while (cont[0] && !atomic_load(&w->stop));
	if (atomic_load(&w->stop))
		goto out;
	k8s_pods__end_list(w->pods);
	err = 0;
out:
	free(toks);
	free(b.buf);
	return err;
}

/* One line of the watch stream: {"type": ..., "object": {...}}. */
static void apply_event(struct k8s_watcher *w, const char *text, size_t len)
{
	struct json_tok *toks = NULL;
	char type[16], uid[40];
	int n, obj;

	n = parse_json(text, len, &toks);
	if (n < 0) {
		warn(w, "watch event: %s", json_strerror(n));
		w->stream_err = -EIO;
		return;
	}
	obj = json_get(text, toks, 0, "object");
	if (json_str(text, toks, json_get(text, toks, 0, "type"), type, sizeof(type)) < 0 ||
	    obj < 0) {
		warn(w, "watch event without type or object");
		w->stream_err = -EIO;
		goto out;
	}
	w->events++;
	if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
		apply_pod(w, text, toks, obj);
	} else if (!strcmp(type, "DELETED")) {
		jcopy(text, toks,
		      json_get(text, toks, json_get(text, toks, obj, "metadata"), "uid"), uid,
		      sizeof(uid));
		if (uid[0])
			k8s_pods__delete(w->pods, uid);
	} else if (!strcmp(type, "ERROR")) {
		/* a Status object: 410 Gone means our resourceVersion is too old */
		if (json_int(text, toks, json_get(text, toks, obj, "code"), 0) == 410) {
			w->gone = true;
		} else {
			char msg[160];

			jcopy(text, toks, json_get(text, toks, obj, "message"), msg, sizeof(msg));
			warn(w, "watch error from the API server: %s", msg[0] ? msg : "(no message)");
			w->stream_err = -EIO;
		}
		goto out;
	} else if (strcmp(type, "BOOKMARK")) {
		goto out; /* a type we do not know: skip it, keep watching */
	}
	set_rv(w, text, toks, obj);
out:
	free(toks);
}

static size_t on_watch_data(char *p, size_t sz, size_t n, void *ctx)
{
	struct k8s_watcher *w = ctx;
	size_t total = sz * n, i, start = 0;
	long status = 0;

	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		body_add(&w->errbody, p, total); /* kept short for the warning */
		return total;
	}
	for (i = 0; i < total; i++) {
		if (p[i] != '\n')
			continue;
		if (!body_add(&w->line, p + start, i - start))
			goto too_big;
		if (w->line.len)
			apply_event(w, w->line.buf, w->line.len);
		w->line.len = 0;
		start = i + 1;
		if (w->gone || w->stream_err)
			return 0; /* ends the transfer: list again */
	}
	if (start < total && !body_add(&w->line, p + start, total - start))
		goto too_big;
	return total;
too_big:
	warn(w, "a watch event larger than %u bytes", WATCH_LINE_MAX);
	w->stream_err = -E2BIG;
	return 0;
}

/* Watch from w->rv until the server ends it; 0 (watch again), -ESTALE (list again) or -EIO. */
static int watch_pods(struct k8s_watcher *w)
{
	struct curl_slist *h;
	char url[4096];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url),
		 "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1&allowWatchBookmarks=true"
		 "&timeoutSeconds=%d&resourceVersion=%s",
		 w->api, w->node_q, WATCH_TIMEOUT_S, w->rv);
	body_reset(&w->line, WATCH_LINE_MAX);
	body_reset(&w->errbody, 512);
	w->gone = false;
	w->stream_err = 0;
	h = prepare(w, w->curl, url, WATCH_TIMEOUT_S + 30);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_watch_data);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
	rc = curl_easy_perform(w->curl);
	curl_slist_free_all(h);
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (w->gone || status == 410)
		return -ESTALE;
	if (w->stream_err)
		return w->stream_err;
	if (atomic_load(&w->stop))
		return 0;
	if (rc != CURLE_OK) {
		warn(w, "watching pods at %s: %s", w->api, curl_easy_strerror(rc));
		return -EIO;
	}
	if (status != 200) {
		if (status == 401)
			read_token(w, true);
		warn(w, "watching pods at %s: HTTP %ld%s%.200s", w->api, status,
		     w->errbody.len ? ": " : "", w->errbody.len ? w->errbody.buf : "");
		return -EIO;
	}
	return 0;
}

/* Sleep the backoff delay (with jitter), or less if stop is asked; then double it. */
static void backoff(struct k8s_watcher *w)
{
	struct timespec ts;
	int ms = w->backoff_ms + rand() % (w->backoff_ms / 4 + 1);

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->lock);
	while (!atomic_load(&w->stop) && pthread_cond_timedwait(&w->cond, &w->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&w->lock);
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void recovered(struct k8s_watcher *w, const char *what)
{
	if (w->failing || w->verbose)
		fprintf(stderr, "sonde: k8s: %s: %d pods on node %s\n", what,
			k8s_pods__count(w->pods), w->node);
	w->failing = false;
	w->last_warning[0] = 0;
	w->backoff_ms = BACKOFF_MIN_MS;
}

/* ------------------------------------------------------------ The cluster's ranges */

/* Where the address ranges of a cluster are, by kind: pods (by node or by CNI pool) and
 * services (ServiceCIDR, Kubernetes 1.33 and later). A cluster may have any of them. */
static const struct {
	const char *path, *what;
	bool pods;
} range_sources[] = {
	{"/api/v1/nodes", "nodes' podCIDRs", true},
	{"/apis/crd.projectcalico.org/v1/ippools", "Calico IPPools", true},
	{"/apis/networking.k8s.io/v1/servicecidrs", "ServiceCIDRs", false},
};

#define RANGES_TIMEOUT_S 10

static void note_add(char *note, size_t sz, const char *fmt, ...)
{
	size_t len = strlen(note);
	va_list ap;

	if (len + 1 >= sz)
		return;
	va_start(ap, fmt);
	vsnprintf(note + len, sz - len, fmt, ap);
	va_end(ap);
}

/*
 * Read the cluster's address ranges once, before the watcher's thread starts (it uses w->get):
 * each source in turn, a failed one skipped (not there: 404; no RBAC: 403). Pod ranges
 * without service ranges (or the other way round) leave the private ranges to stand in.
 */
/*
 * One source's list, page by page (a large cluster's NodeList is large): its ranges added to
 * w's, *added how many. Returns the last HTTP status, or -EIO.
 */
static long list_ranges(struct k8s_watcher *w, const char *path, struct body *b, int *added)
{
	char url[4096], cont[2048] = "", *econt;
	struct json_tok *toks = NULL;
	long status;
	int n;

	*added = 0;
	do {
		econt = cont[0] ? curl_easy_escape(w->get, cont, 0) : NULL;
		snprintf(url, sizeof(url), "%s%s?limit=%d%s%s", w->api, path, LIST_PAGE,
			 econt ? "&continue=" : "", econt ? econt : "");
		curl_free(econt);
		status = http_get(w, w->get, url, b, LIST_BODY_MAX, RANGES_TIMEOUT_S);
		if (status != 200)
			break;
		n = parse_json(b->buf, b->len, &toks);
		if (n < 0)
			break;
		*added += k8s_ranges_parse(b->buf, toks, 0, w->ranges, K8S_MAX_RANGES, &w->n_ranges,
					   &w->ranges_full);
		if (json_str(b->buf, toks,
			     json_get(b->buf, toks, json_get(b->buf, toks, 0, "metadata"), "continue"),
			     cont, sizeof(cont)) < 0)
			cont[0] = 0;
		free(toks);
		toks = NULL;
	} while (cont[0]);
	free(toks);
	return status;
}

/*
 * Read the cluster's address ranges once, before the watcher's thread starts (it uses w->get):
 * each source in turn, a failed one skipped (not there: 404; no RBAC: 403). Pod ranges
 * without service ranges (or the other way round), or more ranges than are kept, leave the
 * private ranges to stand in.
 */
static void fetch_ranges(struct k8s_watcher *w)
{
	char *note = w->ranges_note;
	size_t i, sz = sizeof(w->ranges_note), at = 0;
	bool pods = false, services = false;
	struct body b = {0};
	int k, added;
	long status;

	for (i = 0; i < sizeof(range_sources) / sizeof(range_sources[0]); i++) {
		status = list_ranges(w, range_sources[i].path, &b, &added);
		note_add(note, sz, "%s%s: ", i ? "; " : "", range_sources[i].what);
		if (status < 0) {
			note_add(note, sz, "unreachable, nothing more asked");
			break; /* the others would wait as long: the start goes on */
		}
		if (status != 200) {
			note_add(note, sz, "HTTP %ld", status);
			continue;
		}
		note_add(note, sz, "%d", added);
		for (k = w->n_ranges - added; k < w->n_ranges; k++)
			note_add(note, sz, "%s%s", k == w->n_ranges - added ? " (" : ", ",
				 w->ranges[k]);
		if (added)
			note_add(note, sz, ")");
		pods = pods || (added && range_sources[i].pods);
		services = services || (added && !range_sources[i].pods);
	}
	free(b.buf);
	if (w->ranges_full)
		note_add(note, sz, "; more than %d ranges, the rest left to the private ones",
			 K8S_MAX_RANGES);
	w->ranges_private = !pods || !services || w->ranges_full;
	for (k = 0; k < w->n_ranges; k++)
		at += (size_t)snprintf(w->ranges_list + at, sizeof(w->ranges_list) - at, "%s%s",
				       k ? "," : "", w->ranges[k]);
}

const char *k8s_watcher__cluster_ranges(const struct k8s_watcher *w, bool *private_too,
					const char **note)
{
	*private_too = w->ranges_private;
	*note = w->ranges_note;
	return w->ranges_list;
}

static void *watcher_main(void *arg)
{
	struct k8s_watcher *w = arg;
	bool listed = false;
	int err;

	while (!atomic_load(&w->stop)) {
		if (!listed) {
			err = list_pods(w);
			if (atomic_load(&w->stop))
				break;
			if (err == -ESTALE)
				continue;
			if (err) {
				backoff(w);
				continue;
			}
			listed = true;
			recovered(w, "listed");
		}
		w->events = 0;
		err = watch_pods(w);
		if (atomic_load(&w->stop))
			break;
		if (err == -ESTALE) {
			if (w->verbose)
				fprintf(stderr, "sonde: k8s: resourceVersion %s expired: listing again\n",
					w->rv);
			listed = false;
			continue;
		}
		if (err) {
			/* an event we could not read may be lost: list again after the delay */
			listed = false;
			backoff(w);
			continue;
		}
		if (w->failing)
			recovered(w, "watching again");
		else
			w->backoff_ms = BACKOFF_MIN_MS;
	}
	return NULL;
}

static char *str_or(const char *a, const char *b)
{
	return strdup(a && *a ? a : b);
}

struct k8s_watcher *k8s_watcher__start(const struct sonde_config *cfg, int *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *node = cfg->k8s_node ? cfg->k8s_node : getenv("NODE_NAME");
	struct k8s_watcher *w;
	char api[512];
	size_t n;

	*err = 0;
	if (cfg->k8s == K8S_OFF)
		return NULL;
	if (cfg->k8s_api) {
		snprintf(api, sizeof(api), "%s", cfg->k8s_api);
	} else if (host && *host) {
		snprintf(api, sizeof(api), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			 host, port && *port ? port : "443");
	} else {
		if (cfg->k8s == K8S_ON) {
			fprintf(stderr, "sonde: --k8s on: no API server: give --k8s-api URL, or run in a "
					"pod (KUBERNETES_SERVICE_HOST)\n");
			*err = -EINVAL;
		}
		return NULL; /* auto, and not in a cluster */
	}
	if (!node || !*node || strlen(node) >= K8S_NAME) {
		fprintf(stderr, "sonde: k8s: %s: no node name: give --k8s-node NAME, or set NODE_NAME "
				"from the downward API (spec.nodeName)%s\n",
			cfg->k8s == K8S_ON ? "error" : "warning",
			cfg->k8s == K8S_ON ? "" : "; pod metadata off");
		if (cfg->k8s == K8S_ON)
			*err = -EINVAL;
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sonde: k8s: cannot initialise libcurl; pod metadata off\n");
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto fail;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->verbose = cfg->verbose;
	n = strlen(api);
	while (n && api[n - 1] == '/')
		api[--n] = 0;
	snprintf(w->node, sizeof(w->node), "%s", node);
	w->api = strdup(api);
	w->token_file = str_or(cfg->k8s_token_file, SA_DIR "token");
	w->ca_file = str_or(cfg->k8s_ca_file, SA_DIR "ca.crt");
	w->pods = k8s_pods__new();
	w->curl = curl_easy_init();
	w->get = curl_easy_init();
	w->backoff_ms = BACKOFF_MIN_MS;
	if (!w->api || !w->token_file || !w->ca_file || !w->pods || !w->curl || !w->get)
		goto fail;
	w->node_q = curl_easy_escape(w->curl, w->node, 0);
	if (!w->node_q)
		goto fail;
	read_token(w, true);
	if (cfg->tcpopt_cluster && (cfg->propagation & PROPAGATION_TCP))
		fetch_ranges(w);
	if (pthread_create(&w->thread, NULL, watcher_main, w)) {
		fprintf(stderr, "sonde: k8s: cannot start the watcher thread; pod metadata off\n");
		goto fail;
	}
	fprintf(stderr, "sonde: k8s: watching the pods of node %s at %s\n", w->node, w->api);
	return w;
fail:
	if (w) {
		curl_free(w->node_q);
		curl_easy_cleanup(w->curl);
		curl_easy_cleanup(w->get);
		k8s_pods__free(w->pods);
		free(w->api);
		free(w->token_file);
		free(w->ca_file);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
	}
	curl_global_cleanup();
	if (cfg->k8s == K8S_ON)
		*err = -ENOMEM;
	return NULL;
}

void k8s_watcher__stop(struct k8s_watcher *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	curl_free(w->node_q);
	curl_easy_cleanup(w->curl);
	curl_easy_cleanup(w->get);
	k8s_pods__free(w->pods);
	free(w->line.buf);
	free(w->errbody.buf);
	free(w->api);
	free(w->token_file);
	free(w->ca_file);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	curl_global_cleanup();
}

struct k8s_pods *k8s_watcher__pods(struct k8s_watcher *w)
{
	return w ? w->pods : NULL;
}
