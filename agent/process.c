// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process metadata from /proc, read once per process and cached: the resource of its spans.
 * service.name follows the usual precedence: the agent's own override, the process's
 * OTEL_SERVICE_NAME, then a name derived from its command line; OTEL_RESOURCE_ATTRIBUTES of the
 * process and of the agent add attributes.
 *
 * In a Kubernetes pod the API server knows more (k8s.c): the k8s.* attributes, and a
 * service.name from the pod's app.kubernetes.io/name label or its workload, which comes after
 * the process's own OTEL_SERVICE_NAME but before a name derived from the command line. A pod
 * may become known after the process's first spans (a late watch event), so each entry keeps
 * the resource as /proc gave it (base) and the k8s revision applied; when the pod table's
 * generation moves, entries in containers are looked up again, and a changed pod rewrites the
 * entry's resource in place, so that connections already holding it see the metadata too.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "k8s.h"
#include "process.h"

#define PROC_BUCKETS 1024
#define PROC_MAX 8192 /* processes cached at most: a sweep drops the dead ones */

struct proc_entry {
	struct proc_entry *next;
	uint32_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22: tells a reused pid apart */
	bool selected;
	struct resource *res;
	/* In a container: the resource without k8s metadata, and which pod revision res has. */
	struct resource *base;
	bool weak_name; /* service.name only derived from the command line: a pod's name wins */
	char container_id[65];
	char pod_uid[37];
	uint64_t k8s_gen; /* the pod table's generation when last looked up */
	uint64_t k8s_rev; /* the pod entry's revision res was built from; 0: none */
};

struct process_table {
	const struct sonde_config *cfg;
	struct proc_entry *buckets[PROC_BUCKETS];
	int count;
	char host_name[256];
	struct k8s_pods *k8s; /* NULL: no Kubernetes metadata */
	uint64_t k8s_gen;     /* the generation process_table__refresh last went through */
};

static void free_entry(struct proc_entry *e)
{
	resource__put(e->res);
	resource__put(e->base);
	free(e);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Copy a name without its extension (".py", ".js", ".jar", ...). */
static size_t copy_stem(const char *name, char *out, size_t outsz)
{
	const char *dot = strrchr(name, '.');
	size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name);

	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, name, n);
	out[n] = 0;
	return n;
}

static bool is_interpreter(const char *exe)
{
	static const char *const names[] = {"python", "node", "nodejs", "ruby", "perl", "php",
					    "bash", "sh", "dash", "deno", "bun", "pypy"};
	size_t i, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i]);
		/* python3, python3.11, php8.2 ... */
		if (!strncmp(exe, names[i], n) &&
		    (exe[n] == 0 || isdigit((unsigned char)exe[n]) || exe[n] == '.'))
			return true;
	}
	return false;
}

size_t service_name_from_cmdline(const char *cmdline, size_t len, char *out, size_t outsz)
{
	const char *args[16];
	const char *exe, *p = cmdline, *end = cmdline + len;
	int n = 0, i;
	char first[256];

	if (!outsz)
		return 0;
	out[0] = 0;
	while (p < end && n < 16) {
		size_t l = strnlen(p, end - p);

		args[n++] = p;
		p += l + 1;
	}
	if (!n || !args[0][0])
		return 0;
	/* "nginx: worker process" style titles: the name is the part before ':' or ' '. */
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(args[0], ": "), args[0]);
	exe = base_name(first);
	if (!strcmp(exe, "java")) {
		for (i = 1; i < n; i++) {
			if (!strcmp(args[i], "-jar") && i + 1 < n)
				return copy_stem(base_name(args[i + 1]), out, outsz);
			if (args[i][0] != '-' &&
			    (i == 1 || (strcmp(args[i - 1], "-cp") &&
					strcmp(args[i - 1], "-classpath")))) {
				/* main class: the last component of a dotted name */
				const char *dot = strrchr(args[i], '.');

				snprintf(out, outsz, "%s", dot ? dot + 1 : args[i]);
				return strlen(out);
			}
		}
	} else if (is_interpreter(exe)) {
		for (i = 1; i < n; i++) {
			if (args[i][0] == '-') {
				/* "python3 -m module": the module is the service */
				if (!strcmp(args[i], "-m") && i + 1 < n) {
					snprintf(out, outsz, "%s", args[i + 1]);
					return strlen(out);
				}
				/* "python3 -c CODE", "node -e CODE", "bash -c CMD": what follows is
				 * program text, no name; the interpreter's is the best there is. */
				if (!strcmp(args[i], "-c") || !strcmp(args[i], "-e") ||
				    !strcmp(args[i], "--eval") || !strcmp(args[i], "-p") ||
				    !strcmp(args[i], "--print"))
					break;
				continue;
			}
			return copy_stem(base_name(args[i]), out, outsz);
		}
	}
	snprintf(out, outsz, "%s", exe);
	return strlen(out);
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)total < len) {
		n = read(fd, buf + total, len - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			total = -errno;
			break;
		}
		if (!n)
			break;
		total += n;
	}
	close(fd);
	return total;
}

/* The value of NAME in a NUL-separated environment block, or NULL. */
static const char *env_get(const char *env, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = env, *end = env + len;

	while (p < end) {
		size_t l = strnlen(p, end - p);

		if (l > nl && !strncmp(p, name, nl) && p[nl] == '=')
			return p + nl + 1;
		p += l + 1;
	}
	return NULL;
}

/*
 * Attribute keys must outlive every resource (struct span_attr holds a pointer), and keys from
 * OTEL_RESOURCE_ATTRIBUTES are few and repeat across processes: keep one copy of each, bounded.
 */
static const char *intern_key(const char *k)
{
	static char *keys[128];
	static int n;
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(keys[i], k))
			return keys[i];
	if (n == (int)(sizeof(keys) / sizeof(keys[0])))
		return NULL;
	keys[n] = strdup(k);
	return keys[n] ? keys[n++] : NULL;
}

/*
 * Add "k=v,k2=v2" attributes; malformed pairs are skipped (the spec says to ignore them). The
 * agent's own list overrides what sonde found (e.g. host.name=$(NODE_NAME) in a pod, whose
 * hostname is the pod's), except service.name, which has its own precedence; a process's list
 * only adds.
 */
static void add_resource_attrs(struct resource *r, const char *list, bool override)
{
	char key_buf[128];
	const char *p = list;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', end - p);

		if (eq && eq > p && (size_t)(eq - p) < sizeof(key_buf)) {
			snprintf(key_buf, sizeof(key_buf), "%.*s", (int)(eq - p), p);
			const char *key = intern_key(key_buf);

			if (key && (override ? strcmp(key, "service.name") != 0
					     : !resource__find_attr(r, key)))
				resource__set_str(r, key, eq + 1, end - eq - 1);
		}
		p = comma ? comma + 1 : NULL;
	}
}

static uint64_t proc_start_time(uint32_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return 0;
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static bool match_exe(const struct sonde_config *cfg, const char *exe, const char *comm)
{
	int i;

	if (!cfg->n_exes)
		return true;
	for (i = 0; i < cfg->n_exes; i++) {
		if ((exe && !fnmatch(cfg->exes[i], exe, 0)) || (comm && !fnmatch(cfg->exes[i], comm, 0)))
			return true;
	}
	return false;
}

/* container.id (and k8s.pod.uid) from the process's cgroup, when it runs in a container. */
static void add_container(struct resource *r, uint32_t pid, struct proc_entry *e)
{
	struct container_ref ref;
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	n = read_file(path, buf, sizeof(buf));
	if (n <= 0 || !cgroup_parse_container(buf, n, &ref))
		return;
	resource__set_cstr(r, "container.id", ref.id);
	if (ref.runtime[0])
		resource__set_cstr(r, "container.runtime", ref.runtime);
	if (ref.pod_uid[0])
		resource__set_cstr(r, "k8s.pod.uid", ref.pod_uid);
	memcpy(e->container_id, ref.id, sizeof(e->container_id));
	memcpy(e->pod_uid, ref.pod_uid, sizeof(e->pod_uid));
}

static void set_if(struct resource *r, const char *key, const char *val)
{
	if (val && *val)
		resource__set_cstr(r, key, val);
}

/*
 * Bring e's resource up to date with its pod in the table. A pod not (or no longer) in the
 * table leaves the resource as it is: a deleted pod's processes are on their way out, and what
 * their spans said of them stays true.
 */
static void apply_k8s(struct process_table *t, struct proc_entry *e)
{
	struct k8s_meta m;
	struct resource nr;
	const char *name;
	int refcnt;

	if (!t->k8s || !e->base)
		return;
	e->k8s_gen = k8s_pods__generation(t->k8s); /* before the lookup: a later change is seen */
	if (!k8s_pods__lookup(t->k8s, e->pod_uid, e->container_id, &m) || m.rev == e->k8s_rev)
		return;
	nr = *e->base;
	set_if(&nr, "k8s.namespace.name", m.namespace_name);
	set_if(&nr, "k8s.pod.name", m.pod_name);
	set_if(&nr, "k8s.pod.uid", m.pod_uid);
	set_if(&nr, "k8s.container.name", m.container_name);
	set_if(&nr, "k8s.node.name", m.node_name);
	set_if(&nr, "k8s.replicaset.name", m.replicaset);
	set_if(&nr, "k8s.deployment.name", m.deployment);
	set_if(&nr, "k8s.statefulset.name", m.statefulset);
	set_if(&nr, "k8s.daemonset.name", m.daemonset);
	set_if(&nr, "k8s.job.name", m.job);
	set_if(&nr, "k8s.cronjob.name", m.cronjob);
	name = m.app_name[0] ? m.app_name : k8s_meta_workload(&m);
	if (e->weak_name && name)
		resource__set_cstr(&nr, "service.name", name);
	/* the agent's own attributes still override what sonde found */
	if (t->cfg->resource_attrs)
		add_resource_attrs(&nr, t->cfg->resource_attrs, true);
	/* in place: spans and connections holding a reference see the new attributes */
	refcnt = e->res->refcnt;
	*e->res = nr;
	e->res->refcnt = refcnt;
	e->res->pid = e->pid;
	e->k8s_rev = m.rev;
}

/* /proc/PID/stat's start time is in clock ticks since boot; the kernel record's in ns. */
static uint64_t boottime_ns_to_ticks(uint64_t ns)
{
	long hz = sysconf(_SC_CLK_TCK);

	return ns / (1000000000ULL / (hz > 0 ? (uint64_t)hz : 100));
}

/* What names a process: from /proc while it is there, else what the kernel sent. */
struct proc_ident {
	const char *exe;  /* base name of the executable, or NULL */
	const char *comm; /* the task comm, or NULL */
	char link[PATH_MAX]; /* the executable's path, when has_link */
	bool has_link;
	bool live;	  /* /proc shows this process (not a reused pid) */
	char *cmdline;	  /* NUL-separated arguments, cl bytes (NUL-terminated after) */
	ssize_t cl;
	char *env;	  /* NUL-separated NAME=value, el bytes (NUL-terminated after) */
	ssize_t el;
};

static void read_ident(uint32_t pid, const struct sonde_proc_event *pe, struct proc_ident *id)
{
	char path[64];
	ssize_t n;

	if (id->live) {
		snprintf(path, sizeof(path), "/proc/%u/exe", pid);
		n = readlink(path, id->link, sizeof(id->link) - 1);
		if (n > 0) {
			id->link[n] = 0;
			id->has_link = true;
			id->exe = base_name(id->link);
		}
		snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
		id->cl = read_file(path, id->cmdline, 4095);
		snprintf(path, sizeof(path), "/proc/%u/environ", pid);
		id->el = read_file(path, id->env, 32767);
	}
	if (id->cl <= 0 && pe) {
		id->cl = pe->cmdline_len < SONDE_CMDLINE_MAX ? pe->cmdline_len : SONDE_CMDLINE_MAX;
		memcpy(id->cmdline, pe->cmdline, id->cl);
	}
	if (id->el <= 0 && pe) {
		id->el = pe->environ_len < SONDE_ENVIRON_MAX ? pe->environ_len : SONDE_ENVIRON_MAX;
		memcpy(id->env, pe->environ, id->el);
	}
	if (id->cl < 0)
		id->cl = 0;
	if (id->el < 0)
		id->el = 0;
	id->cmdline[id->cl] = 0;
	id->env[id->el] = 0;
}

/* The entry's resource: its service name, process, host, container and SDK attributes. */
static void fill_resource(struct process_table *t, struct proc_entry *e, uint32_t pid,
			  const struct proc_ident *id)
{
	const char *v = NULL, *comm = id->comm;
	char name[128];

	name[0] = 0;
	if (t->cfg->service_name)
		snprintf(name, sizeof(name), "%s", t->cfg->service_name);
	else if ((v = env_get(id->env, id->el, "OTEL_SERVICE_NAME")) && *v)
		snprintf(name, sizeof(name), "%s", v);
	else if (id->cl > 0)
		service_name_from_cmdline(id->cmdline, id->cl, name, sizeof(name));
	e->weak_name = !t->cfg->service_name && !(v && *v);
	if (!name[0])
		snprintf(name, sizeof(name), "%s",
			 id->exe ? id->exe : (comm && *comm ? comm : "unknown"));
	resource__set_cstr(e->res, "service.name", name);
	resource__set_int(e->res, "process.pid", pid);
	if (id->exe || (comm && *comm))
		resource__set_cstr(e->res, "process.executable.name", id->exe ? id->exe : comm);
	if (id->has_link)
		resource__set_cstr(e->res, "process.executable.path", id->link);
	resource__set_cstr(e->res, "host.name", t->host_name);
	if (id->live)
		add_container(e->res, pid, e);
	resource__set_cstr(e->res, "telemetry.sdk.name", "sonde");
	resource__set_cstr(e->res, "telemetry.sdk.language", "c");
	resource__set_cstr(e->res, "telemetry.sdk.version", SONDE_VERSION);
	if (t->cfg->resource_attrs)
		add_resource_attrs(e->res, t->cfg->resource_attrs, true);
	if ((v = env_get(id->env, id->el, "OTEL_RESOURCE_ATTRIBUTES")) && *v)
		add_resource_attrs(e->res, v, false);
}

/*
 * Build a process entry: from /proc while the process is there, else from what the kernel sent
 * (pe, may be NULL) when its first connection was announced.
 */
static struct proc_entry *load_entry(struct process_table *t, uint32_t pid, const char *comm,
				     const struct sonde_proc_event *pe)
{
	struct proc_ident *id = calloc(1, sizeof(*id));
	struct proc_entry *e = calloc(1, sizeof(*e));

	if (!e || !id)
		goto fail;
	e->pid = pid;
	e->start_time = proc_start_time(pid);
	id->live = true;
	if (pe) {
		uint64_t ticks = boottime_ns_to_ticks(pe->start_boottime);

		if (e->start_time != ticks)
			id->live = false; /* /proc shows another process now: a reused pid */
		e->start_time = ticks;
		if (!comm || !*comm)
			comm = pe->comm;
	}
	id->comm = comm;
	e->res = resource__new(pid);
	id->cmdline = malloc(4096);
	id->env = malloc(32768);
	if (!e->res || !id->cmdline || !id->env)
		goto fail;
	read_ident(pid, pe, id);
	e->selected = match_exe(t->cfg, id->exe, comm);
	fill_resource(t, e, pid, id);
	if (e->container_id[0] || e->pod_uid[0]) {
		/* keep the /proc view to rebuild from when the pod's metadata comes or changes */
		e->base = resource__new(pid);
		if (e->base) {
			*e->base = *e->res;
			e->base->refcnt = 1;
			apply_k8s(t, e);
		}
	}
	goto out;
fail:
	if (e)
		free_entry(e);
	e = NULL;
out:
	if (id) {
		free(id->cmdline);
		free(id->env);
	}
	free(id);
	return e;
}

void process_table__set_k8s(struct process_table *t, struct k8s_pods *pods)
{
	t->k8s = pods;
}

void process_table__refresh(struct process_table *t)
{
	struct proc_entry *e;
	uint64_t gen;
	int i;

	if (!t->k8s || (gen = k8s_pods__generation(t->k8s)) == t->k8s_gen)
		return;
	t->k8s_gen = gen;
	for (i = 0; i < PROC_BUCKETS; i++)
		for (e = t->buckets[i]; e; e = e->next)
			if (e->base && e->k8s_gen != gen)
				apply_k8s(t, e);
}

struct process_table *process_table__new(const struct sonde_config *cfg)
{
	struct process_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = cfg;
	if (gethostname(t->host_name, sizeof(t->host_name) - 1))
		snprintf(t->host_name, sizeof(t->host_name), "unknown");
	return t;
}

static struct proc_entry *lookup(struct process_table *t, uint32_t pid, const char *comm)
{
	struct proc_entry **slot = &t->buckets[pid % PROC_BUCKETS], *e;

	for (e = *slot; e; e = e->next)
		if (e->pid == pid) {
			if (t->k8s && e->base && e->k8s_gen != k8s_pods__generation(t->k8s))
				apply_k8s(t, e);
			return e;
		}
	if (t->count >= PROC_MAX)
		process_table__sweep(t);
	e = load_entry(t, pid, comm, NULL);
	if (!e)
		return NULL;
	e->next = *slot;
	*slot = e;
	t->count++;
	return e;
}

void process_table__on_proc(struct process_table *t, const struct sonde_proc_event *pe)
{
	uint32_t pid = pe->head.tgid;
	struct proc_entry **slot = &t->buckets[pid % PROC_BUCKETS], *e;

	for (; (e = *slot); slot = &e->next) {
		if (e->pid != pid)
			continue;
		if (e->start_time == boottime_ns_to_ticks(pe->start_boottime))
			return;
		/* the pid was reused: the old entry describes another process */
		*slot = e->next;
		free_entry(e);
		t->count--;
		break;
	}
	if (t->count >= PROC_MAX)
		process_table__sweep(t);
	e = load_entry(t, pid, NULL, pe);
	if (!e)
		return;
	slot = &t->buckets[pid % PROC_BUCKETS];
	e->next = *slot;
	*slot = e;
	t->count++;
}

struct resource *process_table__resource(struct process_table *t, uint32_t pid, const char *comm)
{
	struct proc_entry *e = lookup(t, pid, comm);

	return e ? e->res : NULL;
}

bool process_table__selected(struct process_table *t, uint32_t pid, const char *comm)
{
	struct proc_entry *e;

	if (!t->cfg->n_exes)
		return true;
	e = lookup(t, pid, comm);
	return e && e->selected;
}

int process_table__sweep(struct process_table *t)
{
	struct proc_entry **slot, *e;
	int i, dropped = 0;

	for (i = 0; i < PROC_BUCKETS; i++) {
		slot = &t->buckets[i];
		while ((e = *slot)) {
			uint64_t st = proc_start_time(e->pid);

			if (st && st == e->start_time) {
				slot = &e->next;
				continue;
			}
			*slot = e->next;
			free_entry(e);
			t->count--;
			dropped++;
		}
	}
	return dropped;
}

void process_table__free(struct process_table *t)
{
	struct proc_entry *e, *n;
	int i;

	if (!t)
		return;
	for (i = 0; i < PROC_BUCKETS; i++)
		for (e = t->buckets[i]; e; e = n) {
			n = e->next;
			free_entry(e);
		}
	free(t);
}
