// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A deliberately small HTTP/1.x server for the metrics and health endpoint. Each connection is
 * read until the end of its request head (bounded, with a deadline), answered, and closed; a
 * slow or silent client costs one fd until its deadline and nothing else. Bounded connections.
 * The answer is written as the socket takes it, never blocking the agent's loop: /metrics with
 * thousands of histogram series is megabytes, past what one send of a socket takes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"

#define MAX_CLIENTS 16
#define REQ_MAX 2048
#define CLIENT_DEADLINE_MS 2000
#define WRITE_DEADLINE_MS 10000 /* Prometheus's default scrape timeout */

struct client {
	int fd;
	uint64_t deadline;
	size_t len;
	char req[REQ_MAX];
	char *out; /* the answer, head and body, while it is written */
	size_t out_len, out_off;
};

struct metrics_server {
	struct loop *loop;
	int fd;
	int port;
	metrics_render_fn render;
	metrics_health_fn health;
	void *ctx;
	struct client clients[MAX_CLIENTS];
};

static void client_close(struct metrics_server *m, struct client *c)
{
	if (c->fd < 0)
		return;
	loop__del_fd(m->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
}

/* Write what the socket takes of the answer: 1 when all is written, 0 when the rest waits for
 * the socket to drain, -1 when the client is gone. */
static int flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->out_off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			return n < 0 && errno == EAGAIN ? 0 : -1;
	}
	return 1;
}

/* The answer, head and body, into the client's buffer. */
static void respond(struct client *c, int code, const char *type, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, code == 200 ? "OK" : code == 503 ? "Service Unavailable" :
				code == 405 ? "Method Not Allowed" : "Not Found",
			 type, len);

	c->out = malloc((size_t)n + len);
	if (!c->out)
		return;
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, body, len);
	c->out_len = (size_t)n + len;
	c->out_off = 0;
}

/* Whether the request head asks for OpenMetrics (Prometheus does, with exemplars). */
static bool wants_openmetrics(const char *req)
{
	const char *h = req;

	while ((h = strchr(h, '\n'))) {
		h++;
		if (!strncasecmp(h, "accept:", 7)) {
			const char *e = strchr(h, '\n');
			size_t n = e ? (size_t)(e - h) : strlen(h);

			return memmem(h, n, "application/openmetrics-text", 28) != NULL;
		}
	}
	return false;
}

static void answer(struct metrics_server *m, struct client *c)
{
	bool openmetrics = wants_openmetrics(c->req);
	char *body = NULL;
	size_t len = 0;
	FILE *out;
	int code = 200;

	if (strncmp(c->req, "GET ", 4)) {
		respond(c, 405, "text/plain", "GET only\n", 9);
		return;
	}
	out = open_memstream(&body, &len);
	if (!out)
		return;
	if (!strncmp(c->req + 4, "/metrics ", 9) || !strncmp(c->req + 4, "/metrics?", 9)) {
		m->render(m->ctx, out, openmetrics);
		if (openmetrics)
			fputs("# EOF\n", out);
	} else if (!strncmp(c->req + 4, "/healthz ", 9) || !strncmp(c->req + 4, "/ ", 2)) {
		code = m->health(m->ctx, out) ? 200 : 503;
	} else {
		code = 404;
		fputs("not found: try /metrics or /healthz\n", out);
	}
	fclose(out);
	respond(c, code, code != 200 || strncmp(c->req + 4, "/metrics", 8) ? "text/plain"
			 : openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				       : "text/plain; version=0.0.4",
		body, len);
	free(body);
}

static void on_client(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct metrics_server *m = ctx;
	struct client *c = NULL;
	ssize_t n;
	int i;

	for (i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd == fd)
			c = &m->clients[i];
	if (!c)
		return;
	if (c->out) { /* the rest of an answer, now that the socket takes more */
		if (flush(c))
			client_close(m, c);
		return;
	}
	n = recv(fd, c->req + c->len, REQ_MAX - 1 - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(m, c);
		return;
	}
	c->len += n;
	c->req[c->len] = 0;
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") || c->len >= REQ_MAX - 1) {
		answer(m, c);
		if (!c->out || flush(c) || loop__mod_fd(l, fd, EPOLLOUT)) {
			client_close(m, c);
			return;
		}
		c->deadline = loop__now_ms() + WRITE_DEADLINE_MS;
	}
}

/* Drop clients past their deadline; re-armed while any is open. */
static void on_sweep(struct loop *l, void *ctx)
{
	struct metrics_server *m = ctx;
	uint64_t now = loop__now_ms();
	bool any = false;
	int i;

	for (i = 0; i < MAX_CLIENTS; i++) {
		if (m->clients[i].fd < 0)
			continue;
		if (now >= m->clients[i].deadline)
			client_close(m, &m->clients[i]);
		else
			any = true;
	}
	if (any)
		loop__arm_timer(l, 500, on_sweep, m);
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct metrics_server *m = ctx;
	int cfd, i;

	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (i = 0; i < MAX_CLIENTS && m->clients[i].fd >= 0; i++)
			;
		if (i == MAX_CLIENTS) {
			close(cfd); /* full: the client retries */
			continue;
		}
		m->clients[i].fd = cfd;
		m->clients[i].len = 0;
		m->clients[i].deadline = loop__now_ms() + CLIENT_DEADLINE_MS;
		if (loop__add_fd(l, cfd, EPOLLIN, on_client, m)) {
			close(cfd);
			m->clients[i].fd = -1;
			continue;
		}
		loop__arm_timer(l, 500, on_sweep, m);
	}
}

/* "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[64];
	const char *colon;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - addr - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(rb - addr - 1), addr + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || (size_t)(colon - addr) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == 0)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

struct metrics_server *metrics_server__new(struct loop *l, const char *addr, metrics_render_fn render,
					   metrics_health_fn health, void *ctx)
{
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	struct metrics_server *m;
	int one = 1, i;

	if (parse_addr(addr, &ss, &len)) {
		fprintf(stderr, "sonde: invalid metrics address '%s': expected HOST:PORT, e.g. "
				"127.0.0.1:9464\n", addr);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	for (i = 0; i < MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	m->loop = l;
	m->render = render;
	m->health = health;
	m->ctx = ctx;
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		goto fail;
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->fd, (struct sockaddr *)&ss, len) || listen(m->fd, 16))
		goto fail;
	if (getsockname(m->fd, (struct sockaddr *)&bound, &blen) == 0)
		m->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
							 : ((struct sockaddr_in6 *)&bound)->sin6_port);
	if (loop__add_fd(l, m->fd, EPOLLIN, on_accept, m))
		goto fail;
	return m;
fail:
	fprintf(stderr, "sonde: warning: metrics endpoint not started on %s: %s (tracing goes on; "
			"pick another with --metrics-addr, or --metrics-addr off)\n",
		addr, strerror(errno));
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return NULL;
}

int metrics_server__port(const struct metrics_server *m)
{
	return m->port;
}

void metrics_server__free(struct metrics_server *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		client_close(m, &m->clients[i]);
	loop__del_fd(m->loop, m->fd);
	close(m->fd);
	loop__cancel_timer(m->loop, on_sweep, m);
	free(m);
}
