/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Architecture drift in one place: where a syscall's number and arguments sit in the saved user
 * registers, how a 32-bit (compat) syscall is told apart, and the numbers of the socket I/O
 * syscalls whose user buffer we can read. The socket tracepoints fire inside
 * sock_sendmsg/sock_recvmsg, so there the syscall that led in is found through
 * bpf_task_pt_regs() (direct BTF access: SYS_NR, SYS_ARG2); the raw_tp/sys_enter fallback gets a
 * plain kernel pointer to the same registers and reads them with CO-RE (SYS_ARGn_CORE).
 */
#ifndef SONDE_SYSCALL_ARGS_BPF_H
#define SONDE_SYSCALL_ARGS_BPF_H

#if defined(__TARGET_ARCH_x86)
#define SYS_NR(r) ((long)(r)->orig_ax)
#define SYS_ARG2(r) ((r)->si)
#define SYS_ARG1_CORE(r) BPF_CORE_READ((r), di)
#define SYS_ARG2_CORE(r) BPF_CORE_READ((r), si)
#define SYS_ARG3_CORE(r) BPF_CORE_READ((r), dx)
#define SYS_ARG4_CORE(r) BPF_CORE_READ((r), r10)
/*
 * Go's register ABI (1.17+) keeps the running goroutine's g in R14, and the runtime issues its
 * syscalls from ABIInternal assembly, so the saved R14 names the goroutine that made the I/O.
 * In any other program it is just a register: the agent looks at it only for Go processes.
 */
#define SYS_GO_G(r) ((r)->r14)
#define SYS_GO_G_CORE(r) BPF_CORE_READ((r), r14)
/* At a Go function's entry (a uprobe): the goroutine, and the first arguments (the receiver
 * first). */
#define GO_UPROBE_G(r) ((r)->r14)
#define GO_UPROBE_ARG0(r) ((r)->ax)
#define GO_UPROBE_ARG1(r) ((r)->bx)
#define GO_UPROBE_ARG2(r) ((r)->cx)
#define GO_UPROBE_ARG3(r) ((r)->di)
#define GO_UPROBE_ARG4(r) ((r)->si)
#define GO_UPROBE_ARG6(r) ((r)->r9)
/* At one of its RET instructions: the first result. */
#define GO_UPROBE_RET0(r) ((r)->ax)
/* An int 0x80 / ia32 syscall (numbers of another table): TS_COMPAT in thread_info.status. */
#define SYS_IS_COMPAT(task)                                                                    \
	(bpf_core_field_exists((task)->thread_info.status) &&                                  \
	 (BPF_CORE_READ((task), thread_info.status) & 0x0002))
#define SONDE_NR_read 0
#define SONDE_NR_write 1
#define SONDE_NR_readv 19
#define SONDE_NR_writev 20
#define SONDE_NR_sendto 44
#define SONDE_NR_recvfrom 45
#define SONDE_NR_sendmsg 46
#define SONDE_NR_recvmsg 47
#elif defined(__TARGET_ARCH_arm64)
#define SYS_NR(r) ((long)(r)->syscallno)
#define SYS_ARG2(r) ((r)->regs[1])
#define SYS_ARG1_CORE(r) BPF_CORE_READ((r), regs[0])
#define SYS_ARG2_CORE(r) BPF_CORE_READ((r), regs[1])
#define SYS_ARG3_CORE(r) BPF_CORE_READ((r), regs[2])
#define SYS_ARG4_CORE(r) BPF_CORE_READ((r), regs[3])
/* Go's register ABI on arm64 keeps g in R28 (see the x86 note). */
#define SYS_GO_G(r) ((r)->regs[28])
#define SYS_GO_G_CORE(r) BPF_CORE_READ((r), regs[28])
#define GO_UPROBE_G(r) ((r)->regs[28])
#define GO_UPROBE_ARG0(r) ((r)->regs[0])
#define GO_UPROBE_ARG1(r) ((r)->regs[1])
#define GO_UPROBE_ARG2(r) ((r)->regs[2])
#define GO_UPROBE_ARG3(r) ((r)->regs[3])
#define GO_UPROBE_ARG4(r) ((r)->regs[4])
#define GO_UPROBE_ARG6(r) ((r)->regs[6])
#define GO_UPROBE_RET0(r) ((r)->regs[0])
/* An AArch32 task (numbers of another table): TIF_32BIT in thread_info.flags. */
#define SYS_IS_COMPAT(task) (BPF_CORE_READ((task), thread_info.flags) & (1UL << 22))
#define SONDE_NR_read 63
#define SONDE_NR_write 64
#define SONDE_NR_readv 65
#define SONDE_NR_writev 66
#define SONDE_NR_sendto 206
#define SONDE_NR_recvfrom 207
#define SONDE_NR_sendmsg 211
#define SONDE_NR_recvmsg 212
#else
#error "sonde: unsupported architecture: add its syscall registers to bpf/syscall_args.bpf.h"
#endif

/* How a syscall passes its data: a plain buffer, an iovec array, or a msghdr. */
enum sonde_buf_kind {
	SONDE_BUF_NONE = 0,
	SONDE_BUF_PLAIN = 1,
	SONDE_BUF_IOVEC = 2,
	SONDE_BUF_MSGHDR = 3,
};

static __always_inline int sonde_buf_kind(long nr)
{
	switch (nr) {
	case SONDE_NR_read:
	case SONDE_NR_write:
	case SONDE_NR_sendto:
	case SONDE_NR_recvfrom:
		return SONDE_BUF_PLAIN;
	case SONDE_NR_readv:
	case SONDE_NR_writev:
		return SONDE_BUF_IOVEC;
	case SONDE_NR_sendmsg:
	case SONDE_NR_recvmsg:
		return SONDE_BUF_MSGHDR;
	default:
		return SONDE_BUF_NONE;
	}
}

/* Which way a socket I/O syscall moves data (enum sonde_direction), or SONDE_DIR_NONE. */
static __always_inline __u16 sonde_sys_dir(long nr)
{
	switch (nr) {
	case SONDE_NR_write:
	case SONDE_NR_writev:
	case SONDE_NR_sendto:
	case SONDE_NR_sendmsg:
		return SONDE_DIR_EGRESS;
	case SONDE_NR_read:
	case SONDE_NR_readv:
	case SONDE_NR_recvfrom:
	case SONDE_NR_recvmsg:
		return SONDE_DIR_INGRESS;
	default:
		return SONDE_DIR_NONE;
	}
}

#endif /* SONDE_SYSCALL_ARGS_BPF_H */
