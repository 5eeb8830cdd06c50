/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What sonde knows of each traced process: its OpenTelemetry resource (service.name and the
 * process.* and host.* attributes) read once from /proc, and whether the --exe selection takes
 * it. Entries of processes that exited are dropped by a periodic sweep.
 */
#ifndef SONDE_PROCESS_H
#define SONDE_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sonde_event.h"
#include "span.h"

struct process_table;

struct process_table *process_table__new(const struct sonde_config *cfg);
void process_table__free(struct process_table *t);

/*
 * The resource of pid (borrowed: take a reference to keep it). comm is the task name the kernel
 * reported, used when /proc no longer has the process (a short-lived client). Never NULL unless
 * out of memory.
 */
struct resource *process_table__resource(struct process_table *t, uint32_t pid, const char *comm);
/* A process's identity as the kernel sent it: kept even after the process is gone. */
void process_table__on_proc(struct process_table *t, const struct sonde_proc_event *pe);
/* Whether the --exe patterns select pid (true when there are none). */
bool process_table__selected(struct process_table *t, uint32_t pid, const char *comm);
struct k8s_pods;
/* Take pod metadata from pods (the k8s watcher's table, outliving t) for processes in pods. */
void process_table__set_k8s(struct process_table *t, struct k8s_pods *pods);
/*
 * Rebuild the resources of processes whose pod changed since the last call; cheap when nothing
 * did (one atomic read). Called from the agent's periodic tick.
 */
void process_table__refresh(struct process_table *t);
/* Forget processes that no longer exist; returns how many were dropped. */
int process_table__sweep(struct process_table *t);

/*
 * A service name from a command line (NUL-separated argv, as /proc/PID/cmdline holds it):
 * "python3 app.py" → "app", "node server.js" → "server", "java -jar shop.jar" → "shop",
 * "nginx: worker process" → "nginx", "/usr/bin/curl ..." → "curl". Pure, for the unit tests.
 */
size_t service_name_from_cmdline(const char *cmdline, size_t len, char *out, size_t outsz);

#endif /* SONDE_PROCESS_H */
