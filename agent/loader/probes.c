// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What this kernel allows, and the one probe table that picks a hook per capability from it:
 * rows of one capability are alternatives, cheapest first, and the first whose hooks exist in
 * the kernel's BTF (and whose set --hooks allows) wins; the others are never loaded. Also the
 * capability check (sonde --check) and the errors that name what a user lacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loader_impl.h"

/* Which family of hooks a row belongs to (--hooks forces one). */
enum hook_set {
	SET_SOCKET = 1,	  /* socket-level tracepoints: nearly free */
	SET_FALLBACK = 2, /* syscall and raw tracepoints: every syscall pays */
};

/* What a chosen row switches on in the BPF side's settings (the syscall programs serve two). */
enum probe_effect {
	EFFECT_NONE = 0,
	EFFECT_SYS_SEND, /* sys_send = 1 */
	EFFECT_SYS_RECV, /* sys_recv = 1 */
};

/* One way to get one capability. */
struct probe {
	const char *capability; /* what sonde gets from it */
	const char *hook;	/* attach points, in words for --check */
	const char *needs;	/* what a kernel must have for it */
	enum hook_set set;	/* its cost class */
	enum probe_effect effect;
	bool required;		/* sonde cannot run without this capability */
	/* BPF programs by name; each one's section names its hook, whose btf_trace_ typedef in
	 * kernel BTF proves it exists (for tp_btf and raw_tp alike) */
	const char *progs[PROBE_MAX_PROGS];
};

/*
 * The probe table. Rows of one capability are adjacent alternatives, cheapest first; the first
 * whose hooks all exist (and whose set --hooks allows) wins, the others are not loaded. The
 * socket-level tracepoints (kernel 6.3+) cost the traced processes almost nothing; the syscall
 * fallback slows every syscall of every task, before any work (../shared/KERNEL.md). fentry/kprobe rows on the socket layer would sit between the
 * two; they are not written (this development kernel refuses fentry and has no kprobes).
 */
static const struct probe probes[] = {
	{"socket send", "tp_btf/sock_send_length", "kernel 6.3+", SET_SOCKET, EFFECT_NONE, true,
	 {"sonde_sock_send"}},
	{"socket send", "raw_tp/sys_enter+sys_exit (write writev sendto sendmsg)", "kernel 4.17+",
	 SET_FALLBACK, EFFECT_SYS_SEND, true, {"sonde_sys_enter", "sonde_sys_exit"}},
	{"socket receive", "tp_btf/sock_recv_length", "kernel 6.3+", SET_SOCKET, EFFECT_NONE, true,
	 {"sonde_sock_recv"}},
	{"socket receive", "raw_tp/sys_enter+sys_exit (read readv recvfrom recvmsg)", "kernel 4.17+",
	 SET_FALLBACK, EFFECT_SYS_RECV, true, {"sonde_sys_enter", "sonde_sys_exit"}},
	{"connection open/close", "tp_btf/inet_sock_set_state", "kernel 5.5+", SET_SOCKET,
	 EFFECT_NONE, true, {"sonde_sock_state"}},
	{"connection open/close", "raw_tp/inet_sock_set_state", "kernel 4.17+", SET_FALLBACK,
	 EFFECT_NONE, true, {"sonde_raw_state"}},
	/* Optional: without it, a worker thread a handler creates starts traces of its own. */
	{"thread hand-off", "tp_btf/sched_process_fork", "kernel 5.5+", SET_SOCKET, EFFECT_NONE,
	 false, {"sonde_thr_fork"}},
	{"thread hand-off", "raw_tp/sched_process_fork", "kernel 4.17+", SET_FALLBACK, EFFECT_NONE,
	 false, {"sonde_raw_fork"}},
	/* Optional: without it, a program started after sonde gets its uprobes (the uprobe
	 * table) at its first connection, once it is traced, not before. */
	{"process start", "tp_btf/sched_process_exec", "kernel 5.5+", SET_SOCKET, EFFECT_NONE,
	 false, {"sonde_exec"}},
	{"process start", "raw_tp/sched_process_exec", "kernel 4.17+", SET_FALLBACK, EFFECT_NONE,
	 false, {"sonde_raw_exec"}},
};
#define N_PROBES (sizeof(probes) / sizeof(probes[0]))
_Static_assert(N_PROBES <= PROBES_MAX, "raise PROBES_MAX in loader_impl.h");

static bool btf_has(const struct btf *btf, const char *name)
{
	return btf && btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) > 0;
}

/* The hook of a tp_btf or raw_tp program exists when its btf_trace_<event> typedef does. */
static bool prog_hook_exists(const struct btf *btf, const struct bpf_program *p)
{
	const char *sec = p ? bpf_program__section_name(p) : NULL;
	const char *event = sec ? strchr(sec, '/') : NULL;
	char name[128];

	if (!event || (strncmp(sec, "tp_btf/", 7) && strncmp(sec, "raw_tp/", 7)))
		return false;
	snprintf(name, sizeof(name), "btf_trace_%s", event + 1);
	return btf_has(btf, name);
}

static bool probe_available(const struct btf *btf, struct bpf_object *obj, const struct probe *pr)
{
	int k;

	for (k = 0; k < PROBE_MAX_PROGS && pr->progs[k]; k++)
		if (!prog_hook_exists(btf, bpf_object__find_program_by_name(obj, pr->progs[k])))
			return false;
	return true;
}

static bool set_allowed(enum sonde_hooks mode, enum hook_set set)
{
	return mode == HOOKS_AUTO || (mode == HOOKS_SOCKET && set == SET_SOCKET) ||
	       (mode == HOOKS_SYSCALLS && set == SET_FALLBACK);
}

static const char *hooks_name(enum sonde_hooks mode)
{
	return mode == HOOKS_SOCKET ? "socket" : mode == HOOKS_SYSCALLS ? "syscalls" : "auto";
}

/*
 * Pick one row per capability. Returns 0, or -ENOTSUP with plan->missing the first row of a
 * required capability nothing can provide.
 */
int probes__plan(const struct btf *btf, struct bpf_object *obj, enum sonde_hooks mode,
		 struct probe_plan *plan)
{
	size_t i, j;

	memset(plan, 0, sizeof(*plan));
	for (i = 0; i < N_PROBES; i = j) {
		bool found = false;

		for (j = i; j < N_PROBES && !strcmp(probes[j].capability, probes[i].capability); j++) {
			if (found || !set_allowed(mode, probes[j].set) ||
			    !probe_available(btf, obj, &probes[j]))
				continue;
			plan->chosen[j] = found = true;
		}
		if (!found && probes[i].required) {
			plan->missing = i;
			return -ENOTSUP;
		}
	}
	return 0;
}

/* The capability nothing provides, and what each of its rows needs. */
void probes__explain_missing(const struct probe_plan *plan, enum sonde_hooks mode)
{
	const struct probe *m = &probes[plan->missing];
	size_t i;
	int k = 0;

	fprintf(stderr, "sonde: this kernel has no hook for %s%s%s%s (", m->capability,
		mode ? " among those --hooks " : "", mode ? hooks_name(mode) : "",
		mode ? " allows" : "");
	for (i = plan->missing; i < N_PROBES && !strcmp(probes[i].capability, m->capability); i++)
		if (set_allowed(mode, probes[i].set))
			fprintf(stderr, "%s%s needs %s", k++ ? "; " : "", probes[i].hook,
				probes[i].needs);
	fprintf(stderr, "): run sonde --check\n");
}

/*
 * The capture runs on the socket tracepoints (not the syscall fallback): what the propagation
 * modes need, their verdicts and contexts reaching the records through them. The optional rows
 * (thread hand-off, process start) do not count.
 */
bool probes__capture_on_socket_hooks(const struct probe_plan *plan)
{
	size_t i;

	for (i = 0; i < N_PROBES; i++)
		if (plan->chosen[i] && probes[i].required && probes[i].set != SET_SOCKET)
			return false;
	return true;
}

/* Load the chosen rows' programs (the losers are never verified) and set what they switch on. */
void probes__set_autoload(struct sonde_bpf *skel, const struct probe_plan *plan)
{
	size_t i;
	int k;

	for (i = 0; i < N_PROBES; i++) {
		if (!plan->chosen[i])
			continue;
		for (k = 0; k < PROBE_MAX_PROGS && probes[i].progs[k]; k++)
			bpf_program__set_autoload(
				bpf_object__find_program_by_name(skel->obj, probes[i].progs[k]), true);
		if (probes[i].effect == EFFECT_SYS_SEND)
			skel->rodata->sys_send = 1;
		else if (probes[i].effect == EFFECT_SYS_RECV)
			skel->rodata->sys_recv = 1;
	}
}

/* Attach p unless an earlier row did; the start-up line names every hook attached. */
static int attach_once(struct loader *ld, struct bpf_program *p)
{
	const char *sec = bpf_program__section_name(p);
	int n;

	for (n = 0; n < ld->n_links; n++)
		if (ld->link_progs[n] == p)
			return 0;
	if (ld->n_links >= LINKS_MAX)
		return -E2BIG;
	ld->links[ld->n_links] = bpf_program__attach(p);
	if (!ld->links[ld->n_links])
		return -errno;
	ld->link_progs[ld->n_links++] = p;
	snprintf(ld->hooks + strlen(ld->hooks), sizeof(ld->hooks) - strlen(ld->hooks), "%s%s",
		 ld->hooks[0] ? " " : "", sec);
	return 0;
}

/*
 * Attach the chosen rows, each program once (the syscall pair serves two rows). A required row
 * that fails is an error; an optional one a warning, its capability missing.
 */
int probes__attach(struct loader *ld, const struct probe_plan *plan)
{
	struct bpf_program *p;
	char what[96];
	size_t i;
	int k, err;

	for (i = 0; i < N_PROBES; i++) {
		if (!plan->chosen[i])
			continue;
		for (k = 0; k < PROBE_MAX_PROGS && probes[i].progs[k]; k++) {
			p = bpf_object__find_program_by_name(ld->skel->obj, probes[i].progs[k]);
			err = attach_once(ld, p);
			if (!err)
				continue;
			if (probes[i].required) {
				snprintf(what, sizeof(what), "attach %s", bpf_program__section_name(p));
				loader_explain_failure(what, err);
				return err;
			}
			fprintf(stderr, "sonde: warning: %s not attached (%s): %s unavailable\n",
				bpf_program__section_name(p), strerror(-err), probes[i].capability);
		}
	}
	return 0;
}

/* Effective capabilities of this process, as a 64-bit mask. */
static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Names of the capabilities sonde needs that this process lacks, or "" when it has them. */
static void missing_caps(char *buf, size_t len)
{
	uint64_t caps = effective_caps();
	bool admin = caps & (1ULL << CAP_SYS_ADMIN);

	buf[0] = 0;
	if (!admin && !(caps & (1ULL << CAP_BPF)))
		strncat(buf, "CAP_BPF ", len - strlen(buf) - 1);
	if (!admin && !(caps & (1ULL << CAP_PERFMON)))
		strncat(buf, "CAP_PERFMON ", len - strlen(buf) - 1);
	if (!(caps & (1ULL << CAP_NET_ADMIN)))
		strncat(buf, "CAP_NET_ADMIN ", len - strlen(buf) - 1);
	if (buf[0])
		buf[strlen(buf) - 1] = 0;
}

void loader_explain_failure(const char *what, int err)
{
	char caps[128];

	missing_caps(caps, sizeof(caps));
	if ((err == -EPERM || err == -EACCES) && caps[0])
		fprintf(stderr,
			"sonde: cannot %s: %s (missing %s: run as root or grant CAP_BPF, "
			"CAP_PERFMON and CAP_NET_ADMIN)\n",
			what, strerror(-err), caps);
	else
		fprintf(stderr, "sonde: cannot %s: %s (run sonde --check to see what this kernel allows)\n",
			what, strerror(-err));
}

static const char *read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return buf;
}

/* The kernel, its BTF, the privileges, kprobes, lockdown, cgroup v2; false when sonde cannot run. */
static bool check_basics(FILE *out, const struct btf *btf, char *caps, size_t caps_len)
{
	char buf[256];
	const char *s;

	fprintf(out, "sonde %s: what this kernel allows\n", SONDE_VERSION);
	s = read_small("/proc/sys/kernel/osrelease", buf, sizeof(buf));
	fprintf(out, "  kernel                      %s\n", s ? s : "unknown");
	fprintf(out, "  kernel BTF                  %s\n",
		btf ? "yes (/sys/kernel/btf/vmlinux): CO-RE works" : "NO: sonde needs BTF");
	missing_caps(caps, caps_len);
	fprintf(out, "  privileges                  %s%s\n", caps[0] ? "missing: " : "enough",
		caps);
	fprintf(out, "  kprobes                     %s\n",
		access("/sys/kernel/tracing/kprobe_events", F_OK) == 0 ||
				access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0
			? "yes"
			: "no (kernel built without them)");
	s = read_small("/sys/kernel/security/lockdown", buf, sizeof(buf));
	fprintf(out, "  lockdown                    %s\n", s ? s : "unknown");
	fprintf(out, "  cgroup v2 (sockops)         %s\n",
		access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ||
				access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0
			? "yes"
			: "no");
	return btf && !caps[0];
}

/* Every row, available or not, and the ones this --hooks setting would use. */
static bool check_rows(FILE *out, const struct btf *btf, struct bpf_object *obj,
		       const struct probe_plan *plan)
{
	bool fallback = false;
	size_t i;

	fprintf(out, "hooks (probe table: per capability, the first available row is used; "
		     "--hooks socket|syscalls forces one set):\n");
	for (i = 0; i < N_PROBES; i++) {
		bool have = probe_available(btf, obj, &probes[i]);

		fprintf(out, "  %-22s %-8s %-58s %s\n", probes[i].capability,
			probes[i].set == SET_SOCKET ? "socket" : "fallback", probes[i].hook,
			plan->chosen[i] ? "available: will be used"
			: have		? "available"
					: "NOT available");
		if (plan->chosen[i] && probes[i].set == SET_FALLBACK)
			fallback = true;
	}
	return fallback;
}

/* The propagation modes: each needs the socket tracepoints and its self-test to pass. */
static void check_propagation(FILE *out, const struct probe_plan *plan)
{
	bool socket_hooks = probes__capture_on_socket_hooks(plan);
	const char *note = NULL;
	char why[256], cg[256];

	fprintf(out, "propagation:\n");
	if (!socket_hooks)
		fprintf(out, "  header injection       NOT available: it needs the socket "
			     "tracepoints (kernel 6.3+), not the syscall fallback\n");
	else if (cgroup2_root(cg, sizeof(cg)))
		fprintf(out, "  header injection       NOT available: no cgroup v2 hierarchy "
			     "mounted (sockops attaches to its root)\n");
	else if (selftest__header(why, sizeof(why), &note))
		fprintf(out, "  header injection       NOT available: %s\n", why);
	else if (note)
		fprintf(out, "  header injection       works here only because %s: sockops on %s, "
			     "sk_msg self-test passed (epoll, push_data)\n", note, cg);
	else
		fprintf(out, "  header injection       works here: sockops on %s, sk_msg "
			     "self-test passed (FIONREAD, epoll, push_data); "
			     "--propagation link,header\n", cg);
	if (!socket_hooks)
		fprintf(out, "  TCP option             NOT available: it needs the socket "
			     "tracepoints (kernel 6.3+), not the syscall fallback\n");
	else if (selftest__tcp_option(why, sizeof(why)))
		fprintf(out, "  TCP option             NOT available: %s\n", why);
	else
		fprintf(out, "  TCP option             works here: sockops on %s, an option "
			     "written and parsed back over loopback; --propagation "
			     "link,tcp (both ends must run sonde)\n", cg);
}

int loader__check(FILE *out, enum sonde_hooks hooks)
{
	struct btf *btf = btf__load_vmlinux_btf();
	struct sonde_bpf *skel = sonde_bpf__open();
	struct probe_plan plan;
	bool ok, fallback;
	char caps[128];

	ok = check_basics(out, btf, caps, sizeof(caps));
	if (!skel) {
		fprintf(out, "verdict: sonde cannot run here (cannot open its BPF object: %s)\n",
			strerror(errno));
		btf__free(btf);
		return 1;
	}
	if (probes__plan(btf, skel->obj, hooks, &plan))
		ok = false;
	fallback = check_rows(out, btf, skel->obj, &plan);
	if (ok)
		check_propagation(out, &plan);
	if (!ok && btf && !caps[0])
		fprintf(out, "verdict: sonde cannot run here: no hook for %s (needs %s)\n",
			probes[plan.missing].capability, probes[plan.missing].needs);
	else if (!ok)
		fprintf(out, "verdict: sonde cannot run here (see the lines above)\n");
	else
		fprintf(out, "verdict: sonde can run here%s\n",
			fallback ? " (through the syscall fallback: every syscall pays some cost)" : "");
	sonde_bpf__destroy(skel);
	btf__free(btf);
	return ok ? 0 : 1;
}
