/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket I/O path for kernels without the socket tracepoints (before 6.3): the socket I/O
 * syscalls, through raw_tp/sys_enter + raw_tp/sys_exit. Entry finds the TCP socket behind the fd
 * and saves the syscall's arguments; exit hands them to the capture path (capture.bpf.h) with
 * the byte count. The agent's probe table loads this set or the socket tracepoints per
 * direction, never both. Nothing here may use a helper newer than the ring buffer (5.8) or pass
 * pointers to global functions (5.12): these programs exist for old kernels.
 */
#ifndef SONDE_FALLBACK_BPF_H
#define SONDE_FALLBACK_BPF_H

/*
 * Why raw_tp/sys_enter + raw_tp/sys_exit filtered by number rather than the per-syscall
 * tracepoints (syscalls/sys_enter_write, ...): both make every syscall of every task take the
 * slow tracing path, and cost about the same when empty (../shared/KERNEL.md). The per-syscall events then build a perf record of the arguments before
 * the program runs, where a raw tracepoint hands over the registers; they need tracefs mounted to
 * attach (it is not, here and in many containers), while raw tracepoints attach by name; and one
 * pair of programs serves all eight syscalls. Raw tracepoints exist since 4.17, before anything
 * else sonde needs (ring buffers: 5.8).
 *
 * Entry resolves the fd to a TCP socket at once, so that only socket I/O costs a map write: a
 * read of a file or a pipe ends at entry with a few reads, and its exit with one failed lookup.
 * The syscall holds its file reference from just after entry to just before exit, so the sock
 * found at entry is the one the I/O used.
 */

/* The sock behind fd in the current task, if fd is an AF_INET/AF_INET6 TCP socket; else NULL. */
static __always_inline struct sock *tcp_sock_of_fd(struct task_struct *task, long fd)
{
	struct file **fds, *file = NULL;
	struct socket *sock;
	struct fdtable *fdt;
	struct sock *sk;
	unsigned int max;
	__u16 family, proto;
	umode_t mode;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	/*
	 * A socket's file: its inode is a socket inode, and the struct socket in private_data points
	 * back to the file. (sock_from_file() compares f_op with socket_file_ops, a static symbol
	 * only kallsyms with CONFIG_KALLSYMS_ALL can resolve; this test needs nothing of the kind.)
	 */
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	proto = sock_protocol(sk);
	return proto == IPPROTO_TCP ? sk : NULL;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sonde_sys_enter, struct pt_regs *regs, long nr)
{
	struct sonde_syscall_io io = {};
	struct task_struct *task;
	__u64 pid_tgid;
	__u16 dir;

	dir = sonde_sys_dir(nr);
	if (dir == SONDE_DIR_NONE || (dir == SONDE_DIR_EGRESS && !sys_send) ||
	    (dir == SONDE_DIR_INGRESS && !sys_recv))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (pid_tgid >> 32 == self_tgid)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	/* A 32-bit task's numbers are another table's: nr 3 there is read, nr 20 getpid. */
	if (SYS_IS_COMPAT(task))
		return 0;
	io.sk = (__u64)tcp_sock_of_fd(task, (long)SYS_ARG1_CORE(regs));
	if (!io.sk)
		return 0;
	io.arg = SYS_ARG2_CORE(regs);
	io.go_g = SYS_GO_G_CORE(regs);
	io.kind = sonde_buf_kind(nr);
	io.dir = dir;
	if (nr == SONDE_NR_recvfrom)
		io.flags = SYS_ARG4_CORE(regs);
	else if (nr == SONDE_NR_recvmsg)
		io.flags = SYS_ARG3_CORE(regs);
	bpf_map_update_elem(&syscall_io, &pid_tgid, &io, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sonde_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sonde_syscall_io *saved, io;
	struct io_source src = {.from = IO_FROM_SYSCALL_ARGS};

	saved = bpf_map_lookup_elem(&syscall_io, &pid_tgid);
	if (!saved)
		return 0;
	io = *saved;
	bpf_map_delete_elem(&syscall_io, &pid_tgid);
	/* One read or write moves at most MAX_RW_COUNT (INT_MAX rounded down to a page). */
	if (ret <= 0 || ret > 0x7ffff000)
		return 0;
	src.buf_kind = io.kind;
	src.arg = io.arg;
	src.go_g = io.go_g;
	return on_socket_io((struct sock *)io.sk, (int)ret, io.flags, io.dir, &src);
}

#endif /* SONDE_FALLBACK_BPF_H */
