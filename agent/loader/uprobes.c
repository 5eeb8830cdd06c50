// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uprobe table and its files (see uprobes.h). Files are known by device, inode and ctime:
 * an attached file's inode is held by its uprobes, so its number cannot come back for another
 * file; a file that failed or did not match is tried again only if its ctime moved (rewritten
 * in place, or its number reused). Executables that are no match (not Go) are remembered in a
 * small cache, so that an exec of /bin/sh costs a stat and a look-up, not an ELF read.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "go_dwarf.h"
#include "uprobes.h"

/*
 * OpenSSL (1.1 and 3.x, and libraries with its API): the plaintext of every read and write, at
 * the calls' returns (bpf/tls.bpf.h). The _ex forms are 1.1.1+, SSL_write_ex2 3.3+;
 * SSL_do_handshake and SSL_free tie and untie an SSL* to its socket early and late, and a
 * library without them still works. The reads (family 1) and the writes (2) wrap one internal
 * function each: where a build starts them with an instruction the kernel single-steps (gcc
 * without frame pointers: SUB RSP), that function is probed in their place.
 */
#define OPENSSL_ROW(NAME, IN, PATTERN)                                                         \
	{                                                                                      \
		.name = NAME, .in = IN, .pattern = PATTERN,                                    \
		.lost = "its TLS traffic is not seen in clear (no HTTPS spans)",               \
		.hint = "no SSL_read/SSL_write symbols (stripped?)", .flag = "tls_uprobes",    \
		.tls = true,                                                                   \
		.syms = {                                                                      \
			{"SSL_read", "sonde_ssl_read", "sonde_ssl_ret", true, 1},              \
			{"SSL_write", "sonde_ssl_write", "sonde_ssl_ret", true, 2},            \
			{"SSL_read_ex", "sonde_ssl_read_ex", "sonde_ssl_ret", false, 1},       \
			{"SSL_write_ex", "sonde_ssl_write_ex", "sonde_ssl_ret", false, 2},     \
			{"SSL_write_ex2", "sonde_ssl_write_ex2", "sonde_ssl_ret", false, 2},   \
			{"SSL_do_handshake", "sonde_ssl_handshake", "sonde_ssl_ret", false},   \
			{"SSL_free", "sonde_ssl_free", NULL, false},                           \
		},                                                                             \
	}

#define GRPC_TRANSPORT "google.golang.org/grpc/internal/transport."
/* The go-grpc row's handleStream, in its syms[]; the header handlers are the last two after
 * NewStream's call of executeAndPut, which follows it. */
#define GRPC_SYM_HANDLE 3

/*
 * The cookies of the go-grpc row (bpf/runtimes/grpc_go.bpf.h), from the program's DWARF: where
 * handleStream finds its stream's id (a *ServerStream that holds a Stream or points to one,
 * or, before ServerStream, a *Stream), and where the header handlers find theirs.
 */
static int grpc_go_cookies(int fd, uint64_t cookie[UPROBE_MAX_SYMS])
{
	struct go_field f[] = {
		{GRPC_TRANSPORT "Stream", "id"},
		{GRPC_TRANSPORT "ServerStream", "Stream"},
		{GRPC_TRANSPORT "clientHeaders", "streamID"},
		{GRPC_TRANSPORT "headerFrame", "streamID"},
	};
	const uint64_t deref = 1ULL << 16;

	if (go_dwarf__fields(fd, f, 4) < 0 || !f[0].found)
		return -ENODATA;
	if (!f[1].found)
		cookie[GRPC_SYM_HANDLE] = f[0].offset;
	else if (f[1].pointer)
		cookie[GRPC_SYM_HANDLE] = f[1].offset | deref | (uint64_t)f[0].offset << 32;
	else
		cookie[GRPC_SYM_HANDLE] = f[1].offset + f[0].offset;
	cookie[GRPC_SYM_HANDLE + 2] = f[2].found ? f[2].offset : 0;
	cookie[GRPC_SYM_HANDLE + 3] = f[3].found ? f[3].offset : 0;
	return 0;
}

/*
 * The rows. A Go program's http.Client call is written by the connection's writeLoop goroutine
 * for the handler that asked: these two entries tie the write back to the handler
 * (bpf/runtimes/go.bpf.h).
 */
const struct uprobe_target uprobe_table[] = {
	{
		.name = "go-net/http",
		.in = UPROBE_GO_EXE,
		.lost = "its net/http client calls are not linked to their requests",
		.hint = "no symbol table, or no net/http",
		.flag = "go_uprobes",
		.syms = {{"net/http.(*persistConn).roundTrip", "sonde_go_round_trip", NULL, true},
			 {"net/http.(*Request).write", "sonde_go_request_write", NULL, true}},
	},
	/*
	 * grpc-go: a stream's frames are read and written by its transport's goroutines, not by
	 * the handler's; these tie them together (bpf/runtimes/grpc_go.bpf.h). The handler hooks
	 * are required; the client side's header handler has one name or the other by release.
	 * executeAndPut queues every item of a transport (8 per call, measured): only NewStream's
	 * calls of it are probed.
	 */
	{
		.name = "go-grpc",
		.in = UPROBE_GO_EXE,
		.lost = "the calls its gRPC handlers make are not linked to their requests",
		.hint = "no symbol table, or no DWARF (built with -w?)",
		.optional = true,
		.go_grpc = true,
		.cookies = grpc_go_cookies,
		.syms = {{GRPC_TRANSPORT "(*http2Server).HandleStreams", "sonde_grpc_reader", NULL,
			  true},
			 {"google.golang.org/grpc.(*Server).handleRawConn", "sonde_grpc_accept", NULL,
			  false},
			 {"google.golang.org/grpc.(*Server).serveStreams", "sonde_grpc_serve_conn",
			  NULL, false},
			 {"google.golang.org/grpc.(*Server).handleStream", "sonde_grpc_handle", NULL,
			  true},
			 {GRPC_TRANSPORT "(*http2Client).NewStream", "sonde_grpc_put", NULL, false,
			  .call_to = GRPC_TRANSPORT "(*controlBuffer).executeAndPut"},
			 {GRPC_TRANSPORT "(*loopyWriter).clientHeaderHandler", "sonde_grpc_open",
			  NULL, false},
			 {GRPC_TRANSPORT "(*loopyWriter).headerHandler", "sonde_grpc_open", NULL,
			  false}},
	},
	/* libssl.so.3, and the copies wheels bundle (libssl-6a9b88ec.so.3); not NSS's libssl3.so */
	OPENSSL_ROW("openssl", UPROBE_LIBRARY, "libssl[.-]*so*"),
	OPENSSL_ROW("openssl-static", UPROBE_EXE_SYMBOL, NULL),
	/*
	 * Go's own TLS: the plaintext of crypto/tls.(*Conn).Read, with its returns probed at its
	 * RET instructions, and of Write, at its entry (bpf/tls.bpf.h); and the handshake, client
	 * or server side, which ties a connection to its socket before its first Read or Write.
	 * A Go program without crypto/tls is no match.
	 */
	{
		.name = "go-crypto/tls",
		.in = UPROBE_GO_EXE,
		.lost = "its TLS traffic is not seen in clear (no HTTPS or gRPC-over-TLS spans)",
		.hint = "no symbol table (stripped?)",
		.flag = "go_tls_uprobes",
		.tls = true,
		.ret_insns = true,
		.optional = true,
		.syms = {{"crypto/tls.(*Conn).Read", "sonde_gotls_read", "sonde_gotls_ret", true},
			 {"crypto/tls.(*Conn).Write", "sonde_gotls_write", NULL, true},
			 {"crypto/tls.(*Conn).serverHandshake", "sonde_gotls_hs",
			  "sonde_gotls_hs_ret", false},
			 {"crypto/tls.(*Conn).clientHandshake", "sonde_gotls_hs",
			  "sonde_gotls_hs_ret", false}},
	},
};
const size_t uprobe_table_len = sizeof(uprobe_table) / sizeof(uprobe_table[0]);

size_t uprobe_rows_chosen(struct uprobe_target *out, bool tls, bool go_grpc)
{
	size_t i, n = 0;

	for (i = 0; i < uprobe_table_len; i++)
		if ((tls || !uprobe_table[i].tls) && (go_grpc || !uprobe_table[i].go_grpc))
			out[n++] = uprobe_table[i];
	return n;
}

/* Files one sonde keeps at once (attached or failed), and processes remembered per file. */
#define FILES_MAX 1024
#define USERS_MAX 16
/* Executables found to match no row, remembered by identity (direct-mapped). */
#define MISS_SLOTS 1024

struct file_id {
	uint64_t dev, ino;
	int64_t ctime_s, ctime_ns;
};

struct user {
	uint32_t pid;
	uint64_t start; /* /proc/PID/stat's start time: tells a reused pid apart */
};

struct ufile {
	struct file_id id;
	size_t row;
	int err; /* 0: attached */
	void *links[UPROBE_MAX_LINKS];
	int n_links;
	struct user users[USERS_MAX];
	int n_users;
	bool many_users; /* more than USERS_MAX: never detached before sonde stops */
	char name[64];
};

struct uprobes {
	const struct uprobe_target *table;
	size_t n_rows;
	char proc[256];
	const struct uprobe_ops *ops;
	void *ctx;
	struct ufile *files[FILES_MAX];
	int n_files;
	struct file_id miss[MISS_SLOTS];
	struct uprobe_stats *stats; /* per row */
};

struct uprobes *uprobes__new(const struct uprobe_target *table, size_t n, const char *proc,
			     const struct uprobe_ops *ops, void *ctx)
{
	struct uprobes *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->stats = calloc(n ? n : 1, sizeof(*u->stats));
	if (!u->stats) {
		free(u);
		return NULL;
	}
	u->table = table;
	u->n_rows = n;
	snprintf(u->proc, sizeof(u->proc), "%s", proc);
	u->ops = ops;
	u->ctx = ctx;
	return u;
}

static void file_detach(struct uprobes *u, struct ufile *f)
{
	int i;

	for (i = 0; i < f->n_links; i++)
		u->ops->detach(u->ctx, f->links[i]);
	f->n_links = 0;
}

void uprobes__free(struct uprobes *u)
{
	int i;

	if (!u)
		return;
	for (i = 0; i < u->n_files; i++) {
		file_detach(u, u->files[i]);
		free(u->files[i]);
	}
	free(u->stats);
	free(u);
}

int uprobes_parse_maps_line(char *line, struct maps_line *out)
{
	static const char deleted[] = " (deleted)";
	unsigned long long start, end, offset, inode;
	unsigned int major, minor;
	size_t len;
	int pos = 0;
	char *p;

	memset(out, 0, sizeof(*out));
	len = strcspn(line, "\n");
	line[len] = 0;
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, out->perms, &offset,
		   &major, &minor, &inode, &pos) != 7 || !pos)
		return -EINVAL;
	out->start = start;
	out->end = end;
	out->offset = offset;
	out->dev_major = major;
	out->dev_minor = minor;
	out->inode = inode;
	p = line + pos;
	if (*p != '/')
		return 0; /* anonymous, [heap], [stack], [vdso]... */
	len = strlen(p);
	if (len > sizeof(deleted) - 1 && !strcmp(p + len - (sizeof(deleted) - 1), deleted))
		p[len - (sizeof(deleted) - 1)] = 0;
	out->path = p;
	return 0;
}

bool uprobes_name_matches(const char *pattern, const char *path)
{
	const char *base = strrchr(path, '/');

	return pattern && !fnmatch(pattern, base ? base + 1 : path, 0);
}

static bool id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->ctime_s == b->ctime_s &&
	       a->ctime_ns == b->ctime_ns;
}

static int file_id_of(const char *path, struct file_id *id)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->ctime_s = st.st_ctim.tv_sec;
	id->ctime_ns = st.st_ctim.tv_nsec;
	return 0;
}

/* /proc/PID/stat's start time (field 22), or 0 when the process is gone. */
static uint64_t proc_start(const struct uprobes *u, uint32_t pid)
{
	unsigned long long start = 0;
	char path[300], buf[1024], *p;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/%u/stat", u->proc, pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The comm may hold spaces and parentheses; after its ')', each space starts a field
	 * from the third on. */
	p = strrchr(buf, ')');
	for (i = 0; p && i < 20; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	return start;
}

/* The file of row already known (attached, or failed at this identity), or NULL. */
static struct ufile *file_find(struct uprobes *u, size_t row, const struct file_id *id)
{
	int i;

	for (i = 0; i < u->n_files; i++) {
		struct ufile *f = u->files[i];

		if (f->row != row || f->id.dev != id->dev || f->id.ino != id->ino)
			continue;
		/* Attached: its inode is held, the same file whatever its ctime says now. */
		if (!f->err || id_equal(&f->id, id))
			return f;
	}
	return NULL;
}

static void file_remove(struct uprobes *u, int i)
{
	free(u->files[i]);
	u->files[i] = u->files[--u->n_files];
}

/* Room for one more file: a full table forgets a failed one first (it holds nothing). */
static int file_room(struct uprobes *u, size_t row, const struct file_id *id)
{
	int i;

	for (i = 0; i < u->n_files; i++)
		if (u->files[i]->row == row && u->files[i]->id.dev == id->dev &&
		    u->files[i]->id.ino == id->ino) {
			file_remove(u, i); /* the same inode changed since it failed: try again */
			break;
		}
	if (u->n_files < FILES_MAX)
		return 0;
	for (i = 0; i < u->n_files; i++)
		if (u->files[i]->err) {
			file_remove(u, i);
			return 0;
		}
	return -E2BIG;
}

static void file_note_user(struct uprobes *u, struct ufile *f, uint32_t pid)
{
	uint64_t start = proc_start(u, pid);
	int i;

	if (f->err || f->many_users || !start)
		return;
	for (i = 0; i < f->n_users; i++)
		if (f->users[i].pid == pid && f->users[i].start == start)
			return;
	for (i = 0; i < f->n_users; i++)
		if (f->users[i].pid == pid) /* a reused pid: the old process is gone */
			break;
	if (i == USERS_MAX) {
		f->many_users = true;
		return;
	}
	f->users[i].pid = pid;
	f->users[i].start = start;
	if (i == f->n_users)
		f->n_users++;
}

/* The row is optional and the file lacks its symbols: no match rather than a failure. */
static bool no_match(const struct uprobe_target *t, const struct ufile *f)
{
	return t->optional && f && f->err == -ENOENT;
}

/* Attach row to the file at path (identity id) once; the file's entry, or NULL (no room). */
static struct ufile *file_attach(struct uprobes *u, size_t row, const char *path,
				 const struct file_id *id, const char *name, int *err)
{
	struct ufile *f = file_find(u, row, id);

	if (f)
		return f;
	*err = file_room(u, row, id);
	if (*err)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	f->id = *id;
	f->row = row;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->err = u->ops->attach(u->ctx, &u->table[row], path, f->links, &f->n_links);
	if (f->err) {
		f->n_links = 0;
		if (!no_match(&u->table[row], f))
			u->stats[row].failed++;
	} else {
		u->stats[row].attached++;
		u->stats[row].active++;
	}
	u->files[u->n_files++] = f;
	return f;
}

static int outcome(struct uprobe_outcome *out, int max, int n, const struct uprobe_target *t,
		   const struct ufile *f, int err)
{
	if (no_match(t, f))
		return n;
	if (n < max) {
		out[n].target = t;
		snprintf(out[n].file, sizeof(out[n].file), "%s", f ? f->name : "?");
		out[n].err = f ? f->err : err;
	}
	return n + 1;
}

static size_t miss_slot(const struct file_id *id)
{
	return (id->ino * 0x9e3779b97f4a7c15ULL ^ id->dev) % MISS_SLOTS;
}

/* The executable at path (identity id) is a match for row t: a Go program, or one that
 * defines the row's first symbol. *is_go caches the first answer (-1: not asked yet). */
static bool exe_matches(struct uprobes *u, const struct uprobe_target *t, const char *path,
			int *is_go)
{
	if (t->in == UPROBE_EXE_SYMBOL)
		return u->ops->has_symbol && u->ops->has_symbol(u->ctx, path, t->syms[0].symbol);
	if (*is_go < 0)
		*is_go = u->ops->is_go(u->ctx, path);
	return *is_go;
}

/* The rows on the process's executable. */
static int process_exe(struct uprobes *u, uint32_t pid, struct uprobe_outcome *out, int max)
{
	char path[300], link[256];
	struct file_id id = {0};
	const char *name;
	bool checked = false, matched = false, go = false;
	int n = 0, err, is_go = -1;
	ssize_t len;
	size_t row;

	snprintf(path, sizeof(path), "%s/%u/exe", u->proc, pid);
	if (file_id_of(path, &id))
		return -ESRCH; /* gone, or a kernel thread */
	if (id_equal(&u->miss[miss_slot(&id)], &id)) {
		if (u->ops->go_process)
			u->ops->go_process(u->ctx, pid, false);
		return 0;
	}
	len = readlink(path, link, sizeof(link) - 1);
	link[len > 0 ? len : 0] = 0;
	name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	for (row = 0; row < u->n_rows; row++) {
		const struct uprobe_target *t = &u->table[row];
		struct ufile *f;

		if (t->in != UPROBE_GO_EXE && t->in != UPROBE_EXE_SYMBOL)
			continue;
		f = file_find(u, row, &id);
		if (!f) {
			checked = true;
			if (!exe_matches(u, t, path, &is_go))
				continue;
			f = file_attach(u, row, path, &id, name, &err);
		}
		matched |= !no_match(t, f);
		if (f)
			file_note_user(u, f, pid);
		go |= f && t->in == UPROBE_GO_EXE;
		n = outcome(out, max, n, t, f, f ? 0 : err);
	}
	if (checked && !matched)
		u->miss[miss_slot(&id)] = id;
	if (u->ops->go_process)
		u->ops->go_process(u->ctx, pid, go);
	return n;
}

/* The row-inode pairs one process already had, so that each library counts once per process. */
struct seen_libs {
	uint64_t key[64];
	int n;
};

static bool seen_once(struct seen_libs *s, size_t row, uint64_t inode)
{
	uint64_t key = inode * 31 + row;
	int i;

	for (i = 0; i < s->n; i++)
		if (s->key[i] == key)
			return true;
	if (s->n < (int)(sizeof(s->key) / sizeof(s->key[0])))
		s->key[s->n++] = key;
	return false;
}

/*
 * The path to attach a library through, and its identity: the mapped file itself
 * (/proc/PID/map_files/, whatever mount namespace the process sees it in), else the process's
 * own view of its path (/proc/PID/root, a container's files) when it is the same inode.
 */
static int library_path(const struct uprobes *u, uint32_t pid, const struct maps_line *m,
			char *path, size_t len, struct file_id *id)
{
	snprintf(path, len, "%s/%u/map_files/%llx-%llx", u->proc, pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	if (!file_id_of(path, id))
		return 0;
	snprintf(path, len, "%s/%u/root%s", u->proc, pid, m->path);
	if (file_id_of(path, id))
		return -ENOENT;
	return id->ino == m->inode ? 0 : -ESTALE;
}

/* The rows on the libraries the process maps; n outcomes so far. */
static int process_libraries(struct uprobes *u, uint32_t pid, struct uprobe_outcome *out,
			     int max, int n)
{
	char path[300], line[1024], at[600];
	struct seen_libs seen = {0};
	struct maps_line m;
	struct file_id id = {0};
	size_t row;
	FILE *fp;
	int err;

	for (row = 0; row < u->n_rows && u->table[row].in != UPROBE_LIBRARY; row++)
		;
	if (row == u->n_rows)
		return n; /* no library row: the maps are not read */
	snprintf(path, sizeof(path), "%s/%u/maps", u->proc, pid);
	fp = fopen(path, "re");
	if (!fp)
		return n;
	while (fgets(line, sizeof(line), fp)) {
		if (uprobes_parse_maps_line(line, &m) || !m.path || !m.inode)
			continue;
		for (row = 0; row < u->n_rows; row++) {
			const struct uprobe_target *t = &u->table[row];
			struct ufile *f;

			if (t->in != UPROBE_LIBRARY || !uprobes_name_matches(t->pattern, m.path) ||
			    seen_once(&seen, row, m.inode) ||
			    library_path(u, pid, &m, at, sizeof(at), &id))
				continue;
			f = file_attach(u, row, at, &id, strrchr(m.path, '/') + 1, &err);
			if (f)
				file_note_user(u, f, pid);
			n = outcome(out, max, n, t, f, f ? 0 : err);
		}
	}
	fclose(fp);
	return n;
}

int uprobes__process(struct uprobes *u, uint32_t pid, struct uprobe_outcome *out, int max)
{
	int n = process_exe(u, pid, out, max);

	if (n < 0)
		return n;
	return process_libraries(u, pid, out, max, n);
}

int uprobes__running(struct uprobes *u)
{
	struct uprobe_outcome out[8];
	struct dirent *de;
	char *end;
	unsigned long pid;
	int n = 0, k;
	DIR *d;

	d = opendir(u->proc);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		pid = strtoul(de->d_name, &end, 10);
		if (*end || !pid || pid > UINT32_MAX)
			continue;
		k = uprobes__process(u, (uint32_t)pid, out, 8);
		if (k > 0)
			n += k;
	}
	closedir(d);
	return n;
}

int uprobes__library_dir(struct uprobes *u, const char *dir)
{
	struct file_id id = {0};
	char path[600];
	struct dirent *de;
	int n = 0, err;
	size_t row;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		for (row = 0; row < u->n_rows; row++) {
			const struct uprobe_target *t = &u->table[row];
			struct ufile *f;

			if (t->in != UPROBE_LIBRARY || !uprobes_name_matches(t->pattern, de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			/* a link to a file the loop meets under its own name too: one attach */
			if (file_id_of(path, &id) || file_find(u, row, &id))
				continue;
			f = file_attach(u, row, path, &id, de->d_name, &err);
			if (f && !f->err) {
				f->many_users = true; /* kept: processes that start later map it */
				n++;
			}
		}
	}
	closedir(d);
	return n;
}

/* A process still uses the file: the same process (pid and start time), and for an executable
 * row still running it (an exec moved it to another file). */
static bool user_alive(struct uprobes *u, const struct ufile *f, const struct user *us)
{
	struct file_id id = {0};
	char path[300];

	if (proc_start(u, us->pid) != us->start)
		return false;
	if (u->table[f->row].in == UPROBE_LIBRARY)
		return true;
	snprintf(path, sizeof(path), "%s/%u/exe", u->proc, us->pid);
	return !file_id_of(path, &id) && id.dev == f->id.dev && id.ino == f->id.ino;
}

int uprobes__sweep(struct uprobes *u)
{
	int i, j, n = 0;

	for (i = u->n_files - 1; i >= 0; i--) {
		struct ufile *f = u->files[i];

		if (f->err || f->many_users)
			continue;
		for (j = 0; j < f->n_users;) {
			if (user_alive(u, f, &f->users[j]))
				j++;
			else
				f->users[j] = f->users[--f->n_users];
		}
		if (f->n_users)
			continue;
		file_detach(u, f);
		u->stats[f->row].detached++;
		u->stats[f->row].active--;
		file_remove(u, i);
		n++;
	}
	return n;
}

void uprobes__stats(const struct uprobes *u, size_t row, struct uprobe_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (u && row < u->n_rows)
		*out = u->stats[row];
}
