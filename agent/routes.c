// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Declared routes (routes.h): checked once when declared, matched segment by segment against a
 * server span's path when it is built. A handful of patterns and short paths: a linear scan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

/* One segment of s from *at (after its '/'): its start and length; *at moves past it. */
static bool next_segment(const char *s, size_t len, size_t *at, const char **seg, size_t *n)
{
	size_t e;

	if (*at >= len || s[*at] != '/')
		return false;
	for (e = *at + 1; e < len && s[e] != '/'; e++)
		;
	*seg = s + *at + 1;
	*n = e - *at - 1;
	*at = e;
	return true;
}

static bool is_param(const char *seg, size_t n)
{
	return (n == 1 && seg[0] == '*') || (n >= 3 && seg[0] == '{' && seg[n - 1] == '}');
}

/* Whether the pattern is well formed; what is wrong in err if not. */
static bool check_pattern(const char *p, size_t len, char *err, size_t errlen)
{
	const char *seg;
	size_t at = 0, n, i;

	if (!len || p[0] != '/') {
		snprintf(err, errlen, "a route is an absolute path, starting with '/'");
		return false;
	}
	if (len > ROUTE_PATTERN_MAX) {
		snprintf(err, errlen, "a route is %d bytes at most", ROUTE_PATTERN_MAX);
		return false;
	}
	if (len == 1)
		return true;
	while (next_segment(p, len, &at, &seg, &n)) {
		if (!n) {
			snprintf(err, errlen, "empty segment (\"//\" or a trailing '/')");
			return false;
		}
		for (i = 0; i < n; i++) {
			if (seg[i] == '?' || seg[i] == '#' || seg[i] == ' ' || seg[i] == '=') {
				snprintf(err, errlen, "'%c' has no place in a route", seg[i]);
				return false;
			}
			if ((seg[i] == '{' || seg[i] == '}' || seg[i] == '*') && !is_param(seg, n)) {
				snprintf(err, errlen, "'{name}' and '*' are whole segments");
				return false;
			}
		}
		if (n >= 3 && seg[0] == '{' && memchr(seg + 1, '{', n - 2)) {
			snprintf(err, errlen, "'{name}' and '*' are whole segments");
			return false;
		}
	}
	return true;
}

int routes__add(struct routes *rs, const char *decl, char *err, size_t errlen)
{
	const char *eq = strchr(decl, '='), *slash = strchr(decl, '/');
	const char *pat = decl;
	struct route *r;
	size_t slen = 0;

	if (rs->n >= ROUTES_MAX) {
		snprintf(err, errlen, "%d routes at most", ROUTES_MAX);
		return -1;
	}
	if (eq && (!slash || eq < slash)) { /* SERVICE=PATTERN */
		slen = (size_t)(eq - decl);
		pat = eq + 1;
		if (!slen) {
			snprintf(err, errlen, "empty service name before '='");
			return -1;
		}
	}
	if (!check_pattern(pat, strlen(pat), err, errlen))
		return -1;
	r = &rs->r[rs->n];
	r->service = slen ? strndup(decl, slen) : NULL;
	r->pattern = strdup(pat);
	if (!r->pattern || (slen && !r->service)) {
		free(r->service);
		free(r->pattern);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->len = strlen(pat);
	rs->n++;
	return 0;
}

void routes__free(struct routes *rs)
{
	int i;

	for (i = 0; i < rs->n; i++) {
		free(rs->r[i].service);
		free(rs->r[i].pattern);
	}
	rs->n = 0;
}

static bool matches(const struct route *r, const char *path, size_t plen)
{
	const char *ps, *qs;
	size_t pa = 0, qa = 0, pn, qn;

	if (plen > 1 && path[plen - 1] == '/')
		plen--; /* one trailing '/' is the same path */
	if (r->len == 1)
		return plen == 1 && path[0] == '/';
	while (next_segment(r->pattern, r->len, &pa, &ps, &pn)) {
		if (!next_segment(path, plen, &qa, &qs, &qn) || !qn)
			return false;
		if (pn == 1 && ps[0] == '*' && pa == r->len)
			return true; /* a last '*': this segment and any after it */
		if (!is_param(ps, pn) && (pn != qn || memcmp(ps, qs, pn)))
			return false;
	}
	return qa == plen;
}

const char *routes__match(const struct routes *rs, const char *service, size_t service_len,
			  const char *path, size_t path_len, size_t *pattern_len)
{
	const struct route *global = NULL, *r;
	int i;

	if (!rs || !rs->n || !path_len)
		return NULL;
	for (i = 0; i < rs->n; i++) {
		r = &rs->r[i];
		if (r->service && !(service && strlen(r->service) == service_len &&
				    !memcmp(r->service, service, service_len)))
			continue;
		if ((r->service || !global) && matches(r, path, path_len)) {
			if (r->service) {
				*pattern_len = r->len;
				return r->pattern;
			}
			global = r;
		}
	}
	if (global)
		*pattern_len = global->len;
	return global ? global->pattern : NULL;
}

const char *routes__for_span(const struct routes *rs, const struct span *sp, const char *path,
			     size_t path_len, size_t *pattern_len)
{
	const struct span_attr *a;

	if (!rs || !rs->n)
		return NULL;
	a = sp->res ? resource__find_attr(sp->res, "service.name") : NULL;
	if (a && a->type == ATTR_STR)
		return routes__match(rs, resource__attr_str(sp->res, a), a->len, path, path_len,
				     pattern_len);
	return routes__match(rs, NULL, 0, path, path_len, pattern_len);
}
