/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which container (and Kubernetes pod) a process runs in, from its cgroup path. Container
 * runtimes name their cgroups after the container id: Docker ("/docker/<id>",
 * "docker-<id>.scope"), containerd ("cri-containerd-<id>.scope", or "<id>" under
 * "/kubepods/.../pod<uid>/"), CRI-O ("crio-<id>.scope"), Podman ("libpod-<id>.scope"); the
 * kubelet puts the pod uid in a parent ("pod<uid>", with '_' for '-' under systemd).
 */
#ifndef SONDE_CGROUP_H
#define SONDE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

struct container_ref {
	char id[65];	  /* 64 hex digits, or "" */
	char pod_uid[37]; /* 8-4-4-4-12, or "" */
	char runtime[16]; /* docker, containerd, cri-o, podman, or "" when unknown */
};

/*
 * Parse the text of /proc/PID/cgroup (cgroup v1 or v2 lines "N:controllers:/path"). Returns true
 * when a container id was found. Pure, for the unit tests.
 */
bool cgroup_parse_container(const char *text, size_t len, struct container_ref *out);

#endif /* SONDE_CGROUP_H */
