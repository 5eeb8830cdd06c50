/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every counter sonde reports, declared once: one table row says where a value comes from (a
 * field of a snapshot of every source, or a value computed from it), its key in a
 * "sonde: stats (...)" line on stderr, and its Prometheus metric (name, type, HELP, labels).
 * The stats lines, GET /metrics and `sonde --list-counters` all iterate the same table, and a
 * unit test checks that every field of every source has a row.
 */
#ifndef SONDE_COUNTERS_H
#define SONDE_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "assembler.h"
#include "cpu_guard.h"
#include "export/exporter.h"
#include "sonde_event.h"

#define COUNTERS_MAX_EXPORTERS 3
#define COUNTERS_MAX_UPROBES 8

/* One row of the uprobe table (loader__uprobe_stats): the files its uprobes went to. */
struct uprobe_counts {
	uint64_t attached; /* files it was attached to */
	uint64_t failed;   /* files it could not be attached to (missing symbols) */
	uint64_t detached; /* files detached again: their processes were gone */
	uint64_t active;   /* files attached now */
};

/* The event loop's own counts (main.c). */
struct drain_stats {
	uint64_t holds;		/* times records waited for export room */
	uint64_t holds_expired; /* times they waited their longest and were delivered anyway */
	uint64_t wakeups;	/* times the kernel woke the loop (a ring filling up, or quiet) */
};

/* The TCP-option safety net's destinations (loader__tcpopt_paths). */
struct tcpopt_path_stats {
	uint64_t tallied; /* destinations with a tally now */
	uint64_t off;	  /* ... whose option is off now */
};

/* Every source, read at one moment: all the stats lines and /metrics print is in here. */
struct counters_snapshot {
	uint64_t bpf[SONDE_CNT_MAX];	   /* loader__counters, by enum sonde_counter */
	struct assembler_stats as;	   /* assembler__stats */
	struct cpu_guard_stats guard;	   /* cpu_guard__stats */
	struct drain_stats drain;	   /* the event loop's */
	struct tcpopt_path_stats paths;	   /* loader__tcpopt_paths */
	struct exporter_stats exp[COUNTERS_MAX_EXPORTERS]; /* exporter__stats, one per exporter */
	const char *exp_name[COUNTERS_MAX_EXPORTERS];	    /* exporter__name */
	int n_exporters;
	struct uprobe_counts up[COUNTERS_MAX_UPROBES]; /* loader__uprobe_stats, one per target */
	const char *up_name[COUNTERS_MAX_UPROBES];     /* its target ("go-net/http") */
	int n_uprobes;
	uint32_t propagation; /* enum sonde_propagation: which stats lines are printed */
};

/*
 * The stats lines, in the order they are printed. The CPU line comes first: tests and tools take
 * the last agent line before the exporters' for the main one.
 */
enum counters_line {
	COUNTERS_LINE_CPU,	/* the CPU guard and the event loop */
	COUNTERS_LINE_UPROBE,	/* one line per uprobe target, its metrics labelled target="NAME" */
	COUNTERS_LINE_MAIN,	/* capture and decoding, from the kernel to the spans */
	COUNTERS_LINE_HEADER,	/* header propagation: only with --propagation header */
	COUNTERS_LINE_TCP,	/* TCP-option propagation: only with --propagation tcp */
	COUNTERS_LINE_EXPORTER, /* one line per exporter, its metrics labelled exporter="NAME" */
	COUNTERS_LINE_MAX,
};

enum counter_type {
	COUNTER_NO_METRIC = 0,
	COUNTER_TOTAL, /* Prometheus "counter": only goes up */
	COUNTER_GAUGE, /* Prometheus "gauge": a level now */
};

/*
 * One counter. Its value is one of: value(s); text(s) (a word in the stats line, never a
 * metric); or else the uint64_t at offset off in the snapshot (on a line repeated for each
 * instance, in the instance's struct: exporter_stats, uprobe_counts).
 */
struct counter {
	enum counters_line line; /* the stats line it belongs to, or would if it had a key */
	const char *key;	 /* key in that line; NULL: not in the stats */
	const char *metric;	 /* Prometheus name; NULL: only in the stats */
	const char *labels;	 /* e.g. via="thread", without braces; NULL: none */
	enum counter_type type;
	/* A metric's HELP, on the first row of its name (NULL on the others); what a key-only
	 * row means, for --list-counters. */
	const char *help;
	size_t off;
	uint64_t (*value)(const struct counters_snapshot *s);
	const char *(*text)(const struct counters_snapshot *s);
	/* The snapshot fields the value reads, space-separated, spelled "as.spans",
	 * "bpf.SONDE_CNT_IO", "exp.spans_in": what the unit test checks every field against. */
	const char *src;
};

extern const struct counter counters[];
extern const size_t counters_n;

/* The line's name in --list-counters ("cpu", "uprobe", "main", "header", "tcp", "exporter"). */
const char *counters__line_name(enum counters_line line);
/* The line is printed once for each instance (an exporter, an uprobe target). */
bool counters__line_repeats(enum counters_line line);
/* The row's number; instance: which exporter or target, on a repeated line's rows. */
uint64_t counter__value(const struct counter *c, const struct counters_snapshot *s, int instance);

/* The "sonde: stats (WHEN): key=value ..." lines. */
void counters__print_stats(FILE *out, const struct counters_snapshot *s, const char *when);
/* GET /metrics: Prometheus text exposition format. */
void counters__render_metrics(FILE *out, const struct counters_snapshot *s, bool openmetrics);
/* sonde --list-counters: one row a line, tab-separated (see the .c). */
void counters__list(FILE *out);

#endif /* SONDE_COUNTERS_H */
