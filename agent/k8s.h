/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kubernetes pod metadata for the resources of traced processes. A watcher lists and watches
 * the pods of this node on the API server and keeps them in a pod table; the process table
 * asks it, by container id (from the cgroup path) or pod uid, for the k8s.* attributes.
 * Parsing of Pod objects, owner naming and the table are pure, for the unit tests.
 */
#ifndef SONDE_K8S_H
#define SONDE_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "json.h"

#define K8S_MAX_PODS 1024     /* pods kept at most (the kubelet's default limit is 110) */
#define K8S_MAX_CONTAINERS 32 /* containers and init containers of one pod */
#define K8S_NAME 254	      /* DNS subdomain names: 253 bytes and the NUL */

/* What a span's resource gets from the API server. Empty strings are unknown. */
struct k8s_meta {
	char namespace_name[64];
	char pod_name[K8S_NAME];
	char pod_uid[40];
	char node_name[K8S_NAME];
	char container_name[64]; /* only when matched by container id */
	char app_name[K8S_NAME]; /* label app.kubernetes.io/name, else label app */
	char replicaset[K8S_NAME];
	char deployment[K8S_NAME];
	char statefulset[K8S_NAME];
	char daemonset[K8S_NAME];
	char job[K8S_NAME];
	char cronjob[K8S_NAME];
	uint64_t rev; /* changes whenever the table's entry for the pod changes */
};

struct k8s_container {
	char id[72]; /* without the runtime's "containerd://" prefix */
	char name[64];
};

/* A Pod object, as much of it as sonde uses. */
struct k8s_pod {
	struct k8s_meta meta;
	char resource_version[64];
	char owner_kind[32]; /* the controller ownerReference, else the first one */
	char owner_name[K8S_NAME];
	char template_hash[64]; /* label pod-template-hash: the ReplicaSet name's suffix */
	int n_containers;
	struct k8s_container containers[K8S_MAX_CONTAINERS];
};

/*
 * Fill pod from the Pod object at toks[obj]. Returns 0, or -EINVAL when the object has no
 * metadata.uid or metadata.name (the rest is optional). Workload names are not set here.
 */
int k8s_pod_parse(const char *text, const struct json_tok *toks, int obj, struct k8s_pod *pod);
/* The controller ownerReference of any object at toks[obj]: kind and name, or -ENOENT. */
int k8s_owner_parse(const char *text, const struct json_tok *toks, int obj, char *kind,
		    size_t kind_sz, char *name, size_t name_sz);
/*
 * The workload names from the pod's owner alone, when the owner's owner cannot be read:
 * a ReplicaSet "<deployment>-<pod-template-hash>" belongs to that Deployment, a Job
 * "<cronjob>-<minutes since 1970>" to that CronJob. StatefulSet, DaemonSet and Job owners are
 * taken as they are.
 */
void k8s_pod_owner_by_name(struct k8s_pod *pod);
/* The name a service gets from its workload: deployment, statefulset, daemonset, cronjob, job. */
const char *k8s_meta_workload(const struct k8s_meta *m);

/* The cluster's address ranges (--tcp-option-to cluster), as text. */
#define K8S_MAX_RANGES 32
#define K8S_RANGE_LEN 48
/*
 * Add the address ranges of the list object at toks[list] to out (n of max, text, no
 * duplicates, only valid CIDRs): a NodeList's spec.podCIDRs (and podCIDR), a ServiceCIDRList's
 * spec.cidrs, a Calico IPPoolList's spec.cidr. Returns how many were added; *full is set when
 * one did not fit.
 */
int k8s_ranges_parse(const char *text, const struct json_tok *toks, int list,
		     char out[][K8S_RANGE_LEN], int max, int *n, bool *full);

/* The pods of this node by uid; thread-safe (the watcher writes, the event loop reads). */
struct k8s_pods;

struct k8s_pods *k8s_pods__new(void);
void k8s_pods__free(struct k8s_pods *t);
/* Add or replace a pod; -ENOSPC when the table is full. */
int k8s_pods__upsert(struct k8s_pods *t, const struct k8s_pod *pod);
void k8s_pods__delete(struct k8s_pods *t, const char *uid);
/* A full list is coming: pods that __end_list has not seen since are dropped by it. */
void k8s_pods__begin_list(struct k8s_pods *t);
int k8s_pods__end_list(struct k8s_pods *t);
int k8s_pods__count(struct k8s_pods *t);
/*
 * The metadata for a container: by pod uid when known (then the container's name by its id),
 * else by container id alone. Returns true when the pod is known.
 */
bool k8s_pods__lookup(struct k8s_pods *t, const char *pod_uid, const char *container_id,
		      struct k8s_meta *out);
/* Bumped at every change: readers compare it to skip lookups when nothing changed. */
uint64_t k8s_pods__generation(struct k8s_pods *t);

/* The watcher: a thread of its own (see k8s.c for why). */
struct k8s_watcher;

/*
 * Start watching when cfg asks for it (--k8s on, or auto in a cluster). Returns NULL when off,
 * or on a configuration error with --k8s on (printed); an unreachable API server is no error:
 * the watcher warns and retries.
 */
struct k8s_watcher *k8s_watcher__start(const struct sonde_config *cfg, int *err);
void k8s_watcher__stop(struct k8s_watcher *w);
struct k8s_pods *k8s_watcher__pods(struct k8s_watcher *w);

/*
 * --tcp-option-to cluster: the ranges read from the API server at start, a comma list ("" when
 * none); *private_too when the pod or the service ranges were not found, so that the private
 * ranges must stand in for them; *note says what was found where.
 */
const char *k8s_watcher__cluster_ranges(const struct k8s_watcher *w, bool *private_too,
					const char **note);

#endif /* SONDE_K8S_H */
