// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The instruction-length decoder that finds a Go function's returns (agent/loader/insn.c):
 * hand-picked encodings, then every instruction objdump (binutils) decodes in real machine code
 * (sonde itself, and the system libcrypto with its AVX, AVX-512 and XOP code):
 * the decoder must give the same length or say it does not know, never another length. A
 * return probe at a wrong offset would corrupt the traced program.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/insn.h"
#include "unit.h"

struct vec {
	const char *hex;
	int len;
};

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s || sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

TEST(known_encodings)
{
	static const struct vec v[] = {
		{"c3", 1},				/* ret */
		{"f3 c3", 2},				/* rep ret */
		{"c2 08 00", 3},			/* ret $8 */
		{"55", 1},				/* push %rbp */
		{"48 89 e5", 3},			/* mov %rsp,%rbp */
		{"48 83 ec 18", 4},			/* sub $0x18,%rsp */
		{"48 81 ec 00 01 00 00", 7},		/* sub $0x100,%rsp */
		{"e8 00 00 00 00", 5},			/* call rel32 */
		{"0f 1f 44 00 00", 5},			/* nopl 0(%rax,%rax) */
		{"66 0f 1f 84 00 00 00 00 00", 9},	/* nopw 0(%rax,%rax) */
		{"48 b8 01 02 03 04 05 06 07 08", 10},	/* movabs $imm64,%rax */
		{"b8 01 00 00 00", 5},			/* mov $1,%eax */
		{"66 b8 01 00", 4},			/* mov $1,%ax */
		{"48 8b 0d 10 20 30 40", 7},		/* mov rip+disp32,%rcx */
		{"64 48 8b 0c 25 f8 ff ff ff", 9},	/* mov %fs:-8,%rcx (Go's g) */
		{"49 3b 66 10", 4},			/* cmp 0x10(%r14),%rsp */
		{"0f 86 f0 00 00 00", 6},		/* jbe rel32 */
		{"76 10", 2},				/* jbe rel8 */
		{"44 0f 11 7c 24 08", 6},		/* movups %xmm15,8(%rsp) */
		{"45 0f 57 ff", 4},			/* xorps %xmm15,%xmm15 */
		{"f6 c1 01", 3},			/* test $1,%cl */
		{"f7 c1 01 00 00 00", 6},		/* test $1,%ecx */
		{"f7 d9", 2},				/* neg %ecx */
		{"66 0f 3a 0f c1 08", 6},		/* palignr $8,%xmm1,%xmm0 */
		{"66 0f 38 00 c1", 5},			/* pshufb %xmm1,%xmm0 */
		{"c5 f8 77", 3},			/* vzeroupper */
		{"c5 fd 6f 04 24", 5},			/* vmovdqa (%rsp),%ymm0 */
		{"c4 e3 7d 39 c1 01", 6},		/* vextracti128 $1,%ymm0,%xmm1 */
		{"62 f1 7c 48 10 04 24", 7},		/* vmovups (%rsp),%zmm0 */
		{"62 f3 fd 48 3b c1 01", 7},		/* vextracti64x4 $1,%zmm0,%ymm1 */
		{"8f 68 78 c3 dd 03", 6},		/* vprotq $3 (AMD XOP) */
		{"a1 00 00 00 00 00 00 00 00", 9},	/* movabs moffs64,%eax */
		{"c8 10 00 00", 4},			/* enter $16,$0 */
		{"66 66 4b 35 57 88 90 f6", 8},		/* REX.W wins over 0x66 */
		{"cc", 1},				/* int3 (Go's padding) */
		{"0f 0b", 2},				/* ud2 */
	};
	uint8_t b[32];
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = unhex(v[i].hex, b);
		if (insn_x86_len(b, n) != v[i].len)
			fprintf(stderr, "  %s: %d, want %d\n", v[i].hex, insn_x86_len(b, n), v[i].len);
		CHECK_EQ_INT(insn_x86_len(b, n), v[i].len);
		CHECK_EQ_INT(insn_x86_len(b, n - 1), -1); /* cut: not guessed */
	}
}

TEST(invalid_or_unknown_bytes_are_not_guessed)
{
	static const char *const bad[] = {"06", "27", "60", "62", "82", "9a", "d6", "ea", "0f 04",
					  "0f 0f c1 b4", "48", "66 f3"};
	uint8_t b[32];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = unhex(bad[i], b);
		CHECK_EQ_INT(insn_x86_len(b, n), -1);
	}
}

TEST(returns_of_a_function)
{
	/* sub; je +1; ret; add; ret; int3 padding */
	uint8_t f[32];
	uint32_t out[4];
	size_t n = unhex("48 83 ec 18 74 01 c3 48 83 c4 18 c3 cc cc", f);

	CHECK_EQ_INT(insn_returns(INSN_X86_64, f, n, out, 4), 2);
	CHECK_EQ_INT(out[0], 6);
	CHECK_EQ_INT(out[1], 11);
	/* the same bytes as an immediate are not a return: mov $0xc3c3c3c3,%eax */
	n = unhex("b8 c3 c3 c3 c3 c3", f);
	CHECK_EQ_INT(insn_returns(INSN_X86_64, f, n, out, 4), 1);
	CHECK_EQ_INT(out[0], 5);
	/* too many for out, or an unknown byte: no answer at all */
	n = unhex("c3 c3 c3", f);
	CHECK_EQ_INT(insn_returns(INSN_X86_64, f, n, out, 2), -1);
	n = unhex("c3 06 c3", f);
	CHECK_EQ_INT(insn_returns(INSN_X86_64, f, n, out, 4), -1);
	/* arm64: RET, RET x1, and a word that is not one */
	n = unhex("c0 03 5f d6 20 00 5f d6 1f 20 03 d5", f);
	CHECK_EQ_INT(insn_returns(INSN_ARM64, f, n, out, 4), 2);
	CHECK_EQ_INT(out[0], 0);
	CHECK_EQ_INT(out[1], 4);
	CHECK_EQ_INT(insn_returns(INSN_ARM64, f, n - 1, out, 4), -1);
}

/* The direct calls of a function to one callee, by their targets: forward, backward, others
 * and look-alike immediates left out. */
TEST(calls_to_one_callee)
{
	uint8_t f[64];
	uint32_t out[4];
	/* mov %rax,%rcx; call +0x100; call +0x200; call +0x100; mov $0xe8,%eax; call -0x40; ret */
	size_t n = unhex("48 89 c1 e8 f8 00 00 00 e8 f3 01 00 00 e8 ee 00 00 00 b8 e8 00 00 00 "
			 "e8 a4 ff ff ff c3", f);

	CHECK_EQ_INT(insn_calls_to(INSN_X86_64, f, n, 0x100, out, 4), 2);
	CHECK_EQ_INT(out[0], 3);
	CHECK_EQ_INT(out[1], 13);
	CHECK_EQ_INT(insn_calls_to(INSN_X86_64, f, n, -0x40, out, 4), 1);
	CHECK_EQ_INT(out[0], 23);
	CHECK_EQ_INT(insn_calls_to(INSN_X86_64, f, n, 0x300, out, 4), 0);
	CHECK_EQ_INT(insn_calls_to(INSN_X86_64, f, n, 0x100, out, 1), -1);
	f[18] = 0x06; /* an unknown byte: no answer */
	CHECK_EQ_INT(insn_calls_to(INSN_X86_64, f, n, 0x100, out, 4), -1);
	/* arm64: BL +0x100 at 0, BL to 0x100 at 4, a NOP */
	n = unhex("40 00 00 94 3f 00 00 94 1f 20 03 d5", f);
	CHECK_EQ_INT(insn_calls_to(INSN_ARM64, f, n, 0x100, out, 4), 2);
	CHECK_EQ_INT(out[0], 0);
	CHECK_EQ_INT(out[1], 4);
}

/*
 * Where a probe traps once. The starts below are those of real builds here: Debian's libssl 3.0
 * (gcc, no frame pointers), a wheel's OpenSSL 3.3, node's (clang, frame pointers), a CET build
 * and Go's prologue.
 */
TEST(probe_sites_skip_single_stepped_instructions)
{
	uint8_t f[64];
	size_t n;

	/* push %r13 first: right there, for a uretprobe too */
	n = unhex("41 55 41 54 55 53 48 83 ec 38", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_C_ARGS, INSN_SITE_KEEP_SP), 0);
	/* endbr64; push %rbp: past the ENDBR64, which neither writes nor moves the stack */
	n = unhex("f3 0f 1e fa 55 48 89 e5", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_C_ARGS, INSN_SITE_KEEP_SP), 4);
	/* SSL_read_ex of Debian: sub $8,%rsp; call: a uretprobe cannot pass the SUB ... */
	n = unhex("48 83 ec 08 e8 c7 fd ff ff 31 d2", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_C_ARGS, INSN_SITE_KEEP_SP), -1);
	/* ... an entry probe can: the call keeps every argument */
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_C_ARGS, 0), 4);
	/* SSL_read of Debian: sub; mov %fs:0x28,%rax; mov %rax,8(%rsp); xor %eax,%eax; test
	 * %edx,%edx; js: the js, as nothing before it writes an argument register */
	n = unhex("48 83 ec 18 64 48 8b 04 25 28 00 00 00 48 89 44 24 08 31 c0 85 d2 78 2f", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_C_ARGS, 0), 22);
	/* mov %rsp,%rcx before the call writes the fourth argument: no site before it */
	n = unhex("48 83 ec 18 48 89 e1 e8 00 00 00 00", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_C_ARGS, 0), -1);
	/* Go: cmp 0x10(%r14),%rsp; jbe; push %rbp: the jbe (rax, rbx and r14 untouched), or past
	 * it, the push, which runs once per call even when the stack grows */
	n = unhex("49 3b 66 10 0f 86 f0 00 00 00 55", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_GO_ARGS, 0), 4);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_GO_ARGS, INSN_SITE_PAST_JCC), 10);
	/* a big Go frame: lea -0x100(%rsp),%r12; cmp 0x10(%r14),%r12; jbe; push %rbp */
	n = unhex("4c 8d a4 24 00 ff ff ff 4d 3b 66 10 0f 86 00 01 00 00 55", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_GO_ARGS, 0), 12);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, INSN_X86_GO_ARGS, INSN_SITE_PAST_JCC), 18);
	/* past a jump, never past a call */
	n = unhex("e8 00 00 00 00 55", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, 0, INSN_SITE_PAST_JCC), 0);
	/* an instruction this table does not know stops the search: pop (%rax) */
	n = unhex("8f 00 55", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, 0, 0), -1);
	/* a return, an indirect jump: no further */
	n = unhex("c3 55", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, 0, 0), -1);
	n = unhex("ff e0 55", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, 0, 0), -1);
	/* a push with an operand-size prefix is not emulated, nor a REX.W one */
	n = unhex("66 50 c3", f);
	CHECK_EQ_INT(insn_probe_site(INSN_X86_64, f, n, 0, 0), -1);
	/* arm64: not placed by this */
	n = unhex("fd 7b bf a9", f);
	CHECK_EQ_INT(insn_probe_site(INSN_ARM64, f, n, 0, 0), -1);
}

TEST(first_call_finds_the_wrapped_function)
{
	uint8_t f[64];
	int64_t to = 0;
	size_t n;

	/* SSL_read_ex of Debian: sub $8,%rsp; call -0x239: the callee gets its arguments */
	n = unhex("48 83 ec 08 e8 c7 fd ff ff 31 d2", f);
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, INSN_X86_C_ARGS, &to), 0);
	CHECK_EQ_INT(to, 9 - 0x239);
	/* SSL_read: the call passes other arguments (rcx, rdx written), and a js comes first */
	n = unhex("48 83 ec 18 85 d2 78 2f 48 89 e1 48 63 d2 e8 3d fe ff ff", f);
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, INSN_X86_C_ARGS, &to), -1);
	/* ... but without keep its first call is found past the js */
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, 0, &to), 0);
	CHECK_EQ_INT(to, 19 - 0x1c3);
	/* SSL_write_ex of OpenSSL 3.3: mov %rcx,%r8; xor %ecx,%ecx; jmp SSL_write_ex2 */
	n = unhex("49 89 c8 31 c9 e9 d6 ff ff ff", f);
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, INSN_X86_C_ARGS, &to), -1);
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, 0, &to), 0);
	CHECK_EQ_INT(to, 10 - 0x2a);
	/* a short jump */
	n = unhex("eb 10", f);
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, 0, &to), 0);
	CHECK_EQ_INT(to, 0x12);
	/* a return before any call */
	n = unhex("31 c0 c3 e8 00 00 00 00", f);
	CHECK_EQ_INT(insn_first_call(INSN_X86_64, f, n, 0, &to), -1);
}

/*
 * Every instruction objdump decodes in file: the same length, or unknown (-1). objdump joins
 * an FWAIT (9B) to the x87 instruction after it: the decoder's 1 is a true boundary there.
 * *total, *unknown get the counts; returns the number of other lengths.
 */
static long compare_with_objdump(const char *file, long *total, long *unknown)
{
	char cmd[512], line[4096];
	long wrong = 0;
	FILE *p;

	*total = *unknown = 0;
	snprintf(cmd, sizeof(cmd), "objdump -d -w '%s' 2>/dev/null", file);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *t1 = strchr(line, '\t'), *t2, *q;
		uint8_t b[32];
		unsigned v;
		int n = 0, k, len;

		if (!t1 || !(t2 = strchr(t1 + 1, '\t')) || strstr(t2, "(bad)"))
			continue;
		for (q = t1 + 1; q < t2 && n < 32 && sscanf(q, "%2x%n", &v, &k) == 1; q += k) {
			b[n++] = (uint8_t)v;
			while (*(q + k) == ' ')
				k++;
		}
		if (!n)
			continue;
		(*total)++;
		len = insn_x86_len(b, (size_t)n);
		if (len < 0)
			(*unknown)++;
		else if (len != n && !(b[0] == 0x9b && len == 1))
			wrong++;
	}
	pclose(p);
	return wrong;
}

TEST(lengths_agree_with_objdump_on_real_code)
{
	static const char *const files[] = {
		"build/sonde", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
	};
	long total, unknown, wrong, all = 0;
	size_t i;

#ifndef __x86_64__
	return;
#endif
	CHECK(access("/usr/bin/objdump", X_OK) == 0); /* binutils: built with the agent */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (access(files[i], R_OK))
			continue;
		wrong = compare_with_objdump(files[i], &total, &unknown);
		printf("    %s: %ld instructions, %ld unknown, %ld other lengths\n", files[i], total,
		       unknown, wrong);
		CHECK_EQ_INT(wrong, 0);
		/* unknown: data in text (OpenSSL's tables), decoded by objdump as garbage */
		CHECK(unknown * 1000 < total);
		all += total;
	}
	CHECK(all > 100000);
}

int main(void)
{
	RUN(known_encodings);
	RUN(invalid_or_unknown_bytes_are_not_guessed);
	RUN(returns_of_a_function);
	RUN(calls_to_one_callee);
	RUN(probe_sites_skip_single_stepped_instructions);
	RUN(first_call_finds_the_wrapped_function);
	RUN(lengths_agree_with_objdump_on_real_code);
	UNIT_DONE();
}
