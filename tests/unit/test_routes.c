/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for declared routes (agent/routes.c): what a declaration may be (and the reason
 * when it may not), how a path matches ({name} one segment, * one segment, a last * the rest,
 * one trailing '/' the same path, the query not part of it), first match wins, a service's own
 * routes before the global ones, and the span side (the service from the resource).
 */
#include <stdlib.h>

#include "routes.h"
#include "unit.h"

static struct routes rs;

static void add(const char *decl)
{
	char err[128];

	if (routes__add(&rs, decl, err, sizeof(err))) {
		fprintf(stderr, "refused %s: %s\n", decl, err);
		CHECK(0);
	}
}

static void refused(const char *decl, const char *why)
{
	char err[128] = "";

	CHECK_EQ_INT(routes__add(&rs, decl, err, sizeof(err)), -1);
	if (!strstr(err, why)) {
		fprintf(stderr, "%s: '%s' does not say '%s'\n", decl, err, why);
		CHECK(0);
	}
}

/* The route path takes for service (NULL: none), or "-" for none matching. */
static const char *route_of(const char *service, const char *path)
{
	static char out[256];
	size_t n = 0;
	const char *r = routes__match(&rs, service, service ? strlen(service) : 0, path,
				      strlen(path), &n);

	if (!r)
		return "-";
	snprintf(out, sizeof(out), "%.*s", (int)n, r);
	return out;
}

TEST(declarations)
{
	refused("api/users", "starting with '/'");
	refused("", "starting with '/'");
	refused("/api//users", "empty segment");
	refused("/api/users/", "empty segment");
	refused("/api/{id", "whole segments");
	refused("/api/x{id}", "whole segments");
	refused("/api/{a}{b}", "whole segments");
	refused("/api/*.png", "whole segments");
	refused("/api?x=1", "'?' has no place");
	refused("=/api", "empty service name");
	CHECK_EQ_INT(rs.n, 0);
	add("/");
	add("shop=/api/orders/{id}/items"); /* '=' before the first '/': a service */
	add("/api/users/{id}");
	CHECK_EQ_INT(rs.n, 3);
	CHECK(rs.r[1].service && !strcmp(rs.r[1].service, "shop"));
	CHECK_STR(rs.r[1].pattern, "/api/orders/{id}/items");
	CHECK(!rs.r[2].service);
	routes__free(&rs);
	CHECK_EQ_INT(rs.n, 0);
}

TEST(matching)
{
	add("/api/users/{id}");
	add("/api/users/{id}/orders/{order}");
	add("/static/*");
	add("/api/*/health");
	add("/");
	CHECK_STR(route_of(NULL, "/api/users/42"), "/api/users/{id}");
	CHECK_STR(route_of(NULL, "/api/users/42/"), "/api/users/{id}");
	CHECK_STR(route_of(NULL, "/api/users/42/orders/7"), "/api/users/{id}/orders/{order}");
	CHECK_STR(route_of(NULL, "/api/users"), "-");
	CHECK_STR(route_of(NULL, "/api/users/"), "-"); /* {id} is one segment, never empty */
	CHECK_STR(route_of(NULL, "/api/users/42/orders"), "-");
	CHECK_STR(route_of(NULL, "/static/css/site.css"), "/static/*");
	CHECK_STR(route_of(NULL, "/static/a"), "/static/*");
	CHECK_STR(route_of(NULL, "/static"), "-");
	CHECK_STR(route_of(NULL, "/api/v2/health"), "/api/*/health");
	CHECK_STR(route_of(NULL, "/api/v2/x/health"), "-"); /* * inside: one segment */
	CHECK_STR(route_of(NULL, "/"), "/");
	CHECK_STR(route_of(NULL, "/API/users/42"), "-"); /* literals are exact */
	CHECK_STR(route_of(NULL, "/api/usersx/42"), "-");
	routes__free(&rs);
}

TEST(first_match_and_services)
{
	add("/api/{any}/{id}");
	add("/api/users/{id}"); /* never reached: the first one matches first */
	add("shop=/api/users/{user}");
	add("cart=/api/*");
	CHECK_STR(route_of(NULL, "/api/users/1"), "/api/{any}/{id}");
	CHECK_STR(route_of("billing", "/api/users/1"), "/api/{any}/{id}");
	/* a service's own routes come before the global ones */
	CHECK_STR(route_of("shop", "/api/users/1"), "/api/users/{user}");
	CHECK_STR(route_of("cart", "/api/users/1"), "/api/*");
	CHECK_STR(route_of("cart", "/x"), "-");
	CHECK_STR(route_of("sho", "/api/users/1"), "/api/{any}/{id}"); /* names are exact */
	routes__free(&rs);
}

TEST(bounds)
{
	char big[ROUTE_PATTERN_MAX + 8];
	int i;

	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	refused(big, "bytes at most");
	for (i = 0; i < ROUTES_MAX; i++)
		add("/x");
	refused("/y", "routes at most");
	routes__free(&rs);
}

TEST(span_service)
{
	struct resource *res = resource__new(1);
	struct span sp;
	size_t n = 0;
	const char *r;

	add("shop=/api/users/{id}");
	memset(&sp, 0, offsetof(struct span, attrs));
	CHECK(routes__for_span(&rs, &sp, "/api/users/1", 12, &n) == NULL); /* no resource */
	resource__set_cstr(res, "service.name", "shop");
	sp.res = res;
	r = routes__for_span(&rs, &sp, "/api/users/1", 12, &n);
	CHECK(r != NULL && n == 15 && !memcmp(r, "/api/users/{id}", 15));
	routes__free(&rs);
	CHECK(routes__for_span(&rs, &sp, "/api/users/1", 12, &n) == NULL); /* none declared */
	resource__put(res);
}

int main(void)
{
	RUN(declarations);
	RUN(matching);
	RUN(first_match_and_services);
	RUN(bounds);
	RUN(span_service);
	UNIT_DONE();
}
