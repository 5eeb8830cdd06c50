/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What happens to connections and processes around the I/O: TCP state changes (a connection's
 * role at its open, its last run at its close), thread creation (work a request's thread hands
 * to a thread it creates) and program starts (exec: the agent attaches the uprobes the new
 * executable calls for). Each hook has a tp_btf program and a raw_tp fallback.
 */
#ifndef SONDE_LIFECYCLE_BPF_H
#define SONDE_LIFECYCLE_BPF_H

/*
 * The agent may have written conn_policy entries: with summaries on it nearly always has (a
 * constant, no read); else only once it bumped the generation.
 */
static __always_inline bool policy_written(void)
{
	return http1_summaries || *(volatile __u32 *)&conn_policy_gen;
}

/*
 * Connection lifecycle from TCP state changes. At open (SYN_SENT: we connected; SYN_RECV: the
 * child socket of an accept) the entry starts afresh, so a socket at a reused address never
 * inherits another connection's runs; it notes the role, which the OPEN record reports. The
 * close ends the last run.
 */
static __always_inline int on_state_change(__u64 key, int newstate)
{
	struct sonde_conn_state *st, fresh = {};
	struct sonde_close_event *ev;
	void *ring;

	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		fresh.role = newstate == TCP_SYN_SENT ? SONDE_ROLE_CLIENT : SONDE_ROLE_SERVER;
		fresh.open_ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY);
		if (policy_written())
			bpf_map_delete_elem(&conn_policy, &key); /* a closed socket's, at its address */
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return 0;
	if (st->conn_id && !st->ignored) {
		ev = ring_reserve(&ring, sizeof(*ev));
		if (ev) {
			fill_head(&ev->head, st->conn_id, bpf_ktime_get_ns(), st->tgid, 0,
				  SONDE_EV_CLOSE, st->run_dir);
			ev->last.first_ts_ns = st->run_first_ts;
			ev->last.last_ts_ns = st->run_last_ts;
			ev->last.bytes = st->run_bytes;
			ev->last.seq = st->run_seq;
			ev->last.dir = st->run_dir;
			ev->last.http1_status = st->run_http1_status;
			ring_submit(ring, ev);
		}
		count(SONDE_CNT_CONN_CLOSE);
	}
	bpf_map_delete_elem(&conns, &key);
	if (policy_written())
		bpf_map_delete_elem(&conn_policy, &key);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_sock_state, struct sock *sk, int oldstate, int newstate)
{
	if (sock_protocol_btf(sk) != IPPROTO_TCP)
		return 0;
	return on_state_change((__u64)sk, newstate);
}

/*
 * The lifecycle fallback: the raw tracepoint under the same event (4.17+). Preferred to the
 * classic tracepoint/sock/inet_sock_set_state (4.16+), which needs tracefs mounted to attach and
 * builds a perf record before the program runs; no kernel sonde can run on lacks raw tracepoints.
 */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(sonde_raw_state, struct sock *sk, int oldstate, int newstate)
{
	if (sock_protocol(sk) != IPPROTO_TCP)
		return 0;
	return on_state_change((__u64)sk, newstate);
}

/*
 * Thread hand-off. A request's thread may hand its work to a thread it creates (a handler that
 * starts a worker and waits for it); the worker's calls belong to that request. The kernel sees
 * the creation: one small record when a thread of a process sonde traces (one whose identity it
 * sent: procs_seen) creates another thread of the same process. A new process (fork) is not a
 * hand-off. Both hooks fire in the creator's context; neither is on an I/O path.
 */
static __always_inline int on_thread_created(__u32 tgid, __u32 creator, __u32 child_tgid,
					     __u32 child)
{
	struct sonde_thread_event *ev;
	void *ring;

	if (child_tgid != tgid || tgid == self_tgid || !bpf_map_lookup_elem(&procs_seen, &tgid))
		return 0;
	ev = ring_reserve(&ring, sizeof(*ev));
	if (!ev)
		return 0;
	fill_head(&ev->head, 0, bpf_ktime_get_ns(), tgid, creator, SONDE_EV_THREAD,
		  SONDE_DIR_NONE);
	ev->child_tid = child;
	ev->pad0 = 0;
	ring_submit(ring, ev);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sonde_thr_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_thread_created(parent->tgid, parent->pid, child->tgid, child->pid);
}

/* The same for kernels whose fallback set is chosen (--hooks syscalls): CO-RE reads. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(sonde_raw_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_thread_created(BPF_CORE_READ(parent, tgid), BPF_CORE_READ(parent, pid),
				 BPF_CORE_READ(child, tgid), BPF_CORE_READ(child, pid));
}

/*
 * Process start: one small record per exec, so that a program started after sonde gets its
 * uprobes (Go net/http and crypto/tls, OpenSSL linked into the executable) before its first
 * connection rather than after it. It wakes the agent at once: a Go client makes its first
 * TLS call a few milliseconds after its exec, well inside a poll period. (What the wake-ups
 * cost a host that execs a lot was not measured.) For every process sonde may trace: not the
 * agent itself, and with a pid filter only the pids selected. It fires once the new image is in place: the comm is the new
 * file's name, and /proc/PID/exe the new file.
 */
static __always_inline int on_exec(__u32 tgid, __u32 caller)
{
	struct sonde_exec_event *ev;
	void *ring;

	if (tgid == self_tgid || (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)))
		return 0;
	ev = ring_reserve(&ring, sizeof(*ev));
	if (!ev)
		return 0;
	fill_head(&ev->head, 0, bpf_ktime_get_ns(), tgid, caller, SONDE_EV_EXEC, SONDE_DIR_NONE);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ring_submit_now(ev);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sonde_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p->tgid, old_pid);
}

/* The same for kernels whose fallback set is chosen (--hooks syscalls): CO-RE reads. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(sonde_raw_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(BPF_CORE_READ(p, tgid), old_pid);
}

#endif /* SONDE_LIFECYCLE_BPF_H */
