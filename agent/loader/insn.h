/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a function returns, from its machine code: the offsets of its return instructions, so
 * that a Go function gets "return" probes as plain uprobes there (a uretprobe rewrites the
 * return address on the stack, which Go's moving stacks do not survive).
 *
 * x86-64 has instructions of 1 to 15 bytes, so the code is decoded instruction by instruction
 * from the function's first byte (lengths only: prefixes, REX, VEX and EVEX, the one-, two- and
 * three-byte opcode maps, ModRM, SIB, displacement, immediate). A byte the decoder does not
 * know stops it: no offset is ever given that might fall inside an instruction. arm64
 * instructions are 4 bytes: RET is one word.
 */
#ifndef SONDE_LOADER_INSN_H
#define SONDE_LOADER_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum insn_arch {
	INSN_X86_64 = 1,
	INSN_ARM64 = 2,
};

/* The length of the x86-64 instruction at p (n bytes there), or -1: unknown or cut. */
int insn_x86_len(const uint8_t *p, size_t n);

/*
 * The offsets in code (a whole function, n bytes) of its return instructions, at most max of
 * them in out. Returns how many, or -1 when the code could not be decoded to its end or has
 * more than max.
 */
int insn_returns(enum insn_arch arch, const uint8_t *code, size_t n, uint32_t *out, int max);

/*
 * The offsets in code (a whole function, n bytes) of its direct calls to target, an offset
 * from code (the callee's start: outside the function), at most max of them in out. Returns
 * how many, or -1 when the code could not be decoded to its end or has more than max. A
 * probe on such a call sees the callee's arguments, and runs for this caller's calls only.
 */
int insn_calls_to(enum insn_arch arch, const uint8_t *code, size_t n, int64_t target,
		  uint32_t *out, int max);

/*
 * Where a probe on a function costs one trap. The kernel's x86 uprobes run a few instructions
 * by emulation (a push of a register, a direct call, jump or conditional jump) and any other
 * by a single step out of line, a second trap that costs ten times the first on this machine's
 * virtual CPUs (insn.c). A probe may sit on a later instruction of the function's straight-line
 * start as long as those before it change nothing the BPF program reads.
 *
 * insn_probe_site: the offset in code (a function's first n bytes) of the first such
 * instruction, when every instruction before it is one this decoder knows to write none of the
 * registers in keep (bits in the x86-64 numbering: rax 0, rcx 1, rdx 2, rbx 3, rsp 4, rbp 5,
 * rsi 6, rdi 7, r8 8 ...). Flags: INSN_SITE_KEEP_SP, those before it leave the stack pointer
 * where it was (a return probe reads the return address there); INSN_SITE_PAST_JCC, a
 * conditional jump is passed, on its fall-through: Go's stack check jumps to morestack, which
 * comes back to the function's first byte, and a probe on the check would run twice for one
 * call. -1 when there is none, or not on x86-64.
 */
#define INSN_SITE_KEEP_SP 1u
#define INSN_SITE_PAST_JCC 2u
int insn_probe_site(enum insn_arch arch, const uint8_t *code, size_t n, uint32_t keep,
		    unsigned flags);

/*
 * The first direct call or jump of a function's straight-line start: its target, as an offset
 * from code (outside it, most often), in *target; 0, or -1 when another branch comes first or
 * an instruction before it may write a register in keep. Without keep, conditional jumps are
 * passed over (their fall-through is followed). With keep (the argument registers), the callee
 * gets the function's own arguments unchanged.
 */
int insn_first_call(enum insn_arch arch, const uint8_t *code, size_t n, uint32_t keep,
		    int64_t *target);

/* Argument registers, as insn_probe_site's keep: the System V C ABI, and Go's (with g, r14). */
#define INSN_X86_C_ARGS 0x03c6u	  /* rdi rsi rdx rcx r8 r9 */
#define INSN_X86_GO_ARGS 0x4fcbu  /* rax rbx rcx rdi rsi r8-r11, r14 */

#endif /* SONDE_LOADER_INSN_H */
