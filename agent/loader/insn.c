// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Instruction lengths and return instructions (see insn.h). The x86-64 layout is the one of
 * the Intel and AMD manuals' opcode maps, in 64-bit mode: legacy prefixes, REX, the opcode (one
 * byte, 0F xx, 0F 38 xx, 0F 3A xx, or after a VEX or EVEX prefix), ModRM, SIB, displacement and
 * immediate. Only lengths are decoded; an opcode that is invalid in 64-bit mode, or one this
 * table does not know, makes the instruction unknown.
 */
#include <stdbool.h>

#include <string.h>

#include "insn.h"

#define X86_MAX_LEN 15

/* What follows an opcode. */
enum {
	OP_BAD = -1,
	OP_NONE = 0,
	OP_M = 1,  /* a ModRM (and what it implies) */
	OP_IB = 2, /* an 8-bit immediate or displacement */
	OP_IZ = 4, /* a 16- or 32-bit immediate (operand size) */
	OP_IW = 8, /* a 16-bit immediate */
	OP_I32 = 16, /* a 32-bit displacement (near branches) */
	OP_MOFFS = 32, /* a 64-bit (32 with 0x67) address */
	OP_IV = 64,    /* MOV r, imm: 64-bit with REX.W, else as IZ */
	OP_GRP3 = 128, /* F6/F7: an immediate only for TEST (ModRM reg 0 and 1) */
};

static int one_byte_map(uint8_t op)
{
	if (op < 0x40) {
		switch (op & 7) {
		case 4:
			return OP_IB;
		case 5:
			return OP_IZ;
		case 6:
		case 7:
			return OP_BAD; /* (the prefixes and 0F are taken before) */
		default:
			return OP_M;
		}
	}
	if (op >= 0x50 && op <= 0x5f)
		return OP_NONE;
	if (op >= 0x70 && op <= 0x7f)
		return OP_IB;
	if (op >= 0x84 && op <= 0x8f)
		return OP_M;
	if (op >= 0xb0 && op <= 0xb7)
		return OP_IB;
	if (op >= 0xb8 && op <= 0xbf)
		return OP_IV;
	if (op >= 0xd8 && op <= 0xdf)
		return OP_M; /* x87 */
	switch (op) {
	case 0x63: case 0x8f: case 0xd0: case 0xd1: case 0xd2: case 0xd3: case 0xfe: case 0xff:
		return OP_M;
	case 0x68:
		return OP_IZ;
	case 0x69: case 0x81: case 0xc7:
		return OP_M | OP_IZ;
	case 0x6a: case 0xa8: case 0xcd: case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe4:
	case 0xe5: case 0xe6: case 0xe7: case 0xeb:
		return OP_IB;
	case 0x6b: case 0x80: case 0x83: case 0xc0: case 0xc1: case 0xc6:
		return OP_M | OP_IB;
	case 0x6c: case 0x6d: case 0x6e: case 0x6f: case 0x90: case 0x91: case 0x92: case 0x93:
	case 0x94: case 0x95: case 0x96: case 0x97: case 0x98: case 0x99: case 0x9b: case 0x9c:
	case 0x9d: case 0x9e: case 0x9f: case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa:
	case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf: case 0xc3: case 0xc9: case 0xcb:
	case 0xcc: case 0xcf: case 0xd7: case 0xec: case 0xed: case 0xee: case 0xef: case 0xf1:
	case 0xf4: case 0xf5: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd:
		return OP_NONE;
	case 0xa0: case 0xa1: case 0xa2: case 0xa3:
		return OP_MOFFS;
	case 0xa9:
		return OP_IZ;
	case 0xc2: case 0xca:
		return OP_IW;
	case 0xc8:
		return OP_IW | OP_IB;
	case 0xe8: case 0xe9:
		return OP_I32;
	case 0xf6: case 0xf7:
		return OP_M | OP_GRP3;
	default:
		return OP_BAD; /* 60 61 82 9A CE D4 D5 D6 EA: invalid in 64-bit mode */
	}
}

static int two_byte_map(uint8_t op)
{
	if ((op >= 0x10 && op <= 0x1f) || (op >= 0x40 && op <= 0x6f) || (op >= 0x90 && op <= 0x9f) ||
	    (op >= 0xb0 && op <= 0xb9) || (op >= 0xbb && op <= 0xc1) || op >= 0xd0)
		return OP_M;
	if (op >= 0x80 && op <= 0x8f)
		return OP_I32; /* Jcc rel32 */
	if (op >= 0xc8 && op <= 0xcf)
		return OP_NONE; /* BSWAP */
	if (op >= 0x70 && op <= 0x73)
		return OP_M | OP_IB;
	switch (op) {
	case 0x00: case 0x01: case 0x02: case 0x03: case 0x0d: case 0x20: case 0x21: case 0x22:
	case 0x23: case 0x28: case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e:
	case 0x2f: case 0x74: case 0x75: case 0x76: case 0x78: case 0x79: case 0x7c: case 0x7d:
	case 0x7e: case 0x7f: case 0xa3: case 0xa5: case 0xab: case 0xad: case 0xae: case 0xaf:
	case 0xc3: case 0xc7:
		return OP_M;
	case 0x05: case 0x06: case 0x07: case 0x08: case 0x09: case 0x0b: case 0x0e: case 0x30:
	case 0x31: case 0x32: case 0x33: case 0x34: case 0x35: case 0x37: case 0x77: case 0xa0:
	case 0xa1: case 0xa2: case 0xa8: case 0xa9: case 0xaa:
		return OP_NONE;
	case 0xa4: case 0xac: case 0xba: case 0xc2: case 0xc4: case 0xc5: case 0xc6:
		return OP_M | OP_IB;
	default:
		return OP_BAD;
	}
}

/* Map 1 opcodes that take an imm8 under VEX or EVEX too. */
static bool vex_map1_imm(uint8_t op)
{
	return (op >= 0x70 && op <= 0x73) || op == 0xc2 || (op >= 0xc4 && op <= 0xc6);
}

/* Bytes of a ModRM and what it implies (SIB, displacement), or -1 when cut. */
static int modrm_len(const uint8_t *p, size_t n)
{
	int mod, rm, len = 1;

	if (!n)
		return -1;
	mod = p[0] >> 6;
	rm = p[0] & 7;
	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (n < 2)
			return -1;
		len++;
		if (mod == 0 && (p[1] & 7) == 5)
			len += 4;
	} else if (mod == 0 && rm == 5) {
		len += 4; /* RIP-relative */
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2)
		len += 4;
	return (size_t)len <= n ? len : -1;
}

/* The opcode after a VEX (C4, C5) or EVEX (62) prefix at p[i]: its map and where it is. */
static int vex_opcode(const uint8_t *p, size_t n, size_t *i, int *map)
{
	uint8_t v = p[*i];

	if (v == 0xc5) {
		*map = 1;
		*i += 2;
	} else if (v == 0xc4) {
		if (*i + 1 >= n)
			return -1;
		*map = p[*i + 1] & 0x1f;
		*i += 3;
	} else {
		if (*i + 1 >= n)
			return -1;
		*map = p[*i + 1] & 7;
		*i += 4;
	}
	return *i < n ? 0 : -1;
}

/* What decode() learns of an instruction besides its length. */
struct raw {
	uint8_t op;
	int map;      /* 0: one-byte opcode; 1: 0F xx; 2: 0F 38; 3: 0F 3A; VEX/EVEX/XOP maps */
	uint8_t rex;  /* the REX byte before the opcode, or 0 */
	int modrm;    /* where its ModRM is, or -1 */
	int prefixes; /* legacy prefixes (66 67 F0 F2 F3 and segments) */
	bool f3;      /* one of them was F3 */
	bool vex;     /* after a VEX, EVEX or XOP prefix */
};

/* The length of the instruction at p, and in *r its opcode and parts. */
static int decode(const uint8_t *p, size_t n, struct raw *r)
{
	bool opsize16 = false, addr32 = false, rexw = false;
	size_t i = 0, max = n < X86_MAX_LEN ? n : X86_MAX_LEN;
	uint8_t *op = &r->op;
	int *map = &r->map;
	int f, len;

	*r = (struct raw){.modrm = -1};
	for (; i < max; i++) {
		uint8_t b = p[i];

		if (b == 0x66)
			opsize16 = true;
		else if (b == 0x67)
			addr32 = true;
		else if (b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e ||
			 b == 0x26 || b == 0x64 || b == 0x65)
			r->f3 |= b == 0xf3;
		else if (b >= 0x40 && b <= 0x4f && i + 1 < max && !(p[i + 1] >= 0x40 && p[i + 1] <= 0x4f))
			rexw = b & 8; /* a REX counts only right before the opcode */
		else
			break;
		if (!(b >= 0x40 && b <= 0x4f)) {
			rexw = false;
			r->prefixes++;
		}
	}
	if (i > 0 && p[i - 1] >= 0x40 && p[i - 1] <= 0x4f)
		r->rex = p[i - 1];
	if (i >= max)
		return -1;
	if (p[i] == 0xc4 || p[i] == 0xc5 || p[i] == 0x62) {
		bool evex = p[i] == 0x62;

		r->vex = true;
		if (vex_opcode(p, max, &i, map) || *map < 1 || *map == 4 || *map > 6 ||
		    (!evex && *map > 3))
			return -1;
		*op = p[i++];
		f = OP_M;
		if (!evex && *map == 1 && *op == 0x77)
			f = OP_NONE; /* VZEROUPPER, VZEROALL */
		if (*map == 3 || (*map == 1 && vex_map1_imm(*op)))
			f |= OP_IB;
	} else if (p[i] == 0x8f && i + 1 < max && (p[i + 1] & 0x1f) >= 8) {
		/* AMD XOP (8F whose would-be ModRM names map 8, 9 or 10): like VEX, 3 bytes */
		r->vex = true;
		*map = p[i + 1] & 0x1f;
		i += 3;
		if (*map > 10 || i >= max)
			return -1;
		*op = p[i++];
		f = OP_M | (*map == 8 ? OP_IB : *map == 10 ? OP_I32 : 0);
		*map += 16; /* not a map of ours: never a RET */
	} else if (p[i] == 0x0f) {
		if (++i >= max)
			return -1;
		if (p[i] == 0x38 || p[i] == 0x3a) {
			*map = p[i] == 0x38 ? 2 : 3;
			if (++i >= max)
				return -1;
			*op = p[i++];
			f = *map == 3 ? OP_M | OP_IB : OP_M;
		} else {
			*map = 1;
			*op = p[i++];
			f = two_byte_map(*op);
		}
	} else {
		*op = p[i++];
		f = one_byte_map(*op);
	}
	if (f == OP_BAD)
		return -1;
	if (f & OP_M) {
		if (i >= max)
			return -1;
		r->modrm = (int)i;
		if ((f & OP_GRP3) && ((p[i] >> 3) & 7) < 2)
			f |= *op == 0xf6 ? OP_IB : OP_IZ;
		len = modrm_len(p + i, max - i);
		if (len < 0)
			return -1;
		i += (size_t)len;
	}
	if (f & OP_IB)
		i += 1;
	if (f & OP_IW)
		i += 2;
	if (f & OP_IZ)
		i += opsize16 && !rexw ? 2 : 4; /* REX.W wins over 0x66 */
	if (f & OP_I32)
		i += 4;
	if (f & OP_MOFFS)
		i += addr32 ? 4 : 8;
	if (f & OP_IV)
		i += rexw ? 8 : opsize16 ? 2 : 4;
	return i <= max ? (int)i : -1;
}

int insn_x86_len(const uint8_t *p, size_t n)
{
	struct raw r;

	return decode(p, n, &r);
}

/* What a search of a function's code looks for: its returns, or its calls to target (an
 * offset from the code's start). */
struct insn_want {
	bool calls;
	int64_t target;
};

/* Whether the x86-64 instruction at code + off (len bytes, decoded in r) is wanted. */
static bool x86_wanted(const uint8_t *code, size_t off, int len, const struct raw *r,
		       const struct insn_want *w)
{
	int32_t rel;

	if (r->map != 0)
		return false;
	if (!w->calls)
		return r->op == 0xc3 || r->op == 0xc2; /* RET, RET imm16 */
	if (r->op != 0xe8 || len < 5)
		return false;
	memcpy(&rel, code + off + len - 4, sizeof(rel)); /* CALL rel32: the last 4 bytes */
	return (int64_t)off + len + rel == w->target;
}

/* Whether the arm64 instruction w at off is wanted. */
static bool arm64_wanted(uint32_t insn, size_t off, const struct insn_want *w)
{
	if (!w->calls)
		return (insn & 0xfffffc1fu) == 0xd65f0000u; /* RET Xn */
	return (insn & 0xfc000000u) == 0x94000000u && /* BL imm26 */
	       (int64_t)off + (int64_t)((int32_t)(insn << 6) >> 6) * 4 == w->target;
}

/* The offsets of the wanted instructions, at most max; -1 when the code does not decode or
 * holds more. */
static int find(enum insn_arch arch, const uint8_t *code, size_t n, const struct insn_want *w,
		uint32_t *out, int max)
{
	size_t off = 0;
	int found = 0, len;
	struct raw r;
	bool hit;

	if (arch != INSN_X86_64 && (arch != INSN_ARM64 || n % 4))
		return -1;
	while (off < n) {
		if (arch == INSN_X86_64) {
			len = decode(code + off, n - off, &r);
			if (len < 0)
				return -1;
			hit = x86_wanted(code, off, len, &r, w);
		} else {
			len = 4;
			hit = arm64_wanted((uint32_t)code[off] | (uint32_t)code[off + 1] << 8 |
						   (uint32_t)code[off + 2] << 16 |
						   (uint32_t)code[off + 3] << 24,
					   off, w);
		}
		if (hit) {
			if (found == max)
				return -1;
			out[found++] = (uint32_t)off;
		}
		off += (size_t)len;
	}
	return found;
}

int insn_calls_to(enum insn_arch arch, const uint8_t *code, size_t n, int64_t target,
		  uint32_t *out, int max)
{
	struct insn_want w = {.calls = true, .target = target};

	return find(arch, code, n, &w, out, max);
}

int insn_returns(enum insn_arch arch, const uint8_t *code, size_t n, uint32_t *out, int max)
{
	struct insn_want w = {.calls = false};

	return find(arch, code, n, &w, out, max);
}

/*
 * Where probes cost least (see insn.h). Registers are bits in the x86-64 numbering: rax 0,
 * rcx 1, rdx 2, rbx 3, rsp 4, rbp 5, rsi 6, rdi 7, r8 to r15 8 to 15.
 */
#define ALL_REGS 0xffffu
#define RSP_BIT (1u << 4)
/* Instructions looked at from a function's first byte, at most. */
#define START_INSNS 16

enum flow {
	FLOW_NONE,  /* on to the next instruction */
	FLOW_JCC,   /* a direct conditional jump */
	FLOW_CALL,  /* a direct call */
	FLOW_JMP,   /* a direct jump */
	FLOW_OTHER, /* return, indirect branch, trap, system call, loop */
};

static uint32_t bit(int reg)
{
	return 1u << reg;
}

/* The general registers the instruction writes; ALL_REGS when this table does not know it. */
static uint32_t x86_writes(const uint8_t *p, const struct raw *r)
{
	int rex_r = r->rex & 4 ? 8 : 0, rex_b = r->rex & 1 ? 8 : 0;
	uint8_t m = r->modrm >= 0 ? p[r->modrm] : 0, op = r->op;
	int ext = (m >> 3) & 7;
	uint32_t to_rm = (m >> 6) == 3 ? bit((m & 7) | rex_b) : 0, to_reg = bit(ext | rex_r);

	if (r->vex)
		return ALL_REGS;
	if (r->map == 1) {
		if (op == 0x1e && r->f3 && m == 0xfa)
			return 0; /* ENDBR64 */
		if (op == 0x1f || (op >= 0x80 && op <= 0x8f))
			return 0; /* NOP r/m, Jcc */
		if ((op >= 0x40 && op <= 0x4f) || op == 0xaf || op == 0xb6 || op == 0xb7 ||
		    op == 0xbe || op == 0xbf)
			return to_reg; /* CMOVcc, IMUL, MOVZX, MOVSX */
		if (op >= 0x90 && op <= 0x9f)
			return to_rm; /* SETcc */
		return ALL_REGS;
	}
	if (r->map)
		return ALL_REGS;
	if (op < 0x40 && (op & 7) < 6) { /* ADD OR ADC SBB AND SUB XOR CMP */
		if (op >= 0x38)
			return 0;
		return (op & 7) < 2 ? to_rm : (op & 7) < 4 ? to_reg : bit(0);
	}
	if (op >= 0x70 && op <= 0x7f)
		return 0; /* Jcc */
	if (op >= 0x50 && op <= 0x57)
		return RSP_BIT;
	if (op >= 0x58 && op <= 0x5f)
		return RSP_BIT | bit((op & 7) | rex_b);
	if (op >= 0xb0 && op <= 0xbf)
		return bit((op & 7) | rex_b);
	switch (op) {
	case 0x84: case 0x85:
		return 0; /* TEST */
	case 0x88: case 0x89: case 0xc0: case 0xc1: case 0xc6: case 0xc7: case 0xd0: case 0xd1:
	case 0xd2: case 0xd3:
		return to_rm; /* MOV to r/m, shifts */
	case 0x8a: case 0x8b: case 0x8d: case 0x63:
		return to_reg; /* MOV to a register, LEA, MOVSXD */
	case 0x80: case 0x81: case 0x83:
		return ext == 7 ? 0 : to_rm; /* CMP writes nothing */
	case 0xf6: case 0xf7:
		return ext < 2 ? 0 : ext < 4 ? to_rm : bit(0) | bit(2); /* TEST; NOT NEG; MUL DIV */
	case 0x90:
		return rex_b ? bit(0) | bit(8) : 0; /* NOP; XCHG r8, rax */
	case 0x98:
		return bit(0);
	case 0x99:
		return bit(2);
	case 0xc9:
		return RSP_BIT | bit(5); /* LEAVE */
	default:
		return ALL_REGS;
	}
}

static enum flow x86_flow(const uint8_t *p, const struct raw *r)
{
	uint8_t op = r->op;
	int ext = r->modrm >= 0 ? (p[r->modrm] >> 3) & 7 : 0;

	if (r->vex)
		return FLOW_NONE;
	if (r->map == 1) {
		if (op >= 0x80 && op <= 0x8f)
			return FLOW_JCC;
		/* SYSCALL, CLTS, SYSRET, UD2, SYSENTER, SYSEXIT, UD1 */
		return op == 0x05 || op == 0x06 || op == 0x07 || op == 0x0b || op == 0x34 ||
				       op == 0x35 || op == 0xb9 ? FLOW_OTHER : FLOW_NONE;
	}
	if (r->map)
		return FLOW_NONE;
	if (op >= 0x70 && op <= 0x7f)
		return FLOW_JCC;
	switch (op) {
	case 0xe8:
		return FLOW_CALL;
	case 0xe9: case 0xeb:
		return FLOW_JMP;
	case 0xc2: case 0xc3: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xcf: case 0xe0:
	case 0xe1: case 0xe2: case 0xe3: case 0xf1: case 0xf4:
		return FLOW_OTHER;
	case 0xff:
		return ext >= 2 && ext <= 5 ? FLOW_OTHER : FLOW_NONE;
	default:
		return FLOW_NONE;
	}
}

/*
 * What the kernel's x86 uprobes run by emulation rather than by a single step out of line:
 * a push of a register (REX.B for r8 to r15), a direct call, jump or conditional jump, none
 * of them with a prefix. Measured here (6.18): 0.75 to 0.9 us per hit for these, 9 to 14 us
 * for a single-stepped instruction (SUB, MOV, POP, RET, ENDBR64), on a virtual machine.
 */
static bool x86_emulated(const struct raw *r, enum flow f)
{
	if (r->prefixes || r->vex || r->map > 1)
		return false;
	if (r->map == 0 && r->op >= 0x50 && r->op <= 0x57)
		return r->rex == 0 || r->rex == 0x41;
	return !r->rex && f != FLOW_NONE && f != FLOW_OTHER;
}

/* The signed relative target of a direct branch of len bytes at p. */
static int64_t x86_rel(const uint8_t *p, int len, const struct raw *r)
{
	if (r->map == 0 && (r->op == 0xeb || (r->op >= 0x70 && r->op <= 0x7f)))
		return (int8_t)p[len - 1];
	return (int32_t)((uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 |
			 (uint32_t)p[len - 2] << 16 | (uint32_t)p[len - 1] << 24);
}

/* scan_start's modes. */
#define SCAN_CALL 0 /* the first direct call or jump */
#define SCAN_SITE 1 /* the first emulated instruction */
#define SCAN_PAST_JCC 2 /* ... not a conditional jump: on past it, on its fall-through */

/*
 * The straight-line start of a function, one instruction after the other: with SCAN_SITE, the
 * offset of the first one the kernel emulates, past none that branches (but conditional jumps,
 * with SCAN_PAST_JCC) or writes a register in stop (or one this table does not know); with
 * SCAN_CALL, 0, and in *target the target of the first direct call or jump, past no other
 * branch (conditional jumps pass when stop is empty) and no write to stop. -1 when there is
 * none.
 */
static int scan_start(const uint8_t *code, size_t n, uint32_t stop, int mode, int64_t *target)
{
	bool want_site = mode & SCAN_SITE, past_jcc = mode & SCAN_PAST_JCC;
	size_t off = 0;
	struct raw r;
	enum flow f;
	uint32_t w;
	int i, len;

	for (i = 0; i < START_INSNS && off < n; i++) {
		len = decode(code + off, n - off, &r);
		if (len < 0)
			return -1;
		f = x86_flow(code + off, &r);
		if (want_site && x86_emulated(&r, f) && !(past_jcc && f == FLOW_JCC))
			return (int)off;
		if (!want_site && (f == FLOW_CALL || f == FLOW_JMP)) {
			*target = (int64_t)off + len + x86_rel(code + off, len, &r);
			return 0;
		}
		w = x86_writes(code + off, &r);
		if (f == FLOW_JCC ? want_site ? !past_jcc : stop != 0 : f != FLOW_NONE)
			return -1;
		if ((w & stop) || (want_site && w == ALL_REGS))
			return -1;
		off += (size_t)len;
	}
	return -1;
}

int insn_probe_site(enum insn_arch arch, const uint8_t *code, size_t n, uint32_t keep,
		    unsigned flags)
{
	int64_t unused;

	if (arch != INSN_X86_64)
		return -1;
	return scan_start(code, n, keep | (flags & INSN_SITE_KEEP_SP ? RSP_BIT : 0),
			  SCAN_SITE | (flags & INSN_SITE_PAST_JCC ? SCAN_PAST_JCC : 0), &unused);
}

int insn_first_call(enum insn_arch arch, const uint8_t *code, size_t n, uint32_t keep,
		    int64_t *target)
{
	if (arch != INSN_X86_64)
		return -1;
	return scan_start(code, n, keep, SCAN_CALL, target);
}
