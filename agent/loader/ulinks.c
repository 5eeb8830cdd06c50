// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The uprobe table's links, uprobe_multi where the kernel has them, removed off the loop. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "ulinks.h"

/* Linux 6.6's uapi (the build's headers may be older): the attach type, and its part of
 * BPF_LINK_CREATE's attributes, which follow the four u32 every link has. */
#define ATTACH_UPROBE_MULTI 48
#define UPROBE_MULTI_RETURN 1U

struct uprobe_multi_attr {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid;
};

union link_attr {
	union bpf_attr attr;
	struct uprobe_multi_attr um;
};

/* The threads that remove links: as many grace periods overlap (see ulinks.h). */
#define DETACH_THREADS 16
#define DETACH_STACK (64 * 1024)

struct ulink {
	struct bpf_link *bl; /* a perf-event link (libbpf's) */
	int fd;		     /* or a uprobe_multi link's fd */
	uint64_t file;	     /* the file it is on (ulinks__attach) */
};

struct ulinks {
	bool multi;
	pthread_mutex_t mu;
	pthread_cond_t more; /* queued, or stopping */
	pthread_cond_t done; /* a removal ended */
	struct ulink **q;
	int n_q, cap_q;
	int busy;			  /* removals under way */
	uint64_t busy_file[DETACH_THREADS]; /* the file of each thread's removal; 0: none */
	bool stop;
	pthread_t threads[DETACH_THREADS];
	struct detacher_arg {
		struct ulinks *u;
		int slot;
	} args[DETACH_THREADS];
	int n_threads;
};

static int link_create(union link_attr *a)
{
	return (int)syscall(SYS_bpf, BPF_LINK_CREATE, a, sizeof(*a));
}

bool ulinks__multi_supported(void)
{
	static const struct bpf_insn ret0[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = ATTACH_UPROBE_MULTI);
	union link_attr a;
	uint64_t off = 1;
	int prog, fd;
	bool yes;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "sonde_um_probe", "GPL", ret0, 2, &o);
	if (prog < 0)
		return false;
	/* A directory for a file: a kernel that knows the type refuses it with EBADF, one that
	 * does not with EINVAL, before anything is attached. */
	memset(&a, 0, sizeof(a));
	a.um.prog_fd = (uint32_t)prog;
	a.um.attach_type = ATTACH_UPROBE_MULTI;
	a.um.path = (uint64_t)(uintptr_t)"/";
	a.um.offsets = (uint64_t)(uintptr_t)&off;
	a.um.cnt = 1;
	fd = link_create(&a);
	yes = fd < 0 && errno == EBADF;
	if (fd >= 0)
		close(fd);
	close(prog);
	return yes;
}

void ulinks__prepare(struct bpf_object *obj, bool multi)
{
	struct bpf_program *p;
	const char *sec;

	if (!multi)
		return;
	bpf_object__for_each_program(p, obj) {
		sec = bpf_program__section_name(p);
		if (!strncmp(sec, "uprobe", 6) || !strncmp(sec, "uretprobe", 9))
			bpf_program__set_expected_attach_type(p, ATTACH_UPROBE_MULTI);
	}
}

static void destroy(struct ulink *l)
{
	if (l->bl)
		bpf_link__destroy(l->bl);
	else if (l->fd >= 0)
		close(l->fd);
	free(l);
}

static void *detacher(void *arg)
{
	const struct detacher_arg *me = arg;
	struct ulinks *u = me->u;
	struct ulink *l;

	pthread_mutex_lock(&u->mu);
	for (;;) {
		while (!u->n_q && !u->stop)
			pthread_cond_wait(&u->more, &u->mu);
		if (!u->n_q)
			break; /* stopping, and nothing left */
		l = u->q[--u->n_q];
		u->busy++;
		u->busy_file[me->slot] = l->file;
		pthread_mutex_unlock(&u->mu);
		destroy(l);
		pthread_mutex_lock(&u->mu);
		u->busy_file[me->slot] = 0;
		u->busy--;
		pthread_cond_broadcast(&u->done);
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

struct ulinks *ulinks__new(bool multi)
{
	struct ulinks *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->multi = multi;
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->more, NULL);
	pthread_cond_init(&u->done, NULL);
	return u;
}

bool ulinks__multi(const struct ulinks *u)
{
	return u->multi;
}

/* The threads start with the first removal: a host with no uprobe user never has them. */
static void start_threads(struct ulinks *u)
{
	pthread_attr_t at;

	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, DETACH_STACK);
	while (u->n_threads < DETACH_THREADS) {
		u->args[u->n_threads].u = u;
		u->args[u->n_threads].slot = u->n_threads;
		if (pthread_create(&u->threads[u->n_threads], &at, detacher, &u->args[u->n_threads]))
			break;
		u->n_threads++;
	}
	pthread_attr_destroy(&at);
}

void ulinks__detach(struct ulinks *u, void *link)
{
	struct ulink *l = link, **q;

	if (!l)
		return;
	pthread_mutex_lock(&u->mu);
	if (!u->n_threads)
		start_threads(u);
	if (u->n_q == u->cap_q) {
		int cap = u->cap_q ? u->cap_q * 2 : 64;

		q = realloc(u->q, (size_t)cap * sizeof(*q));
		if (q) {
			u->q = q;
			u->cap_q = cap;
		}
	}
	if (!u->n_threads || u->n_q == u->cap_q) {
		pthread_mutex_unlock(&u->mu);
		destroy(l); /* no thread, or no memory: here, then */
		return;
	}
	u->q[u->n_q++] = l;
	pthread_cond_signal(&u->more);
	pthread_mutex_unlock(&u->mu);
}

/* Is a link on file queued, or being removed? Called with mu held. */
static bool file_pending(const struct ulinks *u, uint64_t file)
{
	int i;

	for (i = 0; i < u->n_q; i++)
		if (u->q[i]->file == file)
			return true;
	for (i = 0; i < u->n_threads; i++)
		if (u->busy_file[i] == file)
			return true;
	return false;
}

void ulinks__settle(struct ulinks *u, uint64_t file)
{
	if (!u || !file)
		return;
	pthread_mutex_lock(&u->mu);
	while (file_pending(u, file))
		pthread_cond_wait(&u->done, &u->mu);
	pthread_mutex_unlock(&u->mu);
}

void ulinks__free(struct ulinks *u)
{
	int i;

	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->stop = true;
	pthread_cond_broadcast(&u->more);
	pthread_mutex_unlock(&u->mu);
	for (i = 0; i < u->n_threads; i++)
		pthread_join(u->threads[i], NULL);
	pthread_cond_destroy(&u->more);
	pthread_cond_destroy(&u->done);
	pthread_mutex_destroy(&u->mu);
	free(u->q);
	free(u);
}

static int attach_multi(const struct bpf_program *prog, const char *path, const uint64_t *offs,
			const uint64_t *cookies, int cnt, bool ret, struct ulink *l)
{
	union link_attr a;

	memset(&a, 0, sizeof(a));
	a.um.prog_fd = (uint32_t)bpf_program__fd(prog);
	a.um.attach_type = ATTACH_UPROBE_MULTI;
	a.um.path = (uint64_t)(uintptr_t)path;
	a.um.offsets = (uint64_t)(uintptr_t)offs;
	a.um.cookies = (uint64_t)(uintptr_t)cookies;
	a.um.cnt = (uint32_t)cnt;
	a.um.multi_flags = ret ? UPROBE_MULTI_RETURN : 0;
	l->fd = link_create(&a);
	return l->fd < 0 ? -errno : 0;
}

int ulinks__attach(struct ulinks *u, const struct bpf_program *prog, const char *path,
		   uint64_t file, const uint64_t *offs, const uint64_t *cookies, int cnt, bool ret,
		   void **links, int *n, int max)
{
	int k = *n, i, err = 0;
	struct ulink *l;

	if (cnt <= 0 || *n + (u->multi ? 1 : cnt) > max)
		return cnt <= 0 ? -EINVAL : -E2BIG;
	for (i = 0; i < (u->multi ? 1 : cnt) && !err; i++) {
		l = calloc(1, sizeof(*l));
		if (!l) {
			err = -ENOMEM;
			break;
		}
		l->fd = -1;
		l->file = file;
		if (u->multi) {
			err = attach_multi(prog, path, offs, cookies, cnt, ret, l);
		} else {
			LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = ret,
				    .bpf_cookie = cookies ? cookies[i] : 0);

			l->bl = bpf_program__attach_uprobe_opts(prog, -1, path, offs[i], &o);
			err = l->bl ? 0 : -errno;
		}
		if (err)
			free(l);
		else
			links[(*n)++] = l;
	}
	if (err)
		while (*n > k)
			destroy(links[--*n]);
	return err;
}

uint64_t ulinks__file_id(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return 0;
	/* device and inode folded: a collision only makes an attach wait for another file */
	return ((uint64_t)st.st_dev << 40 ^ (uint64_t)st.st_ino) | 1;
}
