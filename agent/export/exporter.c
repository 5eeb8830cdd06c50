// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The exporter front door: dispatch through each implementation's operations table, and the
 * rate-limited logger every exporter uses for its complaints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exporter_impl.h"

int exporter__submit(struct exporter *e, const struct span *s)
{
	return e->ops->submit(e, s);
}

void exporter__flush(struct exporter *e, uint64_t deadline_ms)
{
	if (e->ops->flush)
		e->ops->flush(e, deadline_ms);
}

uint64_t exporter__room(const struct exporter *e)
{
	return e->ops->room ? e->ops->room(e) : UINT64_MAX;
}

void exporter__stats(const struct exporter *e, struct exporter_stats *out)
{
	*out = e->stats;
}

const char *exporter__name(const struct exporter *e)
{
	return e->ops->name;
}

void exporter__free(struct exporter *e)
{
	if (e)
		e->ops->free(e);
}

/* A few distinct failure kinds at once is plenty; the oldest slot is recycled. */
#define LOG_SLOTS 16

static struct {
	const char *key;
	long code;
	uint64_t last_ms;
	unsigned long suppressed;
} log_slots[LOG_SLOTS];

void exporter__log(const char *key, long code, const char *fmt, ...)
{
	uint64_t now = loop__now_ms();
	unsigned long suppressed = 0;
	int i, slot = -1, oldest = 0;
	va_list ap;

	for (i = 0; i < LOG_SLOTS; i++) {
		if (log_slots[i].key && log_slots[i].code == code &&
		    strcmp(log_slots[i].key, key) == 0) {
			slot = i;
			break;
		}
		if (log_slots[i].last_ms < log_slots[oldest].last_ms)
			oldest = i;
	}
	if (slot >= 0) {
		if (now - log_slots[slot].last_ms < EXPORTER_LOG_INTERVAL_MS) {
			log_slots[slot].suppressed++;
			return;
		}
		suppressed = log_slots[slot].suppressed;
	} else {
		slot = oldest;
		log_slots[slot].key = key;
		log_slots[slot].code = code;
	}
	log_slots[slot].last_ms = now;
	log_slots[slot].suppressed = 0;

	fputs("sonde: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (suppressed)
		fprintf(stderr, " (%lu similar suppressed)", suppressed);
	fputc('\n', stderr);
}
