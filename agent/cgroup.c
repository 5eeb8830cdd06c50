// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Container and pod identity from cgroup paths. The id is the last 64-hex-digit name on the path
 * (with its runtime prefix and ".scope" stripped); the pod uid the one in a "pod..." component
 * above it. Only the path is trusted: nothing here reads a file.
 */
#include <ctype.h>
#include <string.h>

#include "cgroup.h"

static bool all_hex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
			return false;
	return true;
}

static const struct {
	const char *prefix;
	const char *runtime;
} runtimes[] = {
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"libpod-", "podman"},
};

/* One path component: a container id, perhaps with a runtime prefix and ".scope". */
static bool component_id(const char *c, size_t n, struct container_ref *out, const char *parent,
			 size_t parent_len)
{
	const char *runtime = "";
	size_t i;

	if (n > 6 && !memcmp(c + n - 6, ".scope", 6))
		n -= 6;
	for (i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		size_t pl = strlen(runtimes[i].prefix);

		if (n > pl && !memcmp(c, runtimes[i].prefix, pl)) {
			c += pl;
			n -= pl;
			runtime = runtimes[i].runtime;
			break;
		}
	}
	if (n != 64 || !all_hex(c, 64))
		return false;
	if (!runtime[0] && parent_len == 6 && !memcmp(parent, "docker", 6))
		runtime = "docker";
	memcpy(out->id, c, 64);
	out->id[64] = 0;
	strcpy(out->runtime, runtime);
	return true;
}

/* "pod<uid>" or "kubepods-besteffort-pod<uid_with_underscores>.slice". */
static void component_pod(const char *c, size_t n, struct container_ref *out)
{
	const char *p = NULL;
	size_t i, rest;

	for (i = 0; i + 3 <= n; i++)
		if (!memcmp(c + i, "pod", 3) && (i == 0 || c[i - 1] == '-'))
			p = c + i + 3;
	if (!p)
		return;
	rest = n - (p - c);
	if (rest > 6 && !memcmp(p + rest - 6, ".slice", 6))
		rest -= 6;
	if (rest != 36)
		return;
	for (i = 0; i < 36; i++) {
		char ch = p[i] == '_' ? '-' : p[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? ch != '-' : !isxdigit((unsigned char)ch))
			return;
		out->pod_uid[i] = (char)tolower((unsigned char)ch);
	}
	out->pod_uid[36] = 0;
}

bool cgroup_parse_container(const char *text, size_t len, struct container_ref *out)
{
	const char *line = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	while (line < end) {
		const char *nl = memchr(line, '\n', end - line);
		const char *le = nl ? nl : end;
		const char *path = memchr(line, ':', le - line);
		const char *comp, *prev = NULL;
		size_t prev_len = 0;

		if (path)
			path = memchr(path + 1, ':', le - path - 1);
		if (path) {
			struct container_ref found = {};

			for (comp = path + 1; comp < le;) {
				const char *slash = memchr(comp, '/', le - comp);
				const char *ce = slash ? slash : le;

				if (ce > comp) {
					component_pod(comp, ce - comp, &found);
					component_id(comp, ce - comp, &found, prev, prev_len);
					prev = comp;
					prev_len = ce - comp;
				}
				comp = ce + 1;
			}
			if (found.id[0]) {
				*out = found;
				return true;
			}
		}
		line = le + 1;
	}
	return false;
}
