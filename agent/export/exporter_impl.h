/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the exporter implementations share and callers do not see: the operations table behind
 * struct exporter, the common counters, and a rate-limited logger so that a collector that stays
 * down produces one line per kind of failure every few seconds rather than one per request.
 */
#ifndef SONDE_EXPORTER_IMPL_H
#define SONDE_EXPORTER_IMPL_H

#include "exporter.h"

struct exporter_ops {
	const char *name;
	int (*submit)(struct exporter *e, const struct span *s);
	void (*flush)(struct exporter *e, uint64_t deadline_ms);
	uint64_t (*room)(const struct exporter *e); /* NULL: no limit */
	void (*free)(struct exporter *e);
};

/* Embedded first in every implementation's own struct. */
struct exporter {
	const struct exporter_ops *ops;
	struct loop *loop;
	struct exporter_stats stats;
};

/* Same (key, code) at most once per this many milliseconds. */
#define EXPORTER_LOG_INTERVAL_MS 10000

/*
 * Print "sonde: " + the formatted message to stderr unless the same (key, code) was printed in
 * the last EXPORTER_LOG_INTERVAL_MS; the next printed line says how many were suppressed.
 */
void exporter__log(const char *key, long code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* SONDE_EXPORTER_IMPL_H */
