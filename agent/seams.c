// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Test seams (seams.h). */
#include <stdlib.h>
#include <string.h>

#include "seams.h"

uint32_t seams__hold_max_ms(uint32_t dflt)
{
#ifdef SONDE_TESTING
	/*
	 * An end-to-end test of the hold on a machine that other work keeps busy: the collector's
	 * stall plus the scheduling delays of a loaded machine may pass the 200 ms the hold lasts
	 * in production. The rule itself is unit-tested with a clock the test controls.
	 */
	const char *v = getenv("SONDE_TEST_HOLD_MAX_MS");
	char *end;
	unsigned long ms;

	if (v && *v) {
		ms = strtoul(v, &end, 10);
		if (!*end && ms && ms <= 60000)
			return (uint32_t)ms;
	}
#endif
	return dflt;
}

bool seams__uprobe_perf_links(void)
{
#ifdef SONDE_TESTING
	const char *v = getenv("SONDE_TEST_UPROBE_PERF_LINKS");

	return v && !strcmp(v, "1");
#else
	return false;
#endif
}
