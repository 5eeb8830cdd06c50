/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Test seams: values the integration tests may change in build/sonde-testing (agent/seams.c
 * built with -DSONDE_TESTING, linked before libsonde.a), through SONDE_TEST_* variables.
 * build/sonde reads no variable: each function returns its default.
 */
#ifndef SONDE_SEAMS_H
#define SONDE_SEAMS_H

#include <stdbool.h>
#include <stdint.h>

/* How long drained records wait for export room (drain_hold.h): SONDE_TEST_HOLD_MAX_MS. */
uint32_t seams__hold_max_ms(uint32_t dflt);

/* Perf-event uprobe links even where uprobe_multi ones work (ulinks.h), to test the kernels
 * without them: SONDE_TEST_UPROBE_PERF_LINKS=1. */
bool seams__uprobe_perf_links(void);

#endif /* SONDE_SEAMS_H */
