/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A very small unit-test harness: each test_*.c defines TESTs and calls them from main through
 * RUN(); CHECK failures are counted and printed with file and line, and the binary ends with
 * the plain summary line "N passed, N failed" that tests/run-unit.sh adds up.
 */
#ifndef SONDE_UNIT_H
#define SONDE_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_checks;
static int unit_tests_passed;
static int unit_tests_failed;

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			unit_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                     \
	do {                                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);                            \
		if (_a != _b) {                                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
				__LINE__, #a, #b, _a, _b);                                     \
			unit_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

/* Compare a (pointer, length) slice with a C string. */
#define CHECK_STRN(p, len, s)                                                                  \
	do {                                                                                   \
		const char *_p = (const char *)(p);                                            \
		size_t _l = (size_t)(len);                                                     \
		if (_l != strlen(s) || (_l && memcmp(_p, (s), _l) != 0)) {                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s is \"%.*s\", want \"%s\"\n",  \
				__FILE__, __LINE__, #p, (int)_l, _p ? _p : "", (s));           \
			unit_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

#define CHECK_STR(a, b) CHECK_STRN((a), strlen(a), (b))

#define TEST(name) static void name(void)

#define RUN(name)                                                                              \
	do {                                                                                   \
		int _before = unit_failed_checks;                                              \
		name();                                                                        \
		if (unit_failed_checks == _before) {                                           \
			unit_tests_passed++;                                                   \
		} else {                                                                       \
			unit_tests_failed++;                                                   \
			fprintf(stderr, "FAIL %s\n", #name);                                   \
		}                                                                              \
	} while (0)

#define UNIT_DONE()                                                                            \
	do {                                                                                   \
		printf("%d passed, %d failed\n", unit_tests_passed, unit_tests_failed);        \
		return unit_tests_failed ? 1 : 0;                                              \
	} while (0)

#endif /* SONDE_UNIT_H */
