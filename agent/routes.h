/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Routes the user declares (--route), for http.route: sonde cannot know an application's routes,
 * so it names a server span's route only when a declared pattern matches its path; otherwise the
 * template heuristic stays in url.template alone, as the conventions ask.
 *
 * A pattern is an absolute path whose segments are literals, {name} (any one segment) or *
 * (any one segment; as the last segment, one segment or more). A declaration is PATTERN for
 * every service, or SERVICE=PATTERN for the processes whose service.name is SERVICE. A path
 * takes the first pattern of its service that matches, else the first global one.
 */
#ifndef SONDE_ROUTES_H
#define SONDE_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "span.h"

#define ROUTES_MAX 64
#define ROUTE_PATTERN_MAX 200

struct route {
	char *service; /* NULL: every service */
	char *pattern; /* as declared: the value of http.route */
	size_t len;
};

struct routes {
	struct route r[ROUTES_MAX];
	int n;
};

/* Adds "[SERVICE=]PATTERN"; 0, or -1 with what is wrong in err. */
int routes__add(struct routes *rs, const char *decl, char *err, size_t errlen);
void routes__free(struct routes *rs);
/* The pattern the path (without its query) matches for this service, or NULL. */
const char *routes__match(const struct routes *rs, const char *service, size_t service_len,
			  const char *path, size_t path_len, size_t *pattern_len);

/* The same for a server span being built: its service from its resource. */
const char *routes__for_span(const struct routes *rs, const struct span *sp, const char *path,
			     size_t path_len, size_t *pattern_len);

#endif /* SONDE_ROUTES_H */
