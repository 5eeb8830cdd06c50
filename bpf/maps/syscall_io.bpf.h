/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map `syscall_io`: the socket I/O syscalls under way, for the syscall-hook fallback. */
#ifndef SONDE_MAPS_SYSCALL_IO_BPF_H
#define SONDE_MAPS_SYSCALL_IO_BPF_H

/* What sys_enter learnt of a send or receive on a TCP socket, for sys_exit to finish. */
struct sonde_syscall_io {
	__u64 sk;    /* struct sock behind the fd, found an AF_INET/AF_INET6 TCP socket at entry */
	__u64 arg;   /* user pointer: the buffer, the iovec array or the msghdr (per kind) */
	__u64 go_g;  /* the register Go keeps its goroutine in (SYS_GO_G), at entry */
	__u32 flags; /* recvfrom/recvmsg flags (MSG_PEEK), else 0 */
	__u16 kind;  /* enum sonde_buf_kind */
	__u16 dir;   /* enum sonde_direction */
};

/*
 * pid_tgid → struct sonde_syscall_io. Written by raw_tp/sys_enter only for I/O syscalls on TCP
 * sockets; read and always deleted by raw_tp/sys_exit of the same thread. A plain preallocated
 * hash: a thread is in one syscall at a time and every entry is deleted at its exit, so nothing
 * ages (an entry left by a thread killed mid-syscall is overwritten when its id comes back).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_INFLIGHT_IO);
	__type(key, __u64);
	__type(value, struct sonde_syscall_io);
} syscall_io SEC(".maps");

#endif
