/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel drift in one place: fields whose type or place changed between the kernels sonde may
 * load on, read so that CO-RE relocates the read for every layout. Each entry names the kernel
 * change that made it necessary; architecture drift (syscall registers) is in syscall_args.bpf.h.
 */
#ifndef SONDE_CORE_FIXES_BPF_H
#define SONDE_CORE_FIXES_BPF_H

/*
 * struct sock's sk_protocol: an 8-bit bitfield before 5.6, a u16 since commit bf9765145b85
 * ("sock: Make sk_protocol a 16-bit value"). A plain load of it cannot be relocated onto the
 * bitfield, and the whole object would fail to load on the older layout; the bitfield reads
 * relocate for both. The socket tracepoints (6.3+) read it plainly: they never meet the old one.
 */

/* From a BTF pointer (tp_btf programs): direct loads, no helper call. */
static __always_inline __u16 sock_protocol_btf(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD(sk, sk_protocol);
}

/* From a plain kernel address (raw_tp programs, the syscall fallback): a probed read. */
static __always_inline __u16 sock_protocol(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

#endif /* SONDE_CORE_FIXES_BPF_H */
