// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL frontend/backend protocol 3 as a decoder (decoder.h, db.h). Both directions
 * are framed by the messages' own lengths, also over bytes the kernel only counted, so a big
 * result set or COPY stream is skipped without being seen. A request is a simple Query (one op,
 * however many statements it holds: a batch) or an Execute of the extended protocol (one op
 * each, its text from the Bind's statement: the unnamed one or a named one remembered in a
 * bounded table). Answers pair with requests in order: CommandComplete, EmptyQueryResponse,
 * PortalSuspended or ErrorResponse end an Execute, ReadyForQuery ends a Query and a Sync group.
 * Messages the server sends on its own (notices, parameter changes, notifications) pair with
 * nothing. An answer whose end was not captured ends with its run (run_end), and an error that
 * was not captured cannot be seen.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"
#include "decoders/op_queue.h"
#include "decoders/postgres.h"
#include "decoders/sql.h"

/* Request codes of the untyped first packets (protocol 3.0, and 3.2 since PostgreSQL 18). */
#define PG_PROTO_30 0x00030000u
#define PG_PROTO_32 0x00030002u
#define PG_CANCEL_CODE 80877102u
#define PG_SSL_CODE 80877103u
#define PG_GSS_CODE 80877104u

/* The server refuses bigger messages; a bigger length means the framing is wrong. */
#define PG_MAX_MSG (1u << 30)
/* A startup packet is short (the server's own limit is 10000 bytes). */
#define PG_MAX_STARTUP 10000u

#define PG_CLI_KEEP (DB_QUERY_BYTES + 128) /* of a client message body: Parse name and text */
#define PG_SRV_KEEP 128			    /* of a server message: tags, SQLSTATE */
#define PG_STMTS 32			    /* named prepared statements remembered */
#define PG_STMT_TEXT 512		    /* of each one's text */
#define PG_MAX_PENDING 64		    /* requests in flight on one connection */

enum pg_phase {
	PH_INIT,      /* client: nothing seen yet (startup or mid-session?) */
	PH_UNTYPED,   /* client: a startup, SSL, GSS or cancel packet comes next */
	PH_TYPED,     /* regular messages: type byte, length */
	PH_SSL_REPLY, /* server: one byte answers an SSL or GSS request */
	PH_OFF,	      /* encrypted or a cancel connection: nothing to decode */
};

/* One direction's framing. */
struct pg_dir {
	uint8_t phase;
	uint8_t type;	   /* of the message being read (0: an untyped packet) */
	uint8_t hdr[5];	   /* a header split between I/Os */
	uint8_t hdr_len;
	bool in_body;	   /* between a header and the end of its body */
	bool lost;	   /* framing lost: wait for a run start that parses */
	bool cut;	   /* part of the body went by uncaptured */
	uint32_t left;	   /* bytes of the body still to come */
	uint32_t body_len; /* of the message being read */
	uint32_t kept;	   /* bytes of the body kept */
	uint64_t ts;	   /* when the message began */
	uint64_t actor;	   /* and who moved its first byte */
	uint32_t tid;
	uint64_t run_ts;   /* when the run began */
};

struct pg_stmt {
	uint64_t name_hash; /* 0: free */
	uint64_t used;	    /* for eviction: the least recently used goes */
	uint16_t len;
	char text[PG_STMT_TEXT];
};

struct pg_pending {
	struct db_op op;
	uint32_t group; /* the Sync group (simple Query: its own) */
	bool simple;	/* a simple Query: ReadyForQuery ends it */
	bool answered;	/* an Execute whose completion came */
};

struct pg_state {
	enum db_query_mode mode;
	struct pg_dir cli, srv;
	uint8_t cli_buf[PG_CLI_KEEP];
	uint8_t srv_buf[PG_SRV_KEEP];
	char namespace_[DB_NAMESPACE_BYTES];

	/* the unnamed statement and what the last Bind bound */
	char unnamed[DB_QUERY_BYTES];
	uint16_t unnamed_len;
	bool unnamed_known;
	struct db_op bound;
	bool bound_known;
	struct pg_stmt *stmts; /* PG_STMTS, allocated at the first named Parse */
	uint64_t use_clock;

	bool asked_stream;	       /* the kernel was asked for capture policy STREAM */
	struct op_queue q;	       /* requests in flight (struct pg_pending), oldest first */
	uint32_t cli_group, srv_group; /* Sync groups sent and answered */
	bool group_error;	       /* the server skips the rest of this group */
	uint64_t req_ts;	       /* first message of the request being sent */
	uint64_t req_actor;
	uint32_t req_tid;

	/*
	 * The client's framing lost (more I/Os in a run than the kernel captures, as a driver's
	 * pipeline may send): answers that pair with no request seen stand for requests that
	 * went by uncaptured, at most one per 10 bytes of them (the smallest Bind + Execute).
	 */
	bool blind;
	bool blind_parse;	/* a Parse went by unseen: the statement is unknown */
	uint64_t blind_bytes;
	uint64_t blind_ops;
	uint64_t blind_ts;
	uint64_t blind_actor;
	uint32_t blind_tid;
	uint32_t parses;	/* Parse messages seen and not yet answered */

	struct postgres_counts n; /* refused: see q.refused */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool client_type(uint8_t t)
{
	switch (t) {
	case 'Q': case 'P': case 'B': case 'E': case 'D': case 'S': case 'H': case 'C':
	case 'X': case 'd': case 'c': case 'f': case 'F': case 'p':
		return true;
	}
	return false;
}

static bool server_type(uint8_t t)
{
	switch (t) {
	case '1': case '2': case '3': case 'C': case 'D': case 'E': case 'I': case 'N':
	case 'A': case 'S': case 'Z': case 'T': case 't': case 'n': case 's': case 'K':
	case 'R': case 'G': case 'H': case 'W': case 'd': case 'c': case 'v': case 'V':
		return true;
	}
	return false;
}

/* Text a person or a driver wrote: printable ASCII, white space, UTF-8 bytes. */
static bool text_byte(uint8_t c)
{
	return c >= 0x20 ? c != 0x7f : c == '\t' || c == '\n' || c == '\r';
}

/* Is s[0..n) the start of SQL text: printable, and a word first (after space and comments)? */
static bool looks_like_sql(const uint8_t *s, size_t n)
{
	char op[DB_OP_NAME_BYTES], coll[2];
	size_t i;

	for (i = 0; i < n && s[i]; i++)
		if (!text_byte(s[i]))
			return false;
	if (i < 2)
		return false;
	sql_summarize((const char *)s, i, op, sizeof(op), coll, sizeof(coll));
	/* a keyword: letters only, two at least */
	for (i = 0; op[i]; i++)
		if (op[i] < 'A' || op[i] > 'Z')
			return false;
	return i >= 2;
}

/* A client's first packet: startup 3.x, SSL, GSS or cancel request. */
static bool untyped_packet(const uint8_t *p, size_t n)
{
	uint32_t len, code, i, klen;

	if (n < 8)
		return false;
	len = be32(p);
	code = be32(p + 4);
	if (code == PG_SSL_CODE || code == PG_GSS_CODE)
		return len == 8;
	if (code == PG_CANCEL_CODE)
		return len >= 16 && len <= 16 + 256;
	if (code != PG_PROTO_30 && code != PG_PROTO_32)
		return false;
	if (len < 9 || len > PG_MAX_STARTUP)
		return false;
	/* name\0value\0 pairs, a key first: every key captured is printable and short */
	for (i = 8, klen = 0; i < n && i < len; i++) {
		if (!p[i]) {
			if (!klen && i + 1 != len)
				return false; /* an empty key ends the list, and the packet */
			klen = 0;
		} else if (!text_byte(p[i])) {
			return false;
		} else {
			klen++;
		}
	}
	return len > 8;
}

/*
 * A server run that is, in full, well-formed messages ending with ReadyForQuery: what a server
 * answers when sonde starts in the middle of a session.
 */
static bool server_answer(const uint8_t *p, size_t n)
{
	size_t i = 0;
	uint32_t len;

	while (i + 5 <= n) {
		if (!server_type(p[i]))
			return false;
		len = be32(p + i + 1);
		if (len < 4 || len > n - i - 1)
			return false;
		if (p[i] == 'Z' && len == 5 && i + 6 == n)
			return p[i + 5] == 'I' || p[i + 5] == 'T' || p[i + 5] == 'E';
		i += 1 + len;
	}
	return false;
}

/*
 * A client message in the middle of a session: a simple Query or a Parse whose length agrees
 * with its captured text and whose text is SQL. With the whole message captured its NUL must
 * be where the length says; otherwise only on PostgreSQL's port.
 */
static bool client_request(const uint8_t *p, size_t n, bool port)
{
	const uint8_t *t;
	size_t tn, i;
	uint32_t len;

	if (n < 6 || (p[0] != 'Q' && p[0] != 'P'))
		return false;
	len = be32(p + 1);
	if (len < 6 || len > PG_MAX_MSG)
		return false;
	t = p + 5;
	tn = n - 5 < len - 4 ? n - 5 : len - 4;
	if (p[0] == 'P') {
		/* statement name, then the text */
		for (i = 0; i < tn && t[i]; i++)
			if (!text_byte(t[i]))
				return false;
		if (i >= tn || i > 64)
			return false;
		t += i + 1;
		tn -= i + 1;
	}
	if (!looks_like_sql(t, tn))
		return false;
	if (n - 5 >= len - 4) {
		/* complete: a Query's text ends exactly at its end */
		if (p[0] == 'Q')
			return memchr(t, 0, tn) == t + tn - 1;
		return memchr(t, 0, tn) != NULL;
	}
	return port;
}

static enum detect_result pg_detect(const uint8_t *p, size_t n, const struct conn_info *info)
{
	bool port = info && info->have_tuple && (info->sport == 5432 || info->dport == 5432);

	if (untyped_packet(p, n))
		return DETECT_CLIENT;
	if (client_request(p, n, port))
		return DETECT_CLIENT;
	if (server_answer(p, n))
		return DETECT_SERVER;
	return DETECT_NO;
}

static void *pg_create(const struct decoder_env *env)
{
	struct pg_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->mode = env && env->cfg ? env->cfg->db.query_mode : DB_QUERY_SANITIZED;
	st->cli.phase = PH_INIT;
	st->srv.phase = PH_TYPED;
	/* a deeper pipeline than sonde follows loses its requests beyond the bound */
	op_queue__init(&st->q, sizeof(struct pg_pending), PG_MAX_PENDING);
	return st;
}

static void pg_destroy(void *p)
{
	struct pg_state *st = p;

	if (!st)
		return;
	free(st->stmts);
	op_queue__free(&st->q);
	free(st);
}

/* ---------------------------------------------------------------------------------------- */
/* requests in flight */

static struct pg_pending *q_at(struct pg_state *st, uint32_t i)
{
	return op_queue__at(&st->q, i);
}

static void emit(struct pg_state *st, struct pg_pending *pe, uint64_t end,
		 const struct decoder_sink *out)
{
	struct db_op *op = &pe->op;

	op->head.end_ns = end > op->head.start_ns ? end : op->head.start_ns;
	memcpy(op->namespace_, st->namespace_, sizeof(op->namespace_));
	db_op__report(out, op);
}

/* The front request, if the server's answers have reached its Sync group. */
static struct pg_pending *q_front(struct pg_state *st)
{
	struct pg_pending *pe = op_queue__front(&st->q);

	return pe && pe->group == st->srv_group ? pe : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* client messages */

static uint64_t name_hash(const uint8_t *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h ? h : 1;
}

/* A NUL-terminated string at b[*at..n): its length; *at moves past it. -1 if it is cut. */
static long take_cstr(const uint8_t *b, size_t n, size_t *at, const uint8_t **s)
{
	const uint8_t *z;

	*s = b + (*at < n ? *at : n);
	if (*at >= n)
		return -1;
	z = memchr(*s, 0, n - *at);
	if (!z)
		return -1;
	*at += (size_t)(z - *s) + 1;
	return z - *s;
}

static struct pg_stmt *stmt_find(struct pg_state *st, uint64_t h)
{
	unsigned i;

	if (!st->stmts)
		return NULL;
	for (i = 0; i < PG_STMTS; i++)
		if (st->stmts[i].name_hash == h)
			return &st->stmts[i];
	return NULL;
}

static void stmt_store(struct pg_state *st, uint64_t h, const uint8_t *text, size_t n)
{
	struct pg_stmt *s = stmt_find(st, h), *old;
	unsigned i;

	if (!s) {
		if (!st->stmts) {
			st->stmts = calloc(PG_STMTS, sizeof(*st->stmts));
			if (!st->stmts) {
				st->n.nomem++;
				return;
			}
		}
		old = &st->stmts[0];
		for (i = 0; i < PG_STMTS; i++) {
			if (!st->stmts[i].name_hash) {
				old = &st->stmts[i];
				break;
			}
			if (st->stmts[i].used < old->used)
				old = &st->stmts[i];
		}
		if (old->name_hash)
			st->n.evictions++;
		s = old;
	}
	s->name_hash = h;
	s->used = ++st->use_clock;
	s->len = (uint16_t)(n < PG_STMT_TEXT ? n : PG_STMT_TEXT);
	memcpy(s->text, text, s->len);
}

static void on_parse(struct pg_state *st, const uint8_t *b, size_t n)
{
	const uint8_t *name, *text;
	size_t at = 0;
	long nl, tl;

	nl = take_cstr(b, n, &at, &name);
	if (nl < 0)
		return;
	tl = take_cstr(b, n, &at, &text);
	if (tl < 0)
		tl = at < n ? (long)(n - at) : 0; /* cut by the capture: what there is */
	if (!nl) {
		st->unnamed_len = (uint16_t)((size_t)tl < sizeof(st->unnamed) ? (size_t)tl
									 : sizeof(st->unnamed));
		memcpy(st->unnamed, text, st->unnamed_len);
		st->unnamed_known = true;
	} else {
		stmt_store(st, name_hash(name, (size_t)nl), text, (size_t)tl);
	}
}

static void on_bind(struct pg_state *st, const uint8_t *b, size_t n)
{
	const uint8_t *portal, *name;
	struct pg_stmt *s;
	size_t at = 0;
	long nl;

	st->bound_known = false;
	if (take_cstr(b, n, &at, &portal) < 0 || (nl = take_cstr(b, n, &at, &name)) < 0)
		return;
	memset(&st->bound, 0, sizeof(st->bound));
	st->bound.system = DB_POSTGRESQL;
	st->bound.returned_rows = -1;
	if (!nl) {
		if (!st->unnamed_known)
			return;
		sql_fill_op(&st->bound, st->unnamed, st->unnamed_len, st->mode);
	} else {
		s = stmt_find(st, name_hash(name, (size_t)nl));
		if (!s)
			return; /* prepared before sonde saw it, or evicted */
		s->used = ++st->use_clock;
		sql_fill_op(&st->bound, s->text, s->len, st->mode);
	}
	st->bound_known = true;
}

static void on_close_stmt(struct pg_state *st, const uint8_t *b, size_t n)
{
	const uint8_t *name;
	struct pg_stmt *s;
	size_t at = 1;
	long nl;

	if (n < 2 || b[0] != 'S' || (nl = take_cstr(b, n, &at, &name)) <= 0)
		return;
	s = stmt_find(st, name_hash(name, (size_t)nl));
	if (s)
		s->name_hash = 0;
}

static void start_op(struct pg_state *st, struct pg_pending *pe, bool simple)
{
	pe->simple = simple;
	pe->answered = false;
	pe->group = st->cli_group;
	pe->op.system = DB_POSTGRESQL;
	pe->op.head.start_ns = st->req_ts ? st->req_ts : st->cli.ts;
	pe->op.head.actor = st->req_ts ? st->req_actor : st->cli.actor;
	pe->op.head.tid = st->req_ts ? st->req_tid : st->cli.tid;
	pe->op.returned_rows = -1;
	st->req_ts = 0;
}

static void on_client_msg(struct pg_state *st, const struct decoder_sink *out)
{
	struct pg_dir *d = &st->cli;
	const uint8_t *b = st->cli_buf;
	size_t n = d->kept;
	struct pg_pending *pe;

	(void)out;
	if (d->type == 0) {
		/* startup, SSL, GSS or cancel packet: its code is the first 4 bytes */
		uint32_t code = n >= 4 ? be32(b) : 0;
		size_t at = 4;
		const uint8_t *k, *v;
		long kl, vl;
		bool have_db = false;

		if (code == PG_SSL_CODE || code == PG_GSS_CODE) {
			st->srv.phase = PH_SSL_REPLY;
			return; /* the startup packet follows (after 'N') */
		}
		d->phase = PH_TYPED;
		if (code == PG_CANCEL_CODE) {
			/* a connection of its own that only asks to cancel another: no span */
			d->phase = PH_OFF;
			st->srv.phase = PH_OFF;
			return;
		}
		while ((kl = take_cstr(b, n, &at, &k)) > 0 && (vl = take_cstr(b, n, &at, &v)) >= 0) {
			bool is_db = kl == 8 && !memcmp(k, "database", 8);

			if ((is_db || (kl == 4 && !memcmp(k, "user", 4) && !have_db)) && vl > 0) {
				size_t c = (size_t)vl < sizeof(st->namespace_) - 1
						   ? (size_t)vl : sizeof(st->namespace_) - 1;

				memcpy(st->namespace_, v, c);
				st->namespace_[c] = '\0';
				have_db = have_db || is_db;
			}
		}
		return;
	}
	switch (d->type) {
	case 'Q':
		pe = op_queue__push(&st->q);
		if (!pe) {
			st->cli_group++;
			return;
		}
		memset(&pe->op, 0, sizeof(pe->op));
		pe->op.system = DB_POSTGRESQL;
		sql_fill_op(&pe->op, (const char *)b, strnlen((const char *)b, n), st->mode);
		start_op(st, pe, true);
		st->cli_group++; /* a Query is a Sync group of its own */
		break;
	case 'P':
		on_parse(st, b, n);
		st->parses++;
		break;
	case 'B':
		on_bind(st, b, n);
		break;
	case 'E':
		pe = op_queue__push(&st->q);
		if (!pe)
			return;
		if (st->bound_known) {
			pe->op = st->bound;
		} else {
			memset(&pe->op, 0, sizeof(pe->op));
		}
		start_op(st, pe, false);
		break;
	case 'S':
		st->cli_group++;
		st->req_ts = 0;
		break;
	case 'C':
		on_close_stmt(st, b, n);
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* server messages */

/* Rows of a CommandComplete tag for a query that returns rows: SELECT n, FETCH n. */
static int64_t tag_rows(const uint8_t *b, size_t n)
{
	size_t i, w;
	int64_t v = 0;

	if (n >= 7 && !memcmp(b, "SELECT ", 7))
		w = 7;
	else if (n >= 6 && !memcmp(b, "FETCH ", 6))
		w = 6;
	else
		return -1;
	for (i = w; i < n && b[i] >= '0' && b[i] <= '9'; i++)
		if (v < INT64_MAX / 10 - 10)
			v = v * 10 + (b[i] - '0');
	return i > w ? v : -1;
}

/* The SQLSTATE (field 'C') of an ErrorResponse body. */
static void error_code(const uint8_t *b, size_t n, char *code, size_t sz)
{
	size_t at = 0, c;
	const uint8_t *s;
	long l;

	code[0] = '\0';
	while (at < n && b[at]) {
		uint8_t f = b[at++];

		l = take_cstr(b, n, &at, &s);
		if (l < 0)
			return;
		if (f == 'C') {
			c = (size_t)l < sz - 1 ? (size_t)l : sz - 1;
			memcpy(code, s, c);
			code[c] = '\0';
			return;
		}
	}
}

/* An answer to a request that went by uncaptured: the last bound statement, if no Parse
 * went by since. */
static struct pg_pending *blind_request(struct pg_state *st)
{
	struct pg_pending *pe;

	if (st->blind_ops >= st->blind_bytes / 10)
		return NULL;
	pe = op_queue__push(&st->q);
	if (!pe)
		return NULL;
	st->blind_ops++;
	if (st->bound_known && !st->blind_parse)
		pe->op = st->bound;
	else
		memset(&pe->op, 0, sizeof(pe->op));
	pe->simple = false;
	pe->answered = false;
	pe->group = st->srv_group;
	pe->op.system = DB_POSTGRESQL;
	pe->op.head.start_ns = st->blind_ts;
	pe->op.head.actor = st->blind_actor;
	pe->op.head.tid = st->blind_tid;
	pe->op.returned_rows = -1;
	return pe;
}

/* ReadyForQuery: the server's current Sync group is over. */
static void finish_group(struct pg_state *st, uint64_t ts, const struct decoder_sink *out)
{
	struct pg_pending *pe;

	while (op_queue__len(&st->q) && (int32_t)(q_at(st, 0)->group - st->srv_group) <= 0) {
		pe = q_at(st, 0);
		/* an Execute after an error in its group was skipped by the server: no span */
		if (pe->simple || !st->group_error)
			emit(st, pe, ts, out);
		op_queue__pop(&st->q);
	}
	st->group_error = false;
	st->srv_group++;
	if (!op_queue__len(&st->q)) {
		st->srv_group = st->cli_group; /* nothing in flight: both ends agree again */
		if (!st->cli.lost) {
			st->blind = st->blind_parse = false;
			st->blind_bytes = st->blind_ops = 0;
			st->parses = 0;
		}
	}
}

static void on_server_msg(struct pg_state *st, const struct decoder_sink *out)
{
	struct pg_dir *d = &st->srv;
	const uint8_t *b = st->srv_buf;
	size_t n = d->kept;
	struct pg_pending *pe = q_front(st);
	int64_t rows;

	if (d->type == '1') {
		if (st->parses)
			st->parses--;
		else if (st->blind)
			st->blind_parse = true;
	}
	if (!pe && st->blind && (d->type == 'C' || d->type == 'I' || d->type == 's' ||
				 d->type == 'E'))
		pe = blind_request(st);

	switch (d->type) {
	case 'C':
		if (!pe)
			break;
		rows = tag_rows(b, strnlen((const char *)b, n));
		if (rows >= 0)
			pe->op.returned_rows = pe->op.returned_rows > 0 ? pe->op.returned_rows + rows
									: rows;
		if (!pe->simple) {
			emit(st, pe, d->ts, out);
			op_queue__pop(&st->q);
		}
		break;
	case 'I':
	case 's':
		if (pe && !pe->simple) {
			emit(st, pe, d->ts, out);
			op_queue__pop(&st->q);
		}
		break;
	case 'E':
		if (!pe)
			break; /* not an answer to a request (startup, a Parse alone) */
		pe->op.error = true;
		error_code(b, n, pe->op.status_code, sizeof(pe->op.status_code));
		memcpy(pe->op.error_type, pe->op.status_code, sizeof(pe->op.error_type));
		if (!pe->simple) {
			emit(st, pe, d->ts, out);
			op_queue__pop(&st->q);
			st->group_error = true;
		}
		break;
	case 'Z':
		finish_group(st, d->ts, out);
		break;
	default:
		break; /* rows, descriptions, notices, parameters, notifications, COPY data */
	}
}

/* ---------------------------------------------------------------------------------------- */
/* framing */

static bool want_body(bool from_client, uint8_t type)
{
	if (from_client)
		return type == 0 || type == 'Q' || type == 'P' || type == 'B' || type == 'C';
	return type == 'C' || type == 'E';
}

/* The framing of one direction is lost: the core counts each loss once. */
static void lose(struct pg_state *st, bool from_client, const struct decoder_sink *out)
{
	struct pg_dir *d = from_client ? &st->cli : &st->srv;

	if (!d->lost) {
		st->n.lost++;
		if (out && out->lost)
			out->lost(out->ctx, from_client);
	}
	d->lost = true;
	d->in_body = false;
	d->hdr_len = 0;
}

/* A message ended in the I/O at ts: an answer ends when its last byte moved. */
static void message_done(struct pg_state *st, bool from_client, uint64_t ts,
			 const struct decoder_sink *out)
{
	struct pg_dir *d = from_client ? &st->cli : &st->srv;

	d->in_body = false;
	if (!from_client && ts > d->ts)
		d->ts = ts;
	if (d->cut)
		st->n.cut++;
	if (from_client)
		on_client_msg(st, out);
	else
		on_server_msg(st, out);
}

/* A complete header in d->hdr: check it and start the body. */
static bool header_done(struct pg_state *st, bool from_client, const struct decoder_chunk *c)
{
	struct pg_dir *d = from_client ? &st->cli : &st->srv;
	bool untyped = from_client && d->phase == PH_UNTYPED;
	uint32_t len = untyped ? be32(d->hdr) : be32(d->hdr + 1);

	d->type = untyped ? 0 : d->hdr[0];
	if (untyped ? len < 8 || len > PG_MAX_STARTUP
		    : len < 4 || len > PG_MAX_MSG ||
			      !(from_client ? client_type(d->type) : server_type(d->type)))
		return false;
	d->body_len = d->left = len - 4;
	d->kept = 0;
	d->cut = false;
	d->in_body = true;
	d->hdr_len = 0;
	d->ts = c->ts;
	d->actor = c->actor;
	d->tid = c->tid;
	if (from_client && !st->req_ts &&
	    (d->type == 'Q' || d->type == 'P' || d->type == 'B' || d->type == 'D' ||
	     d->type == 'E')) {
		st->req_ts = c->ts; /* the first message of the next request */
		st->req_actor = c->actor;
		st->req_tid = c->tid;
	}
	return true;
}

/* Client bytes that went by without being decoded: what answers may stand for. */
static void blind_add(struct pg_state *st, bool from_client, uint64_t n)
{
	if (from_client && st->cli.lost)
		st->blind_bytes += n;
}

/* The captured bytes of one I/O. */
static void feed_bytes(struct pg_state *st, bool from_client, const struct decoder_chunk *c,
		       const struct decoder_sink *out)
{
	struct pg_dir *d = from_client ? &st->cli : &st->srv;
	const uint8_t *p = c->data;
	size_t n = c->len;
	uint64_t ts = c->ts;
	uint8_t *keep = from_client ? st->cli_buf : st->srv_buf;
	size_t cap = from_client ? sizeof(st->cli_buf) : sizeof(st->srv_buf);
	size_t i = 0, k;

	while (i < n && !d->lost && d->phase != PH_OFF) {
		if (d->phase == PH_SSL_REPLY) {
			/* 'N': no encryption, the startup follows; 'S': TLS, the startup follows
			 * in the plaintext the TLS library's uprobes give (without them the kernel
			 * records nothing more); 'G': GSSAPI-encrypted from here */
			if (p[i] == 'N' || p[i] == 'S') {
				d->phase = PH_TYPED;
			} else {
				d->phase = PH_OFF;
				st->cli.phase = PH_OFF;
			}
			i++;
			continue;
		}
		if (!d->in_body) {
			size_t need = from_client && d->phase == PH_UNTYPED ? 4 : 5;

			k = need - d->hdr_len < n - i ? need - d->hdr_len : n - i;
			memcpy(d->hdr + d->hdr_len, p + i, k);
			d->hdr_len += (uint8_t)k;
			i += k;
			if (d->hdr_len < need)
				break;
			if (!header_done(st, from_client, c)) {
				lose(st, from_client, out);
				break;
			}
		}
		k = d->left < n - i ? d->left : n - i;
		if (want_body(from_client, d->type) && d->kept < cap) {
			size_t m = k < cap - d->kept ? k : cap - d->kept;

			memcpy(keep + d->kept, p + i, m);
			d->kept += (uint32_t)m;
		}
		d->left -= (uint32_t)k;
		i += k;
		if (!d->left)
			message_done(st, from_client, ts, out);
	}
	blind_add(st, from_client, n - i);
}

/* Bytes that went by uncaptured: a body is skipped by its length, a header cannot be. */
static void skip_bytes(struct pg_state *st, bool from_client, uint64_t n, uint64_t ts,
		       const struct decoder_sink *out)
{
	struct pg_dir *d = from_client ? &st->cli : &st->srv;

	while (n && !d->lost && d->phase != PH_OFF) {
		if (!d->in_body) {
			lose(st, from_client, out);
			break;
		}
		if (d->left > n) {
			d->left -= (uint32_t)n;
			d->cut = d->cut || want_body(from_client, d->type);
			return;
		}
		n -= d->left;
		d->left = 0;
		if (want_body(from_client, d->type))
			d->cut = true;
		message_done(st, from_client, ts, out);
	}
	if (d->phase != PH_OFF)
		blind_add(st, from_client, n);
}

/* At a run start with the framing lost: do these bytes start a message? */
static bool resync(struct pg_state *st, bool from_client, const uint8_t *p, size_t n)
{
	struct pg_dir *d = from_client ? &st->cli : &st->srv;
	uint32_t len;

	if (n < 5)
		return false;
	len = be32(p + 1);
	if (from_client) {
		if (!client_type(p[0]) || len < 4 || len > PG_MAX_MSG)
			return false;
		/* text must look like text, so that a stray byte does not make a request */
		if ((p[0] == 'Q' || p[0] == 'P') && !client_request(p, n, true))
			return false;
	} else if (!server_type(p[0]) || len < 4 || len > PG_MAX_MSG) {
		return false;
	}
	d->lost = false;
	d->in_body = false;
	d->hdr_len = 0;
	return true;
}

static void pg_feed(void *p, bool from_client, const struct decoder_chunk *f,
		    const struct decoder_sink *out)
{
	struct pg_state *st = p;
	struct pg_dir *d = from_client ? &st->cli : &st->srv;

	if (d->phase == PH_OFF)
		return;
	if (!st->asked_stream) {
		/* Pipeline mode (libpq 14+, psycopg's pipeline(), pgx batches) sends many
		 * messages at once: every byte of every I/O is needed to count them. */
		st->asked_stream = true;
		if (out->policy)
			out->policy(out->ctx, SONDE_CAPTURE_STREAM);
	}
	if (f->run_start)
		d->run_ts = f->ts;
	if (from_client && d->phase == PH_INIT) {
		/* the first bytes: a startup (or SSL/GSS/cancel) packet, else mid-session */
		if (f->gap || !f->len)
			return;
		d->phase = untyped_packet(f->data, f->len) ? PH_UNTYPED : PH_TYPED;
	}
	if (f->gap)
		skip_bytes(st, from_client, f->gap, f->ts, out);
	if (d->lost && f->run_start && f->len && !f->gap)
		resync(st, from_client, f->data, f->len);
	if (f->len)
		feed_bytes(st, from_client, f, out);
	if (f->tail)
		skip_bytes(st, from_client, f->tail, f->ts, out);
	if (from_client && d->lost) {
		st->blind = true;
		st->blind_ts = f->ts > st->blind_ts ? f->ts : st->blind_ts;
		if (f->actor) {
			st->blind_actor = f->actor;
			st->blind_tid = f->tid;
		}
	}
}

static void pg_run_end(void *p, bool from_client, const struct sonde_run_summary *run,
		       const struct decoder_sink *out)
{
	struct pg_state *st = p;
	uint64_t last_ts = run->last_ts_ns;

	if (from_client || !st->srv.lost)
		return;
	/*
	 * The answer's framing was lost (a result bigger than the capture): the requests sent
	 * before this answer began were answered by it, and it ended now. Whether one failed
	 * cannot be known.
	 */
	while (op_queue__len(&st->q) && q_at(st, 0)->op.head.start_ns <= st->srv.run_ts) {
		if (q_at(st, 0)->simple || !st->group_error)
			emit(st, q_at(st, 0), last_ts, out);
		op_queue__pop(&st->q);
	}
	st->group_error = false;
	st->srv_group = op_queue__len(&st->q) ? q_at(st, 0)->group : st->cli_group;
}

static bool pg_waiting(const void *p)
{
	const struct pg_state *st = p;

	return op_queue__len(&st->q) > 0;
}

static void pg_close(void *p, uint64_t ts, const struct decoder_sink *out)
{
	struct pg_state *st = p;
	struct pg_pending *pe;

	while (op_queue__len(&st->q)) {
		pe = q_at(st, 0);
		if (!(st->group_error && !pe->simple && pe->group == st->srv_group)) {
			if (!pe->op.error)
				pe->op.head.incomplete = true;
			emit(st, pe, ts, out);
		}
		op_queue__pop(&st->q);
	}
	st->group_error = false;
}

void postgres_get_counts(const void *p, struct postgres_counts *c)
{
	const struct pg_state *st = p;

	*c = st->n;
	c->refused = st->q.refused;
	c->pending = op_queue__len(&st->q);
}

const struct decoder postgres_decoder = {
	.name = "postgresql",
	.db = true,
	.link_wait_ns = DB_LINK_WAIT_NS,
	.detect = pg_detect,
	.create = pg_create,
	.destroy = pg_destroy,
	.feed = pg_feed,
	.run_end = pg_run_end,
	.waiting = pg_waiting,
	.close = pg_close,
	.build_span = db_build_span,
};
