// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Pod objects as the API server sends them, owner naming, and the pod table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "unit.h"

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define UID "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

static const char pod_json[] =
	"{\"metadata\":{\"name\":\"checkout-7d4b9c8f5d-x2k9q\",\"namespace\":\"shop\","
	"\"uid\":\"" UID "\",\"resourceVersion\":\"4711\","
	"\"labels\":{\"app\":\"old-style\",\"app.kubernetes.io/name\":\"checkout\","
	"\"pod-template-hash\":\"7d4b9c8f5d\"},"
	"\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"n\"},"
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"checkout-7d4b9c8f5d\","
	"\"uid\":\"8c0e\",\"controller\":true}],"
	"\"managedFields\":[{\"manager\":\"kubelet\",\"fieldsV1\":{\"f:status\":{}}}]},"
	"\"spec\":{\"nodeName\":\"node-a\",\"containers\":[{\"name\":\"checkout\"}]},"
	"\"status\":{\"phase\":\"Running\",\"containerStatuses\":["
	"{\"name\":\"envoy\",\"containerID\":\"cri-o://" CID2 "\"},"
	"{\"name\":\"checkout\",\"containerID\":\"containerd://" CID "\"},"
	"{\"name\":\"starting\",\"state\":{\"waiting\":{}}}],"
	"\"initContainerStatuses\":[{\"name\":\"migrate\",\"containerID\":\"docker://abc\"}]}}";

static struct json_tok toks[512];

static int parse_pod(const char *s, struct k8s_pod *pod)
{
	int n = json_parse(s, strlen(s), toks, 512);

	if (n < 0)
		return n;
	return k8s_pod_parse(s, toks, 0, pod);
}

TEST(pod_fields)
{
	struct k8s_pod *pod = malloc(sizeof(*pod));

	CHECK_EQ_INT(parse_pod(pod_json, pod), 0);
	CHECK_STR(pod->meta.pod_name, "checkout-7d4b9c8f5d-x2k9q");
	CHECK_STR(pod->meta.namespace_name, "shop");
	CHECK_STR(pod->meta.pod_uid, UID);
	CHECK_STR(pod->meta.node_name, "node-a");
	CHECK_STR(pod->meta.app_name, "checkout"); /* the recommended label beats "app" */
	CHECK_STR(pod->resource_version, "4711");
	CHECK_STR(pod->template_hash, "7d4b9c8f5d");
	CHECK_STR(pod->owner_kind, "ReplicaSet"); /* the controller, not the first reference */
	CHECK_STR(pod->owner_name, "checkout-7d4b9c8f5d");
	/* the container still waiting has no id and is skipped; init containers count */
	CHECK_EQ_INT(pod->n_containers, 3);
	CHECK_STR(pod->containers[0].id, CID2);
	CHECK_STR(pod->containers[0].name, "envoy");
	CHECK_STR(pod->containers[1].id, CID);
	CHECK_STR(pod->containers[2].id, "abc");
	CHECK_STR(pod->containers[2].name, "migrate");
	free(pod);
}

TEST(pod_without_identity_or_labels)
{
	struct k8s_pod *pod = malloc(sizeof(*pod));

	CHECK_EQ_INT(parse_pod("{\"metadata\":{\"name\":\"x\"}}", pod), -EINVAL);
	CHECK_EQ_INT(parse_pod("{\"metadata\":{\"uid\":\"u\"}}", pod), -EINVAL);
	CHECK_EQ_INT(parse_pod("[]", pod), -EINVAL);
	/* wrong types where strings are expected: left empty, no crash */
	CHECK_EQ_INT(parse_pod("{\"metadata\":{\"name\":\"x\",\"uid\":\"u\",\"labels\":[1],"
			       "\"namespace\":7,\"ownerReferences\":{\"kind\":\"Job\"}},"
			       "\"status\":{\"containerStatuses\":\"no\"}}",
			       pod),
		     0);
	CHECK_STR(pod->meta.namespace_name, "");
	CHECK_STR(pod->meta.app_name, "");
	CHECK_STR(pod->owner_kind, "");
	CHECK_EQ_INT(pod->n_containers, 0);
	/* a name longer than Kubernetes allows is dropped, not cut */
	{
		char s[1024];

		snprintf(s, sizeof(s), "{\"metadata\":{\"name\":\"%0300d\",\"uid\":\"u\"}}", 0);
		CHECK_EQ_INT(parse_pod(s, pod), -EINVAL);
	}
	free(pod);
}

static void owner(struct k8s_pod *pod, const char *kind, const char *name, const char *hash)
{
	memset(pod, 0, sizeof(*pod));
	snprintf(pod->owner_kind, sizeof(pod->owner_kind), "%s", kind);
	snprintf(pod->owner_name, sizeof(pod->owner_name), "%s", name);
	snprintf(pod->template_hash, sizeof(pod->template_hash), "%s", hash);
	k8s_pod_owner_by_name(pod);
}

TEST(owner_names)
{
	struct k8s_pod *pod = malloc(sizeof(*pod));

	owner(pod, "ReplicaSet", "checkout-api-7d4b9c8f5d", "7d4b9c8f5d");
	CHECK_STR(pod->meta.replicaset, "checkout-api-7d4b9c8f5d");
	CHECK_STR(pod->meta.deployment, "checkout-api");
	CHECK_STR(k8s_meta_workload(&pod->meta), "checkout-api");
	/* the label names another hash: a bare ReplicaSet, no deployment */
	owner(pod, "ReplicaSet", "checkout-api-7d4b9c8f5d", "5f6c7b8d9");
	CHECK_STR(pod->meta.deployment, "");
	CHECK(k8s_meta_workload(&pod->meta) == NULL);
	/* no label: the suffix must look like a template hash */
	owner(pod, "ReplicaSet", "web-6b9d7c5f48", "");
	CHECK_STR(pod->meta.deployment, "web");
	owner(pod, "ReplicaSet", "web-frontend", "");
	CHECK_STR(pod->meta.deployment, "");
	owner(pod, "StatefulSet", "ledger", "");
	CHECK_STR(pod->meta.statefulset, "ledger");
	CHECK_STR(k8s_meta_workload(&pod->meta), "ledger");
	owner(pod, "DaemonSet", "node-agent", "");
	CHECK_STR(pod->meta.daemonset, "node-agent");
	owner(pod, "Job", "report-28973460", "");
	CHECK_STR(pod->meta.job, "report-28973460");
	CHECK_STR(pod->meta.cronjob, "report");
	CHECK_STR(k8s_meta_workload(&pod->meta), "report"); /* the cronjob before the job */
	owner(pod, "Job", "migrate-1", "");
	CHECK_STR(pod->meta.cronjob, ""); /* too few digits for a schedule time */
	CHECK_STR(k8s_meta_workload(&pod->meta), "migrate-1");
	owner(pod, "Node", "node-a", ""); /* a static pod */
	CHECK(k8s_meta_workload(&pod->meta) == NULL);
	free(pod);
}

static void add(struct k8s_pods *t, const char *uid, const char *name, const char *cid,
		const char *cname)
{
	struct k8s_pod *pod = calloc(1, sizeof(*pod));

	snprintf(pod->meta.pod_uid, sizeof(pod->meta.pod_uid), "%s", uid);
	snprintf(pod->meta.pod_name, sizeof(pod->meta.pod_name), "%s", name);
	if (cid) {
		snprintf(pod->containers[0].id, sizeof(pod->containers[0].id), "%s", cid);
		snprintf(pod->containers[0].name, sizeof(pod->containers[0].name), "%s", cname);
		pod->n_containers = 1;
	}
	CHECK_EQ_INT(k8s_pods__upsert(t, pod), 0);
	free(pod);
}

TEST(pod_table)
{
	struct k8s_pods *t = k8s_pods__new();
	struct k8s_meta m;
	uint64_t g0 = k8s_pods__generation(t), rev;
	char uid[40];
	int i;

	CHECK(!k8s_pods__lookup(t, UID, CID, &m));
	add(t, UID, "a", CID, "main");
	CHECK(k8s_pods__generation(t) != g0);
	CHECK(k8s_pods__lookup(t, UID, CID, &m));
	CHECK_STR(m.pod_name, "a");
	CHECK_STR(m.container_name, "main");
	rev = m.rev;
	/* by pod uid alone (a container not reported yet): no container name */
	CHECK(k8s_pods__lookup(t, UID, CID2, &m));
	CHECK_STR(m.container_name, "");
	/* by container id alone (no uid in the cgroup path) */
	CHECK(k8s_pods__lookup(t, "", CID, &m));
	CHECK_STR(m.pod_name, "a");
	CHECK(!k8s_pods__lookup(t, "", CID2, &m));
	/* MODIFIED: same uid, new revision */
	add(t, UID, "a2", CID, "main");
	CHECK(k8s_pods__lookup(t, UID, CID, &m));
	CHECK_STR(m.pod_name, "a2");
	CHECK(m.rev != rev);
	CHECK_EQ_INT(k8s_pods__count(t), 1);
	/* DELETED */
	g0 = k8s_pods__generation(t);
	k8s_pods__delete(t, UID);
	CHECK(!k8s_pods__lookup(t, UID, CID, &m));
	CHECK(k8s_pods__generation(t) != g0);
	k8s_pods__delete(t, UID); /* twice: nothing */
	/* a re-list drops what it did not see */
	add(t, "u1", "one", NULL, NULL);
	add(t, "u2", "two", NULL, NULL);
	k8s_pods__begin_list(t);
	add(t, "u2", "two", NULL, NULL);
	CHECK_EQ_INT(k8s_pods__end_list(t), 1);
	CHECK(!k8s_pods__lookup(t, "u1", NULL, &m));
	CHECK(k8s_pods__lookup(t, "u2", NULL, &m));
	/* bounded */
	for (i = 0; i < K8S_MAX_PODS - 1; i++) {
		snprintf(uid, sizeof(uid), "uid-%d", i);
		add(t, uid, "p", NULL, NULL);
	}
	CHECK_EQ_INT(k8s_pods__count(t), K8S_MAX_PODS);
	{
		struct k8s_pod *pod = calloc(1, sizeof(*pod));

		snprintf(pod->meta.pod_uid, sizeof(pod->meta.pod_uid), "one-too-many");
		CHECK_EQ_INT(k8s_pods__upsert(t, pod), -ENOSPC);
		free(pod);
	}
	k8s_pods__free(t);
}

/* The ranges of a list, as text joined by commas; -1 for a list that does not parse. */
static bool full;

static int ranges(const char *s, char out[][K8S_RANGE_LEN], int *n)
{
	int t = json_parse(s, strlen(s), toks, 512);

	return t < 0 ? -1 : k8s_ranges_parse(s, toks, 0, out, K8S_MAX_RANGES, n, &full);
}

/* The cluster's ranges (--tcp-option-to cluster), from the shapes the API server lists. */
TEST(cluster_ranges)
{
	static char out[K8S_MAX_RANGES][K8S_RANGE_LEN];
	int n = 0;

	/* nodes: a dual-stack one (podCIDR is the first of podCIDRs), an older one (podCIDR
	 * alone), one without (Calico's IPAM gives none) */
	CHECK_EQ_INT(ranges("{\"kind\":\"NodeList\",\"items\":["
			    "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podCIDR\":\"10.1.0.0/24\","
			    "\"podCIDRs\":[\"10.1.0.0/24\",\"fd00:10:1::/64\"]}},"
			    "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"podCIDR\":\"10.1.1.0/24\"}},"
			    "{\"metadata\":{\"name\":\"c\"},\"spec\":{\"taints\":[]}}]}",
			    out, &n),
		     3);
	CHECK_STR(out[0], "10.1.0.0/24");
	CHECK_STR(out[1], "fd00:10:1::/64");
	CHECK_STR(out[2], "10.1.1.0/24");
	/* a ServiceCIDR (Kubernetes 1.33), and a Calico IPPool (MicroK8s): added after */
	CHECK_EQ_INT(ranges("{\"kind\":\"ServiceCIDRList\",\"items\":[{\"metadata\":"
			    "{\"name\":\"kubernetes\"},\"spec\":{\"cidrs\":[\"10.152.183.0/24\"]}}]}",
			    out, &n),
		     1);
	CHECK_EQ_INT(ranges("{\"kind\":\"IPPoolList\",\"items\":[{\"spec\":{\"cidr\":"
			    "\"10.1.0.0/16\",\"ipipMode\":\"Never\"}}]}",
			    out, &n),
		     1);
	CHECK_EQ_INT(n, 5);
	CHECK_STR(out[3], "10.152.183.0/24");
	CHECK_STR(out[4], "10.1.0.0/16");
	/* nothing twice, nothing that is not a range, no "all" through a list */
	CHECK_EQ_INT(ranges("{\"items\":[{\"spec\":{\"cidrs\":[\"10.152.183.0/24\",\"10.0.0.0/33\","
			    "\"all\",\"private\",\"10.2.0.0\",7,{\"a\":1}],\"cidr\":[\"10.3.0.0/16\"]}}]}",
			    out, &n),
		     0);
	CHECK_EQ_INT(ranges("{\"items\":{\"spec\":{\"cidr\":\"10.4.0.0/16\"}}}", out, &n), 0);
	CHECK_EQ_INT(ranges("{\"kind\":\"Status\",\"code\":404}", out, &n), 0);
	CHECK_EQ_INT(n, 5);
	CHECK(!full);
	/* more than are kept: the rest is said to be left out */
	n = K8S_MAX_RANGES - 1;
	CHECK_EQ_INT(ranges("{\"items\":[{\"spec\":{\"cidrs\":[\"10.5.0.0/16\",\"10.6.0.0/16\"]}}]}",
			    out, &n),
		     1);
	CHECK(full);
	CHECK_STR(out[K8S_MAX_RANGES - 1], "10.5.0.0/16");
}

int main(void)
{
	RUN(pod_fields);
	RUN(cluster_ranges);
	RUN(pod_without_identity_or_labels);
	RUN(owner_names);
	RUN(pod_table);
	UNIT_DONE();
}
