// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The MySQL client/server protocol (MySQL and MariaDB), as a decoder (decoder.h, db.h). Both
 * directions are cut into packets (3-byte length, sequence id; a payload of 16 MiB - 1 goes on
 * in the next packet) by a small streaming parser that keeps only the first bytes of each
 * message, so a long query or a large row costs no copy beyond that prefix and packet framing
 * survives bytes the kernel only counted, as long as the uncounted stretch stays inside one
 * payload.
 *
 * The handshake gives the server's flavour (its version string), the capabilities both ends
 * agreed on and the database the client asked for; TLS and compression end the decoding of a
 * connection. Then each command the client sends is queued with the shape of the answer it
 * expects (one packet, a result set, a prepare answer...), and the server's packets walk the
 * front of the queue. The sequence id, which both directions share within one command, checks
 * every packet: a mismatch means the framing is lost, and that direction then waits for its
 * next run. An answer whose end went by uncaptured ends with the server's run.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"
#include "decoders/mysql.h"
#include "decoders/op_queue.h"
#include "decoders/sql.h"

/* Capability flags (the handshake's; both ends' agreed set is what the client answers). */
#define CLIENT_CONNECT_WITH_DB 0x00000008u
#define CLIENT_COMPRESS 0x00000020u
#define CLIENT_PROTOCOL_41 0x00000200u
#define CLIENT_SSL 0x00000800u
#define CLIENT_SECURE_CONNECTION 0x00008000u
#define CLIENT_PLUGIN_AUTH 0x00080000u
#define CLIENT_PLUGIN_AUTH_LENENC 0x00200000u
#define CLIENT_DEPRECATE_EOF 0x01000000u
#define CLIENT_OPTIONAL_METADATA 0x02000000u
#define CLIENT_ZSTD_COMPRESSION 0x04000000u
#define CLIENT_QUERY_ATTRIBUTES 0x08000000u
/* MariaDB's extended capabilities (the last 4 reserved bytes of both handshake packets). */
#define MARIADB_CLIENT_CACHE_METADATA 0x00000010u

/* Server status flags (OK and EOF packets). */
#define SERVER_MORE_RESULTS_EXISTS 0x0008u
#define SERVER_STATUS_CURSOR_EXISTS 0x0040u

enum {
	COM_QUIT = 0x01,
	COM_INIT_DB = 0x02,
	COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04,
	COM_CREATE_DB = 0x05,
	COM_DROP_DB = 0x06,
	COM_REFRESH = 0x07,
	COM_SHUTDOWN = 0x08,
	COM_STATISTICS = 0x09,
	COM_PROCESS_INFO = 0x0a,
	COM_PROCESS_KILL = 0x0c,
	COM_DEBUG = 0x0d,
	COM_PING = 0x0e,
	COM_CHANGE_USER = 0x11,
	COM_BINLOG_DUMP = 0x12,
	COM_REGISTER_SLAVE = 0x15,
	COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a,
	COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c,
	COM_BINLOG_DUMP_GTID = 0x1e,
	COM_RESET_CONNECTION = 0x1f,
	COM_CLONE = 0x20,
	COM_STMT_BULK_EXECUTE = 0xfa, /* MariaDB */
};

#define MY_PACKET_MAX 0xffffffu
#define MY_PENDING 8	      /* commands sent and not yet answered (pipelining is rare) */
#define MY_STMTS 64	      /* prepared statements remembered per connection */
#define MY_STMT_TEXT 32768    /* bytes of statement text remembered per connection */
#define MY_CLIENT_BUF (DB_QUERY_BYTES + 16) /* command byte, attributes, then the text */
#define MY_SERVER_BUF 256     /* a greeting, an OK/ERR/EOF head, a column count */
#define MY_NO_STMT 0xffffffffu

enum my_phase {
	PH_GREETING,	/* waiting for the server's handshake */
	PH_RESPONSE,	/* waiting for the client's handshake response (or SSL request) */
	PH_AUTH,	/* authentication exchange until the server's OK or ERR */
	PH_COMMAND,
	PH_DONE,	/* TLS, compression, replication, a failed login: nothing more to decode */
};

/* The shape of the answer a command expects. */
enum my_answer {
	ANS_SIMPLE,  /* one packet: OK, ERR or EOF */
	ANS_RESULT,  /* OK, ERR, LOCAL INFILE, or result sets, maybe several */
	ANS_PREPARE, /* prepare OK with parameter and column definitions, or ERR */
	ANS_ROWS,    /* rows until the terminator (COM_STMT_FETCH) */
	ANS_FIELDS,  /* column definitions until EOF (COM_FIELD_LIST) */
	ANS_ANY1,    /* one packet of any content (COM_STATISTICS) */
	ANS_AUTH,    /* an authentication exchange (COM_CHANGE_USER) */
	ANS_UNKNOWN, /* a command that went by uncaptured: its answer runs to the run's end */
};

/* Where an answer is. */
enum my_step {
	ST_FIRST,	/* its first packet (or that of the next result set) */
	ST_COLDEFS,	/* column definitions left */
	ST_COLS_EOF,	/* the EOF after them */
	ST_ROWS,
	ST_PARAMS,	/* prepare: parameter definitions left */
	ST_PARAMS_EOF,
	ST_PCOLS,	/* prepare: column definitions left */
	ST_PCOLS_EOF,
	ST_INFILE,	/* the client sends a file, up to an empty packet */
	ST_AUTH_CLIENT, /* change user: the client's turn */
	ST_SKIP,	/* everything to the end of the server's run */
};

struct my_pend {
	uint8_t cmd;
	uint8_t answer; /* enum my_answer */
	uint8_t step;	/* enum my_step */
	uint8_t seq;	/* the sequence id the next packet of this command must carry */
	bool seq_loose; /* after a MariaDB progress report, accept either numbering */
	bool cursor;	/* COM_STMT_EXECUTE that opened a cursor: no rows in the answer */
	bool counted;	/* at least one result set's rows were counted */
	bool has_stmt;	/* stmt_id was read from the command */
	uint32_t stmt_id;
	uint64_t left;	/* definitions still to come */
	uint32_t pcols; /* prepare: the column definitions that follow the parameters */
	int64_t rows;
	struct db_op op; /* last: a new entry clears what comes before it, and of its op what
			  * comes before the query text (of which one byte) */
};

struct my_stmt {
	uint32_t id;
	uint32_t used; /* when last used (a tick of this connection), 0 for a free slot */
	char operation[DB_OP_NAME_BYTES];
	char collection[DB_COLLECTION_BYTES];
	char summary[DB_COLLECTION_BYTES + DB_OP_NAME_BYTES];
	char *query; /* heap, the db.query.text prepared (per the query mode), or NULL */
	size_t query_len;
};

/* The packet parser of one direction. */
struct my_dir {
	uint8_t hdr[4];
	uint8_t hdr_len;
	bool in_payload;
	bool cont;	/* the packet being read continues the previous one's payload */
	bool hole;	/* part of this message went uncaptured: buf holds only a prefix */
	bool lost;	/* framing lost: wait for this direction's next run */
	uint8_t first_seq, last_seq;
	uint32_t left;	/* payload bytes of the current packet still to come */
	uint64_t msg_len; /* payload bytes of the message (all its packets) so far */
	uint64_t hdr_ts, first_ts;
	uint64_t hdr_actor, first_actor;
	uint32_t hdr_tid, first_tid;
	uint32_t buf_len, buf_cap;
	uint8_t *buf;
};

struct my_state {
	enum db_query_mode mode;
	enum db_system system;
	enum my_phase phase;
	bool caps_known;
	bool ssl_requested; /* the client sent an SSL request: the connection went TLS */
	bool cli_resync;   /* the client's next message is the first since its framing came back */
	uint32_t caps;	   /* agreed capabilities (the client's answer) */
	uint32_t srv_caps; /* what the server offered */
	uint32_t ext_caps; /* MariaDB's extended capabilities, agreed */
	struct my_dir cli, srv;
	struct op_queue q;     /* commands waiting for their answers (struct my_pend) */
	struct my_stmt *stmts; /* MY_STMTS slots, allocated at the first prepare */
	size_t stmt_text;      /* bytes of query text the table holds */
	uint32_t tick;
	uint32_t last_stmt;    /* the latest prepared id (MariaDB's "last statement" id) */
	char namespace_[DB_NAMESPACE_BYTES];
	struct mysql_counts n; /* refused: see q.refused */
	const struct decoder_sink *sink; /* where the feed being served reports framing losses */
	uint8_t cli_buf[MY_CLIENT_BUF];
	uint8_t srv_buf[MY_SERVER_BUF];
};

/* Packet-level reading helpers; every read is checked against the length first. */
static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t le32(const uint8_t *p)
{
	return le24(p) | (uint32_t)p[3] << 24;
}

/* A length-encoded integer at p[*off] within n bytes; false when it does not fit or is NULL. */
static bool lenenc(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
	size_t o = *off, w;
	uint64_t x = 0;
	size_t i;

	if (o >= n)
		return false;
	if (p[o] < 0xfb) {
		*v = p[o];
		*off = o + 1;
		return true;
	}
	if (p[o] == 0xfc)
		w = 2;
	else if (p[o] == 0xfd)
		w = 3;
	else if (p[o] == 0xfe)
		w = 8;
	else
		return false; /* 0xfb is NULL, 0xff is not an integer */
	if (n - o - 1 < w)
		return false;
	for (i = 0; i < w; i++)
		x |= (uint64_t)p[o + 1 + i] << (8 * i);
	*v = x;
	*off = o + 1 + w;
	return true;
}

/* Copy a name from the wire into a NUL-terminated attribute, control bytes made visible. */
static void copy_name(char *dst, size_t dstsz, const uint8_t *s, size_t n)
{
	size_t i;

	if (n > dstsz - 1)
		n = dstsz - 1;
	for (i = 0; i < n; i++)
		dst[i] = s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i];
	dst[n] = '\0';
}

static size_t nul_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);

	return z ? (size_t)(z - p) : n;
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n > dstsz - 1)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * Detection.
 */

/* A server handshake v10: protocol 10, a printable version starting with a digit, its NUL,
 * then the connection id, 8 bytes of scramble, a zero filler and capabilities that speak the
 * 4.1 protocol. Everything checked must lie in the captured bytes. */
static bool is_greeting(const uint8_t *p, size_t n)
{
	uint32_t len = le24(p);
	size_t v, end;

	if (p[3] != 0 || len < 20 || len > 1024 || n < 5 || p[4] != 0x0a)
		return false;
	end = n < 4 + (size_t)len ? n : 4 + (size_t)len;
	if (end < 6 || p[5] < '0' || p[5] > '9')
		return false;
	for (v = 5; v < end && p[v]; v++)
		if (p[v] < 0x21 || p[v] > 0x7e || v - 5 >= 96)
			return false;
	/* NUL, connection id, scramble, filler, capabilities (low half) */
	if (v + 1 + 4 + 8 + 1 + 2 > end)
		return false;
	if (p[v + 13] != 0)
		return false;
	return le16(p + v + 14) & CLIENT_PROTOCOL_41;
}

static bool ieq_word(const uint8_t *p, size_t n, const char *w)
{
	size_t i, k = strlen(w);

	if (n < k)
		return false;
	for (i = 0; i < k; i++) {
		uint8_t c = p[i];

		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		if (c != (uint8_t)w[i])
			return false;
	}
	/* the keyword must end there: a separator, or the end of what was captured */
	if (n == k)
		return true;
	return !((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= 'a' && p[k] <= 'z') ||
		 (p[k] >= '0' && p[k] <= '9') || p[k] == '_');
}

/* No control bytes but white space. */
static bool looks_like_text(const uint8_t *t, size_t n)
{
	size_t j;

	for (j = 0; j < n; j++)
		if ((t[j] < 0x20 && t[j] != '\t' && t[j] != '\n' && t[j] != '\r') || t[j] == 0x7f)
			return false;
	return true;
}

/* Statement text that a client would send: a known leading keyword, no control bytes. */
static bool looks_like_sql(const uint8_t *t, size_t n)
{
	static const char *const kw[] = {
		"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "SET", "SHOW",
		"BEGIN", "COMMIT", "ROLLBACK", "START", "CREATE", "DROP", "ALTER", "TRUNCATE",
		"RENAME", "USE", "CALL", "EXPLAIN", "DESCRIBE", "DESC", "ANALYZE", "OPTIMIZE",
		"CHECK", "REPAIR", "GRANT", "REVOKE", "LOCK", "UNLOCK", "PREPARE", "EXECUTE",
		"DEALLOCATE", "DO", "HANDLER", "LOAD", "FLUSH", "KILL", "SAVEPOINT", "RELEASE",
		"XA", "VALUES", "TABLE", NULL,
	};
	size_t i = 0, j;

	if (!looks_like_text(t, n))
		return false;
	while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r' ||
			 t[i] == '('))
		i++;
	for (j = 0; kw[j]; j++)
		if (ieq_word(t + i, n - i, kw[j]))
			return true;
	return false;
}

/*
 * A COM_QUERY in the middle of a session (sonde started after the connection opened): sequence
 * id 0, a length that matches what was captured (or runs past a capture of at least 64 bytes),
 * and text that reads as SQL.
 */
static bool is_mid_query(const uint8_t *p, size_t n)
{
	uint32_t len = le24(p);

	if (p[3] != 0 || p[4] != COM_QUERY || len < 3 || len == MY_PACKET_MAX)
		return false;
	if (n != 4 + (size_t)len && !(n < 4 + (size_t)len && n >= 64))
		return false;
	return looks_like_sql(p + 5, n - 5);
}

static enum detect_result mysql_detect(const uint8_t *p, size_t n, const struct conn_info *info)
{
	(void)info;
	if (n < 5)
		return DETECT_NO;
	if (is_greeting(p, n))
		return DETECT_SERVER;
	if (is_mid_query(p, n))
		return DETECT_CLIENT;
	return DETECT_NO;
}

/*
 * State.
 */

static void *mysql_create(const struct decoder_env *env)
{
	struct my_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->mode = env && env->cfg ? env->cfg->db.query_mode : DB_QUERY_SANITIZED;
	op_queue__init(&st->q, sizeof(struct my_pend), MY_PENDING);
	st->system = DB_MYSQL;
	st->phase = PH_GREETING;
	st->cli.buf = st->cli_buf;
	st->cli.buf_cap = sizeof(st->cli_buf);
	st->srv.buf = st->srv_buf;
	st->srv.buf_cap = sizeof(st->srv_buf);
	return st;
}

static void stmt_free(struct my_state *st, struct my_stmt *s)
{
	st->stmt_text -= s->query_len;
	free(s->query);
	memset(s, 0, sizeof(*s));
}

static void stmts_clear(struct my_state *st)
{
	int i;

	if (!st->stmts)
		return;
	for (i = 0; i < MY_STMTS; i++)
		if (st->stmts[i].used)
			stmt_free(st, &st->stmts[i]);
}

static void mysql_destroy(void *p)
{
	struct my_state *st = p;

	if (!st)
		return;
	stmts_clear(st);
	free(st->stmts);
	op_queue__free(&st->q);
	free(st);
}

static struct my_stmt *stmt_find(struct my_state *st, uint32_t id)
{
	int i;

	if (!st->stmts)
		return NULL;
	for (i = 0; i < MY_STMTS; i++)
		if (st->stmts[i].used && st->stmts[i].id == id)
			return &st->stmts[i];
	return NULL;
}

/* The least recently used slot, freed; counts the statement it forgets. */
static struct my_stmt *stmt_evict(struct my_state *st)
{
	struct my_stmt *v = NULL;
	int i;

	for (i = 0; i < MY_STMTS; i++) {
		if (!st->stmts[i].used)
			return &st->stmts[i];
		if (!v || st->stmts[i].used < v->used)
			v = &st->stmts[i];
	}
	stmt_free(st, v);
	st->n.evictions++;
	return v;
}

static uint32_t next_tick(struct my_state *st)
{
	if (++st->tick == 0) {
		/* wrapped after 4 billion uses: start the ages again, keep the statements */
		int i;

		for (i = 0; st->stmts && i < MY_STMTS; i++)
			if (st->stmts[i].used)
				st->stmts[i].used = 1;
		st->tick = 2;
	}
	return st->tick;
}

/* Remember what a prepared statement runs, from the prepare's own op. */
static void stmt_add(struct my_state *st, uint32_t id, const struct db_op *op)
{
	struct my_stmt *s;
	size_t qlen = strlen(op->query);

	if (!st->stmts) {
		st->stmts = calloc(MY_STMTS, sizeof(*st->stmts));
		if (!st->stmts) {
			st->n.nomem++;
			return;
		}
	}
	s = stmt_find(st, id);
	if (s)
		stmt_free(st, s); /* the server reused an id that was closed unseen */
	s = stmt_evict(st);
	while (st->stmt_text + qlen > MY_STMT_TEXT) {
		struct my_stmt *v = stmt_evict(st);

		if (v == s) /* nothing else left to give back */
			break;
	}
	if (qlen && st->stmt_text + qlen <= MY_STMT_TEXT) {
		s->query = malloc(qlen + 1);
		if (s->query) {
			memcpy(s->query, op->query, qlen + 1);
			s->query_len = qlen;
			st->stmt_text += qlen;
		}
	}
	s->id = id;
	s->used = next_tick(st);
	memcpy(s->operation, op->operation, sizeof(s->operation));
	memcpy(s->collection, op->collection, sizeof(s->collection));
	memcpy(s->summary, op->summary, sizeof(s->summary));
	st->last_stmt = id;
}

static void stmt_close(struct my_state *st, uint32_t id)
{
	struct my_stmt *s = stmt_find(st, id);

	if (s)
		stmt_free(st, s);
}

/*
 * The queue of commands waiting for their answers.
 */

static struct my_pend *front(struct my_state *st)
{
	return op_queue__front(&st->q);
}

static struct my_pend *last_pend(struct my_state *st)
{
	return op_queue__back(&st->q);
}

/*
 * A new entry with its op cleared, or NULL (queue full or no memory: counted). The pointers
 * to entries taken before it may have moved.
 */
static struct my_pend *push(struct my_state *st, uint8_t cmd, enum my_answer answer)
{
	struct my_pend *p = op_queue__push(&st->q);
	struct db_op *op;

	if (!p)
		return NULL;
	memset(p, 0, offsetof(struct my_pend, op));
	op = &p->op;
	memset(op, 0, offsetof(struct db_op, query));
	op->query[0] = '\0';
	memset(op->summary, 0, sizeof(op->summary));
	op->returned_rows = -1;
	p->cmd = cmd;
	p->answer = answer;
	p->step = answer == ANS_UNKNOWN ? ST_SKIP : answer == ANS_ROWS ? ST_ROWS : ST_FIRST;
	return p;
}

/* The op of an answered (or abandoned) command goes out, then leaves the queue. */
static void finish(struct my_state *st, uint64_t end_ns, bool incomplete,
		   const struct decoder_sink *out)
{
	struct my_pend *p = front(st);
	struct db_op *op = &p->op;

	if (p->answer != ANS_UNKNOWN) {
		op->system = st->system;
		op->head.end_ns = end_ns > op->head.start_ns ? end_ns : op->head.start_ns;
		op->head.incomplete = incomplete && !op->error;
		op->returned_rows = p->counted && !op->error && !incomplete ? p->rows : -1;
		if (!op->namespace_[0])
			copy_str(op->namespace_, sizeof(op->namespace_), st->namespace_);
		db_op__report(out, op);
	}
	op_queue__pop(&st->q);
}

/* Every command still queued is over at ts: answered unseen (lost framing) or abandoned. */
static void finish_all(struct my_state *st, uint64_t ts, bool incomplete,
		       const struct decoder_sink *out)
{
	while (op_queue__len(&st->q))
		finish(st, ts, incomplete, out);
}

/* The framing of one direction is lost until its next run; the core counts each loss once. */
static void lose(struct my_state *st, bool from_client)
{
	struct my_dir *d = from_client ? &st->cli : &st->srv;
	struct my_pend *l;

	if (d->lost)
		return;
	d->lost = true;
	st->n.lost++;
	if (st->sink && st->sink->lost)
		st->sink->lost(st->sink->ctx, from_client);
	if (st->phase != PH_COMMAND) {
		/* The handshake cannot be followed any further, so neither can the rest. */
		st->phase = PH_DONE;
		return;
	}
	if (from_client) {
		/* Commands went by unseen: their answers must not be taken for later ones'. */
		l = last_pend(st);
		if (!l || l->answer != ANS_UNKNOWN)
			push(st, 0, ANS_UNKNOWN);
	}
}

/*
 * Messages of the handshake.
 */

struct my_msg {
	const uint8_t *b;  /* the captured prefix of the payload */
	size_t n;	   /* its length */
	uint64_t len;	   /* the payload's real length (all packets) */
	uint8_t seq;	   /* sequence id of its first packet */
	uint8_t last_seq;  /* and of its last */
	uint64_t start_ns; /* its first byte */
	uint64_t end_ns;   /* its last byte */
	uint64_t actor;	   /* who moved its first byte (decoder_chunk.actor) */
	uint32_t tid;	   /* and on which OS thread */
};

static bool ci_contains(const uint8_t *s, size_t n, const char *w)
{
	size_t k = strlen(w), i, j;

	for (i = 0; i + k <= n; i++) {
		for (j = 0; j < k; j++) {
			uint8_t c = s[i + j];

			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';
			if (c != (uint8_t)w[j])
				break;
		}
		if (j == k)
			return true;
	}
	return false;
}

static void on_greeting(struct my_state *st, const struct my_msg *m)
{
	size_t v, o;

	if (m->seq != 0 || m->n < 1 || m->b[0] != 0x0a) {
		/* an ERR instead of a greeting (too many connections, host blocked) */
		st->phase = PH_DONE;
		return;
	}
	v = 1 + nul_len(m->b + 1, m->n - 1);
	if (ci_contains(m->b + 1, v - 1, "mariadb"))
		st->system = DB_MARIADB;
	o = v + 1 + 4 + 8 + 1; /* NUL, connection id, scramble, filler */
	if (o + 2 <= m->n)
		st->srv_caps = le16(m->b + o);
	if (o + 2 + 1 + 2 + 2 <= m->n) /* charset, status, capabilities (high half) */
		st->srv_caps |= le16(m->b + o + 5) << 16;
	st->phase = PH_RESPONSE;
}

static void on_response(struct my_state *st, const struct my_msg *m)
{
	const uint8_t *b = m->b;
	size_t n = m->n, o;
	uint32_t caps;
	uint64_t alen;

	if (n < 4) {
		st->phase = PH_DONE;
		return;
	}
	caps = le32(b);
	if (caps & CLIENT_SSL && m->len == 32 && !st->ssl_requested) {
		/* An SSL request: the rest of the connection is TLS, and the full response comes
		 * next in the plaintext the TLS library's uprobes give (without them the kernel
		 * records nothing more). */
		st->ssl_requested = true;
		return;
	}
	st->caps = st->srv_caps ? caps & st->srv_caps : caps;
	st->caps_known = true;
	st->phase = PH_AUTH;
	if (!(caps & CLIENT_PROTOCOL_41) || n < 32)
		return; /* the pre-4.1 response: no database to read */
	if (!(st->srv_caps & 1))
		st->ext_caps = le32(b + 28);
	/* user, then the auth response, then the database */
	o = 32 + nul_len(b + 32, n - 32) + 1;
	if (o > n)
		return;
	if (caps & CLIENT_PLUGIN_AUTH_LENENC) {
		if (!lenenc(b, n, &o, &alen) || alen > n - o)
			return;
		o += alen;
	} else if (caps & CLIENT_SECURE_CONNECTION) {
		if (o >= n || b[o] > n - o - 1)
			return;
		o += 1 + b[o];
	} else {
		o += nul_len(b + o, n - o) + 1;
	}
	if (caps & CLIENT_CONNECT_WITH_DB && o < n) {
		size_t k = nul_len(b + o, n - o);

		if (o + k < n) /* the whole name was captured */
			copy_name(st->namespace_, sizeof(st->namespace_), b + o, k);
	}
}

static void on_auth_server(struct my_state *st, const struct my_msg *m)
{
	if (!m->n)
		return;
	if (m->b[0] == 0x00) {
		/* Logged in. A compressed protocol is beyond this decoder. */
		st->phase = st->caps & (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION) ? PH_DONE
										: PH_COMMAND;
		if (st->phase == PH_COMMAND) {
			st->cli.lost = false;
			st->srv.lost = false;
		}
	} else if (m->b[0] == 0xff) {
		st->phase = PH_DONE; /* refused: the server closes the connection */
	}
	/* 0xfe (switch to another method) and 0x01 (more data) go on with the exchange */
}

/*
 * Commands.
 */

static const char *command_name(uint8_t cmd)
{
	switch (cmd) {
	case COM_INIT_DB:
		return "USE";
	case COM_FIELD_LIST:
		return "FIELD_LIST";
	case COM_CREATE_DB:
		return "CREATE_DB";
	case COM_DROP_DB:
		return "DROP_DB";
	case COM_REFRESH:
		return "REFRESH";
	case COM_SHUTDOWN:
		return "SHUTDOWN";
	case COM_STATISTICS:
		return "STATISTICS";
	case COM_PROCESS_INFO:
		return "PROCESS_INFO";
	case COM_PROCESS_KILL:
		return "PROCESS_KILL";
	case COM_DEBUG:
		return "DEBUG";
	case COM_PING:
		return "PING";
	case COM_CHANGE_USER:
		return "CHANGE_USER";
	case COM_STMT_EXECUTE:
	case COM_STMT_BULK_EXECUTE:
		return "EXECUTE";
	case COM_STMT_RESET:
		return "STMT_RESET";
	case COM_SET_OPTION:
		return "SET_OPTION";
	case COM_STMT_FETCH:
		return "FETCH";
	case COM_RESET_CONNECTION:
		return "RESET_CONNECTION";
	default:
		return "";
	}
}

/* The statement text of a COM_QUERY (past the query attributes, when there are none). */
static bool query_text(const struct my_state *st, const struct my_msg *m, size_t *off)
{
	size_t o = 1;
	uint64_t nparams, nsets;

	if (st->caps_known && st->caps & CLIENT_QUERY_ATTRIBUTES) {
		if (!lenenc(m->b, m->n, &o, &nparams) || !lenenc(m->b, m->n, &o, &nsets))
			return false;
		if (nparams)
			return false; /* the text lies past typed values: not worth decoding */
	}
	*off = o;
	return true;
}

/* `USE name` as text: the database the session moves to once the server says OK. */
static void use_target(const char *q, size_t n, char *out, size_t outsz)
{
	size_t i = 0, s;

	out[0] = '\0';
	while (i < n && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r'))
		i++;
	if (!ieq_word((const uint8_t *)q + i, n - i, "USE") || n - i == 3)
		return;
	i += 3;
	while (i < n && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r'))
		i++;
	if (i < n && q[i] == '`') {
		s = ++i;
		while (i < n && q[i] != '`')
			i++;
		if (i == n)
			return; /* cut: the name is not all there */
	} else {
		s = i;
		while (i < n && q[i] != ' ' && q[i] != ';' && q[i] != '\t' && q[i] != '\n' &&
		       q[i] != '\r')
			i++;
	}
	if (i > s)
		copy_name(out, outsz, (const uint8_t *)q + s, i - s);
}

static void fill_from_stmt(struct my_state *st, struct my_pend *p)
{
	struct db_op *op = &p->op;
	struct my_stmt *s;
	uint32_t id = p->stmt_id;

	if (!p->has_stmt)
		return;
	/* MariaDB's "the statement just prepared", sent right behind the prepare */
	if (id == MY_NO_STMT && p->cmd != COM_STMT_FETCH)
		id = st->last_stmt;
	s = stmt_find(st, id);
	if (!s)
		return; /* prepared before sonde saw it, or forgotten: the command name stays */
	s->used = next_tick(st);
	if (p->cmd == COM_STMT_FETCH) {
		copy_str(op->collection, sizeof(op->collection), s->collection);
		return;
	}
	memcpy(op->operation, s->operation, sizeof(op->operation));
	memcpy(op->collection, s->collection, sizeof(op->collection));
	memcpy(op->summary, s->summary, sizeof(op->summary));
	if (s->query)
		memcpy(op->query, s->query, s->query_len + 1);
}

/* What a queued command's op says of the command itself. */
static void fill_command(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	uint8_t cmd = m->b[0];
	size_t o = 1; /* where the text starts: past the command byte (and a query's attributes) */

	switch (cmd) {
	case COM_QUERY:
	case COM_STMT_PREPARE:
		if (cmd == COM_QUERY && !query_text(st, m, &o))
			break;
		sql_fill_op(&p->op, (const char *)m->b + o, m->n - o, st->mode);
		if (cmd == COM_QUERY && !strcmp(p->op.operation, "USE"))
			use_target((const char *)m->b + o, m->n - o, p->op.namespace_,
				   sizeof(p->op.namespace_));
		break;
	case COM_INIT_DB:
		copy_str(p->op.operation, sizeof(p->op.operation), "USE");
		copy_name(p->op.namespace_, sizeof(p->op.namespace_), m->b + 1, m->n - 1);
		if (m->len != m->n)
			p->op.namespace_[0] = '\0'; /* cut: not the name */
		break;
	case COM_FIELD_LIST:
		copy_str(p->op.operation, sizeof(p->op.operation), "FIELD_LIST");
		copy_name(p->op.collection, sizeof(p->op.collection), m->b + 1,
			  nul_len(m->b + 1, m->n - 1));
		break;
	case COM_STMT_EXECUTE:
	case COM_STMT_BULK_EXECUTE:
	case COM_STMT_FETCH:
		copy_str(p->op.operation, sizeof(p->op.operation), command_name(cmd));
		if (m->n >= 5) {
			p->stmt_id = le32(m->b + 1);
			p->has_stmt = true;
		}
		/* a cursor answers with the columns only; COM_STMT_FETCH gets the rows */
		if (cmd == COM_STMT_EXECUTE && m->n >= 6 && m->b[5] & 0x07)
			p->cursor = true;
		break;
	default:
		copy_str(p->op.operation, sizeof(p->op.operation), command_name(cmd));
		break;
	}
}

static void on_command(struct my_state *st, const struct my_msg *m)
{
	uint8_t cmd = m->b[0];
	enum my_answer answer;
	struct my_pend *p;

	switch (cmd) {
	case COM_QUIT:
	case COM_STMT_SEND_LONG_DATA:
		return; /* no answer */
	case COM_STMT_CLOSE:
		if (m->n >= 5)
			stmt_close(st, le32(m->b + 1));
		return; /* no answer either */
	case COM_QUERY:
	case COM_PROCESS_INFO:
	case COM_STMT_EXECUTE:
	case COM_STMT_BULK_EXECUTE:
		answer = ANS_RESULT;
		break;
	case COM_STMT_PREPARE:
		answer = ANS_PREPARE;
		break;
	case COM_STMT_FETCH:
		answer = ANS_ROWS;
		break;
	case COM_FIELD_LIST:
		answer = ANS_FIELDS;
		break;
	case COM_STATISTICS:
		answer = ANS_ANY1;
		break;
	case COM_CHANGE_USER:
		answer = ANS_AUTH;
		break;
	case COM_INIT_DB:
	case COM_CREATE_DB:
	case COM_DROP_DB:
	case COM_REFRESH:
	case COM_SHUTDOWN:
	case COM_PROCESS_KILL:
	case COM_DEBUG:
	case COM_PING:
	case COM_STMT_RESET:
	case COM_SET_OPTION:
	case COM_RESET_CONNECTION:
		answer = ANS_SIMPLE;
		break;
	case COM_BINLOG_DUMP:
	case COM_BINLOG_DUMP_GTID:
	case COM_REGISTER_SLAVE:
	case COM_CLONE:
		/* a replica or a clone: a stream of events, not queries */
		st->phase = PH_DONE;
		return;
	default:
		/* not a command a client sends: these bytes are not where they seemed */
		lose(st, true);
		return;
	}
	p = push(st, cmd, answer);
	if (!p)
		return;
	p->seq = (uint8_t)(m->last_seq + 1);
	p->op.system = st->system; /* the SQL dialect for sql_fill_op */
	p->op.head.start_ns = m->start_ns;
	p->op.head.actor = m->actor;
	p->op.head.tid = m->tid;
	fill_command(st, p, m);
}


/* The database a COM_CHANGE_USER moves to: user, auth response, then the name. */
static void change_user_db(const struct my_state *st, const struct my_msg *m, char *out,
			   size_t outsz)
{
	size_t o = 1 + nul_len(m->b + 1, m->n - 1) + 1, k;

	out[0] = '\0';
	if (o >= m->n)
		return;
	if (!st->caps_known || st->caps & CLIENT_SECURE_CONNECTION)
		o += 1 + (size_t)m->b[o];
	else
		o += nul_len(m->b + o, m->n - o) + 1;
	if (o >= m->n)
		return;
	k = nul_len(m->b + o, m->n - o);
	if (o + k < m->n)
		copy_name(out, outsz, m->b + o, k);
}

/*
 * After sonde lost the client's framing, the first packet of a run is taken as a command only
 * if it really looks like one.
 */
static bool plausible_command(const struct my_msg *m)
{
	switch (m->b[0]) {
	case COM_QUERY:
	case COM_STMT_PREPARE:
		return m->len > 1 && looks_like_sql(m->b + 1, m->n - 1);
	case COM_PING:
	case COM_QUIT:
	case COM_STATISTICS:
	case COM_RESET_CONNECTION:
		return m->len == 1;
	case COM_INIT_DB:
		return m->len > 1 && m->len <= 256 && m->n == m->len &&
		       looks_like_text(m->b + 1, m->n - 1);
	case COM_STMT_CLOSE:
	case COM_STMT_RESET:
		return m->len == 5;
	case COM_STMT_EXECUTE:
		return m->len >= 10;
	default:
		return false;
	}
}

static void on_client_command_phase(struct my_state *st, const struct my_msg *m, bool resync)
{
	struct my_pend *f = front(st);

	if (f && (f->step == ST_INFILE || f->step == ST_AUTH_CLIENT)) {
		/* The front command's own exchange: a file, or authentication data. */
		if (m->seq != f->seq) {
			lose(st, true);
			return;
		}
		f->seq = (uint8_t)(m->last_seq + 1);
		if (f->step == ST_AUTH_CLIENT || m->len == 0)
			f->step = ST_FIRST; /* now the server answers */
		return;
	}
	if (m->seq != 0 || m->n == 0 || (resync && !plausible_command(m))) {
		lose(st, true);
		return;
	}
	on_command(st, m);
	if (m->b[0] == COM_CHANGE_USER && (f = last_pend(st)) && f->cmd == COM_CHANGE_USER)
		change_user_db(st, m, f->op.namespace_, sizeof(f->op.namespace_));
}

/*
 * Answers.
 */

static bool is_progress(const struct my_msg *m)
{
	return m->n >= 3 && m->b[0] == 0xff && m->b[1] == 0xff && m->b[2] == 0xff;
}

static void on_error(struct my_pend *p, const struct my_msg *m)
{
	struct db_op *op = &p->op;
	uint32_t code, k = 0;
	char digits[8];

	op->error = true;
	if (m->n < 3)
		return; /* the code was not captured */
	code = le16(m->b + 1);
	do {
		digits[k++] = (char)('0' + code % 10);
		code /= 10;
	} while (code);
	for (code = 0; code < k; code++)
		op->status_code[code] = digits[k - 1 - code];
	op->status_code[k] = '\0';
	memcpy(op->error_type, op->status_code, k + 1);
}

/* Status flags of an OK packet (0x00 or 0xfe header) or, at exactly 5 bytes, an EOF packet. */
static bool end_status(const struct my_msg *m, uint32_t *status)
{
	size_t o = 1;
	uint64_t v;

	if (m->len == 5 && m->b[0] == 0xfe) {
		if (m->n < 5)
			return false;
		*status = le16(m->b + 3);
		return true;
	}
	if (!lenenc(m->b, m->n, &o, &v) || !lenenc(m->b, m->n, &o, &v) || o + 2 > m->n)
		return false;
	*status = le16(m->b + o);
	return true;
}

/* Is this packet the end of a run of rows (or of definitions)? */
static bool is_terminator(const struct my_msg *m)
{
	return m->n >= 1 && m->b[0] == 0xfe && m->len < MY_PACKET_MAX;
}

/* Whether an EOF follows the definitions: known from the handshake, else from what comes. */
static int eof_follows(const struct my_state *st)
{
	if (st->caps_known)
		return st->caps & CLIENT_DEPRECATE_EOF ? 0 : 1;
	return -1;
}

/* A successful answer's effect on the session. */
static void on_success(struct my_state *st, struct my_pend *p)
{
	if (p->cmd == COM_INIT_DB || p->cmd == COM_CHANGE_USER ||
	    (p->cmd == COM_QUERY && !strcmp(p->op.operation, "USE")))
		if (p->op.namespace_[0])
			copy_str(st->namespace_, sizeof(st->namespace_), p->op.namespace_);
	if (p->cmd == COM_CHANGE_USER || p->cmd == COM_RESET_CONNECTION)
		stmts_clear(st); /* the server forgets the session's statements */
}

/* The prepare answer: remember the statement, then name the prepare's own span. */
static void on_prepared(struct my_state *st, struct my_pend *p, uint32_t id)
{
	struct db_op *op = &p->op;
	char summary[sizeof(op->summary)];
	size_t n;

	stmt_add(st, id, op);
	memcpy(summary, op->summary[0] ? op->summary : op->operation, sizeof(summary));
	summary[sizeof(summary) - 1] = '\0';
	copy_str(op->operation, sizeof(op->operation), "PREPARE");
	n = strlen(summary);
	if (n) {
		copy_str(op->summary, sizeof(op->summary), "PREPARE ");
		n = n < sizeof(op->summary) - 9 ? n : sizeof(op->summary) - 9;
		memcpy(op->summary + 8, summary, n);
		op->summary[8 + n] = '\0';
	}
}

enum my_took {
	TOOK,	  /* the packet belonged to the front command's answer */
	NOT_MINE, /* the front's answer had ended before it: it belongs to the next command */
	DONE,	  /* the front's answer ended with it */
	UNEXPECTED, /* not what the answer's step allows: its framing is lost (on_answer only) */
};

/* The end of one result set: another follows, or the answer is over. */
static enum my_took result_end(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	uint32_t status;

	if (!end_status(m, &status)) {
		lose(st, false);
		return TOOK;
	}
	if (status & SERVER_MORE_RESULTS_EXISTS) {
		p->step = ST_FIRST;
		return TOOK;
	}
	return DONE;
}

static enum my_took on_result_first(struct my_state *st, struct my_pend *p,
				    const struct my_msg *m)
{
	uint64_t cols;
	size_t o = 0;

	switch (m->b[0]) {
	case 0x00:
		return result_end(st, p, m);
	case 0xff:
		on_error(p, m);
		return DONE;
	case 0xfb:
		if (p->cmd != COM_QUERY)
			break;
		p->step = ST_INFILE; /* LOCAL INFILE: the client sends the file */
		return TOOK;
	case 0xfe:
		break;
	default:
		if (!lenenc(m->b, m->n, &o, &cols) || cols == 0 || cols > 65535)
			break;
		p->left = cols;
		p->step = ST_COLDEFS;
		/* a metadata-follows byte: 0 means the client has the definitions cached */
		if (st->caps_known && (st->caps & CLIENT_OPTIONAL_METADATA ||
				       st->ext_caps & MARIADB_CLIENT_CACHE_METADATA)) {
			if (o >= m->n)
				break;
			if (!m->b[o])
				p->step = eof_follows(st) == 1 ? ST_COLS_EOF : ST_ROWS;
		}
		if (!p->counted) {
			p->rows = 0;
			p->counted = true;
		}
		return TOOK;
	}
	lose(st, false);
	return TOOK;
}

/* The first packet of an answer that is not a result set's (those: on_result_first). */
static enum my_took on_first(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	switch (p->answer) {
	case ANS_RESULT:
		return on_result_first(st, p, m);
	case ANS_PREPARE:
		if (m->b[0] == 0xff) {
			on_error(p, m);
			return DONE;
		}
		if (m->b[0] != 0x00 || m->n < 9)
			return UNEXPECTED;
		on_prepared(st, p, le32(m->b + 1));
		p->pcols = le16(m->b + 5);
		p->left = le16(m->b + 7);
		if (p->left) {
			p->step = ST_PARAMS;
			return TOOK;
		}
		if (p->pcols) {
			p->left = p->pcols;
			p->step = ST_PCOLS;
			return TOOK;
		}
		return DONE;
	case ANS_SIMPLE:
		if (m->b[0] == 0xff)
			on_error(p, m);
		else if (m->b[0] != 0x00 && m->b[0] != 0xfe)
			return UNEXPECTED;
		return DONE;
	case ANS_ANY1:
		return DONE;
	case ANS_FIELDS:
		if (m->b[0] == 0xff) {
			on_error(p, m);
			return DONE;
		}
		return is_terminator(m) ? DONE : TOOK;
	case ANS_AUTH:
		if (m->b[0] == 0xff) {
			on_error(p, m);
			return DONE;
		}
		if (m->b[0] == 0x00)
			return DONE;
		if (m->b[0] != 0xfe && m->b[0] != 0x01)
			return UNEXPECTED;
		p->step = ST_AUTH_CLIENT;
		return TOOK;
	default:
		return UNEXPECTED;
	}
}

/* A column or parameter definition: the last one says what comes next. */
static enum my_took on_definition(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	int eof;

	if (m->b[0] == 0xff) {
		on_error(p, m);
		return DONE;
	}
	if (--p->left)
		return TOOK;
	eof = eof_follows(st); /* -1, not known: ask for one and see what comes */
	if (p->step == ST_COLDEFS) {
		p->step = eof ? ST_COLS_EOF : ST_ROWS;
		return TOOK;
	}
	if (eof) {
		p->step = p->step == ST_PARAMS ? ST_PARAMS_EOF : ST_PCOLS_EOF;
		return TOOK;
	}
	if (p->step == ST_PARAMS && p->pcols) {
		p->left = p->pcols;
		p->step = ST_PCOLS;
		return TOOK;
	}
	return DONE;
}

static enum my_took on_answer(struct my_state *st, struct my_pend *p, const struct my_msg *m);

/* Where an EOF packet may end the definitions: it came (EOF packets are in use), or what came
 * is already the next thing (the client asked for none). */
static enum my_took on_eof_step(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	uint32_t status;

	if (m->b[0] == 0xfe && m->len == 5) {
		if (!st->caps_known) {
			st->caps_known = true; /* learnt: EOF packets are in use */
			st->caps = CLIENT_PROTOCOL_41;
		}
		if (p->step == ST_PCOLS_EOF)
			return DONE;
		if (p->step == ST_PARAMS_EOF) {
			if (!p->pcols)
				return DONE;
			p->left = p->pcols;
			p->step = ST_PCOLS;
			return TOOK;
		}
		if (p->cursor && end_status(m, &status) && status & SERVER_STATUS_CURSOR_EXISTS)
			return DONE;
		p->step = ST_ROWS;
		return TOOK;
	}
	if (m->b[0] == 0xff) {
		on_error(p, m);
		return DONE;
	}
	if (st->caps_known)
		return UNEXPECTED;
	/* No EOF: the client asked for none (learnt). What came is the next thing. */
	st->caps_known = true;
	st->caps = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF;
	if (p->step == ST_COLS_EOF) {
		p->step = ST_ROWS;
		return on_answer(st, p, m);
	}
	if (p->step == ST_PARAMS_EOF && p->pcols) {
		p->left = p->pcols;
		p->step = ST_PCOLS;
		return on_answer(st, p, m);
	}
	return NOT_MINE;
}

static enum my_took on_row(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	if (m->b[0] == 0xff) {
		on_error(p, m);
		return DONE;
	}
	if (!is_terminator(m)) {
		p->rows++;
		return TOOK;
	}
	if (p->cmd == COM_STMT_FETCH)
		return DONE; /* the rest stays behind the cursor or the last row went */
	return result_end(st, p, m);
}

static enum my_took on_answer(struct my_state *st, struct my_pend *p, const struct my_msg *m)
{
	enum my_took took = UNEXPECTED;

	if (p->step == ST_SKIP)
		return TOOK;
	if (!m->n && m->len) {
		lose(st, false); /* its first byte, which says what it is, went uncaptured */
		return TOOK;
	}
	switch (p->step) {
	case ST_FIRST:
		if (m->len)
			took = on_first(st, p, m);
		break;
	case ST_COLDEFS:
	case ST_PARAMS:
	case ST_PCOLS:
		took = on_definition(st, p, m);
		break;
	case ST_COLS_EOF:
	case ST_PARAMS_EOF:
	case ST_PCOLS_EOF:
		took = on_eof_step(st, p, m);
		break;
	case ST_ROWS:
		took = on_row(st, p, m);
		break;
	default:
		break;
	}
	if (took != UNEXPECTED)
		return took;
	lose(st, false);
	return TOOK;
}

static void on_server_command_phase(struct my_state *st, const struct my_msg *m,
				    const struct decoder_sink *out)
{
	struct my_pend *p;
	enum my_took took;
	int guard;

	for (guard = 0; guard < MY_PENDING + 1; guard++) {
		p = front(st);
		if (!p || p->step == ST_SKIP)
			return; /* nothing asked (an unsolicited ERR before a close), or unknown */
		if (p->step == ST_INFILE || p->step == ST_AUTH_CLIENT) {
			lose(st, false); /* the server talks while the client should */
			return;
		}
		if (is_progress(m) && (m->seq == p->seq || (p->seq_loose && m->seq + 1 == p->seq))) {
			/* MariaDB's progress report in the middle of a long command */
			p->seq = (uint8_t)(m->last_seq + 1);
			p->seq_loose = true;
			return;
		}
		if (m->seq != p->seq && !(p->seq_loose && (uint8_t)(m->seq + 1) == p->seq)) {
			lose(st, false);
			return;
		}
		p->seq_loose = false;
		took = on_answer(st, p, m);
		if (took == TOOK) {
			p->op.head.end_ns = m->end_ns;
			p->seq = (uint8_t)(m->last_seq + 1);
			return;
		}
		if (took == DONE) {
			if (!p->op.error)
				on_success(st, p);
			if (p->answer == ANS_RESULT)
				fill_from_stmt(st, p);
			finish(st, m->end_ns, false, out);
			return;
		}
		/* NOT_MINE: the front ended with its previous packet */
		if (p->answer == ANS_RESULT)
			fill_from_stmt(st, p);
		on_success(st, p);
		finish(st, p->op.head.end_ns, false, out);
	}
}

/*
 * The packet parser.
 */

static void on_message(struct my_state *st, bool from_client, const struct my_msg *m,
		       bool resync, const struct decoder_sink *out)
{
	switch (st->phase) {
	case PH_GREETING:
		if (!from_client) {
			on_greeting(st, m);
		} else if (m->seq == 0 && m->n) {
			/* sonde came in mid-session: commands, capabilities unknown */
			st->phase = PH_COMMAND;
			on_client_command_phase(st, m, true);
		} else {
			st->phase = PH_DONE;
		}
		break;
	case PH_RESPONSE:
		/* sequence 1, or 2 after an SSL request (the response then follows it in TLS) */
		if (from_client && (m->seq == 1 || (m->seq == 2 && st->ssl_requested)))
			on_response(st, m);
		else
			st->phase = PH_DONE;
		break;
	case PH_AUTH:
		if (!from_client)
			on_auth_server(st, m);
		break;
	case PH_COMMAND:
		if (from_client)
			on_client_command_phase(st, m, resync);
		else
			on_server_command_phase(st, m, out);
		break;
	case PH_DONE:
		break;
	}
}

static void dir_reset(struct my_dir *d)
{
	d->hdr_len = 0;
	d->in_payload = false;
	d->cont = false;
	d->lost = false;
}

/* The current packet's payload is all there: a message ends unless the next packet goes on. */
static void packet_end(struct my_state *st, bool from_client, uint64_t ts,
		       const struct decoder_sink *out)
{
	struct my_dir *d = from_client ? &st->cli : &st->srv;
	struct my_msg m;
	bool resync;

	d->in_payload = false;
	if (d->cont)
		return; /* 16 MiB - 1: the payload goes on in the next packet */
	m.b = d->buf;
	m.n = d->buf_len;
	m.len = d->msg_len;
	m.seq = d->first_seq;
	m.last_seq = d->last_seq;
	m.start_ns = d->first_ts;
	m.end_ns = ts;
	m.actor = d->first_actor;
	m.tid = d->first_tid;
	resync = from_client && st->cli_resync;
	if (from_client)
		st->cli_resync = false;
	on_message(st, from_client, &m, resync, out);
}

/* Whether a message starting with this sequence id can be the next one of its direction. */
static bool seq_fits(struct my_state *st, bool from_client, uint8_t seq)
{
	struct my_pend *f = front(st);

	if (st->phase != PH_COMMAND)
		return true;
	if (from_client) {
		if (f && (f->step == ST_INFILE || f->step == ST_AUTH_CLIENT))
			return seq == f->seq;
		return seq == 0;
	}
	if (!f || f->step == ST_SKIP)
		return true;
	return seq == f->seq || (f->seq_loose && (uint8_t)(seq + 1) == f->seq);
}

static void header_done(struct my_state *st, bool from_client)
{
	struct my_dir *d = from_client ? &st->cli : &st->srv;
	uint32_t len = le24(d->hdr);
	uint8_t seq = d->hdr[3];

	d->hdr_len = 0;
	if (d->cont) {
		if (seq != (uint8_t)(d->last_seq + 1)) {
			lose(st, from_client);
			return;
		}
	} else if (!seq_fits(st, from_client, seq)) {
		/* known from the header alone: no need to wait for a payload that may not be one */
		lose(st, from_client);
		return;
	} else {
		d->msg_len = 0;
		d->buf_len = 0;
		d->hole = false;
		d->first_seq = seq;
		d->first_ts = d->hdr_ts;
		d->first_actor = d->hdr_actor;
		d->first_tid = d->hdr_tid;
	}
	d->last_seq = seq;
	d->msg_len += len;
	d->cont = len == MY_PACKET_MAX;
	d->left = len;
	d->in_payload = true;
}

/* Bytes of this direction that went by uncounted... counted but not captured. */
static void dir_skip(struct my_state *st, bool from_client, uint64_t n, uint64_t ts,
		     const struct decoder_sink *out)
{
	struct my_dir *d = from_client ? &st->cli : &st->srv;
	uint64_t k;

	while (n && !d->lost && st->phase != PH_DONE) {
		if (!d->in_payload) {
			lose(st, from_client); /* a packet header went by unseen */
			return;
		}
		k = n < d->left ? n : d->left;
		d->left -= (uint32_t)k;
		n -= k;
		if (k)
			d->hole = true;
		if (!d->left)
			packet_end(st, from_client, ts, out);
	}
}

static void dir_data(struct my_state *st, bool from_client, const struct decoder_chunk *c,
		     const struct decoder_sink *out)
{
	struct my_dir *d = from_client ? &st->cli : &st->srv;
	const uint8_t *p = c->data;
	size_t n = c->len, k, room;
	uint64_t ts = c->ts;

	while (n && !d->lost && st->phase != PH_DONE) {
		if (!d->in_payload) {
			if (!d->hdr_len) {
				d->hdr_ts = ts;
				d->hdr_actor = c->actor;
				d->hdr_tid = c->tid;
			}
			k = 4u - d->hdr_len;
			if (k > n)
				k = n;
			memcpy(d->hdr + d->hdr_len, p, k);
			d->hdr_len += (uint8_t)k;
			p += k;
			n -= k;
			if (d->hdr_len < 4)
				return;
			header_done(st, from_client);
			if (d->in_payload && !d->left)
				packet_end(st, from_client, ts, out);
			continue;
		}
		k = n < d->left ? n : d->left;
		room = d->buf_cap - d->buf_len;
		if (!d->hole && room) {
			room = k < room ? k : room;
			memcpy(d->buf + d->buf_len, p, room);
			d->buf_len += (uint32_t)room;
		}
		d->left -= (uint32_t)k;
		p += k;
		n -= k;
		if (!d->left)
			packet_end(st, from_client, ts, out);
	}
}

static void mysql_feed(void *p, bool from_client, const struct decoder_chunk *f,
		       const struct decoder_sink *out)
{
	struct my_state *st = p;
	struct my_dir *d = from_client ? &st->cli : &st->srv;

	if (st->phase == PH_DONE)
		return;
	if (f->run_start && d->lost) {
		/* A new run starts with a new message: pick the framing up again. */
		dir_reset(d);
		if (from_client)
			st->cli_resync = true;
	}
	st->sink = out;
	dir_skip(st, from_client, f->gap, f->ts, out);
	if (f->len)
		dir_data(st, from_client, f, out);
	dir_skip(st, from_client, f->tail, f->ts, out);
	st->sink = NULL;
}

static void mysql_run_end(void *p, bool from_client, const struct sonde_run_summary *run,
			  const struct decoder_sink *out)
{
	struct my_state *st = p;
	struct my_pend *f = front(st);
	uint64_t last_ts = run->last_ts_ns;
	uint32_t i;

	if (from_client || st->phase != PH_COMMAND || !f)
		return;
	if (!st->caps_known && !st->srv.lost &&
	    (f->step == ST_PCOLS_EOF || (f->step == ST_PARAMS_EOF && !f->pcols))) {
		/* Not known whether an EOF follows the definitions; none came: it was over. */
		finish(st, f->op.head.end_ns, false, out);
		f = front(st);
		if (!f)
			return;
	}
	if (!st->srv.lost && f->step != ST_SKIP)
		return; /* the answer is followed: its end will be seen, or the close */
	/* The rest of the answers went by uncaptured; they ended with this run. */
	for (i = 0; i < op_queue__len(&st->q); i++) {
		struct my_pend *q = op_queue__at(&st->q, i);

		q->counted = false;
		if (q->answer == ANS_RESULT)
			fill_from_stmt(st, q);
	}
	finish_all(st, last_ts, false, out);
}

static bool mysql_waiting(const void *p)
{
	const struct my_state *st = p;

	return st->phase == PH_COMMAND && op_queue__len(&st->q);
}

static void mysql_close(void *p, uint64_t ts, const struct decoder_sink *out)
{
	struct my_state *st = p;
	uint32_t i;

	for (i = 0; i < op_queue__len(&st->q); i++) {
		struct my_pend *q = op_queue__at(&st->q, i);

		if (q->answer == ANS_RESULT)
			fill_from_stmt(st, q);
	}
	finish_all(st, ts, true, out);
}

void mysql_get_counts(const void *p, struct mysql_counts *c)
{
	const struct my_state *st = p;

	*c = st->n;
	c->refused = st->q.refused;
	c->pending = op_queue__len(&st->q);
}

const struct decoder mysql_decoder = {
	.name = "mysql",
	.db = true,
	.link_wait_ns = DB_LINK_WAIT_NS,
	.detect = mysql_detect,
	.create = mysql_create,
	.destroy = mysql_destroy,
	.feed = mysql_feed,
	.run_end = mysql_run_end,
	.waiting = mysql_waiting,
	.close = mysql_close,
	.build_span = db_build_span,
};
