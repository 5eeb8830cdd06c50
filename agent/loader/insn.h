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

#endif /* SONDE_LOADER_INSN_H */
