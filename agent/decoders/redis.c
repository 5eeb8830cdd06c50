// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Redis (RESP2, RESP3 and inline commands) as a decoder (decoder.h, db.h). Each direction goes
 * through one small streaming tokenizer that keeps only what the spans need (a command's first
 * two words, the head of a reply) and counts everything else, so bulk strings of any size cost
 * no copy and their uncaptured bytes are skipped by length. The client's commands wait in a FIFO;
 * each reply the server sends pairs with the oldest one, which is how Redis answers, pipelines
 * included.
 *
 * Messages the server pushes on its own (pub/sub messages, MONITOR's feed, RESP3 pushes such as
 * invalidations) are recognised and counted, never paired. When a direction's framing is lost
 * (bytes only counted that are not inside a bulk string), the commands or replies that went by
 * unseen cannot be counted: a marker in the FIFO then swallows replies instead of pairing them
 * wrongly, until the client starts its next run, which for a client that waits for its answers
 * means every earlier reply has been read.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/db.h"
#include "decoders/op_queue.h"
#include "decoders/redis.h"

#define RD_DEPTH 16	      /* aggregate nesting the tokenizer follows (COMMAND DOCS needs ~6) */
#define RD_LINE 64	      /* bytes kept of a header line (lengths, +OK, -ERR ...) */
#define RD_WORD DB_OP_NAME_BYTES /* bytes kept of a command's first two words */
#define RD_KIND 16	      /* bytes kept of a push's first element ("message") */
/* After a pipelining client's framing was lost, how long the server must have been quiet
 * before the client's next run is taken as the start of fresh commands. */
#define RD_QUIET_NS (50ULL * 1000000ULL)
#define RD_PENDING_MAX 256    /* commands waiting for replies; beyond, they are only counted */
#define RD_RAW_RING 8192      /* --db-query raw: text of the waiting commands */
#define RD_MAX_BULK (1ULL << 40)
#define RD_MAX_COUNT (1ULL << 32)

/* Tokenizer states. */
enum {
	TK_TYPE,   /* the next byte is an element's type */
	TK_LINE,   /* the header line after the type byte, up to CRLF */
	TK_BULK,   /* a bulk payload and its CRLF */
	TK_INLINE, /* an inline command (client), up to LF */
};

struct rd_frame {
	uint64_t left; /* elements still to come */
	uint64_t idx;  /* elements done */
	uint8_t type;
};

/* The tokenizer of one direction. */
struct rd_tok {
	uint8_t state;
	uint8_t type;	   /* the element being read */
	uint8_t depth;	   /* open aggregates */
	uint8_t attrs;	   /* open attribute aggregates: their content is not looked at */
	bool lost;	   /* framing lost: wait for this direction's next run */
	bool in_msg;	   /* between a message's first and last byte */
	bool line_cut;	   /* the header line is longer than what is kept */
	bool cr;	   /* the last byte of the line so far is CR */
	uint16_t line_len;
	uint64_t bulk_len;  /* payload length of the bulk being read */
	uint64_t bulk_left; /* payload and CRLF bytes still to come */
	char line[RD_LINE];
	struct rd_frame fr[RD_DEPTH];
};

/* What the client's current command looks like so far. */
struct rd_build {
	bool active;
	bool is_inline;
	bool in_word;	  /* inline: inside a word */
	bool cut;	  /* some argument bytes went uncaptured */
	bool w0_done;	  /* the command name is complete */
	bool bad_name;	  /* the name has bytes no command name has */
	uint64_t argc;	  /* *N, or words so far (inline) */
	uint64_t argi;	  /* arguments begun */
	uint64_t start_ns;
	uint64_t actor;
	uint32_t tid;
	uint8_t w0_len, w1_len, w2_len;
	bool w0_over, w1_over, w2_over;
	char w0[RD_WORD], w1[RD_WORD];
	char w2[8];	  /* the third word, enough for CLIENT REPLY OFF */
	uint16_t raw_len;
	bool raw_full;
	bool raw_quote;	  /* an argument's quote is open */
};

/* What the server's current reply looks like so far. */
struct rd_reply {
	uint8_t type;	/* top-level type after any attribute, 0 before it */
	bool code_done; /* the error code is complete */
	uint8_t code_len, kind_len;
	int64_t rows;	/* top-level aggregate size, -1 otherwise */
	int64_t count;	/* the third element when an integer (subscriptions left), else -1 */
	char code[DB_STATUS_BYTES];
	char kind[RD_KIND]; /* first element of a top-level array or push, lower case */
	char text[8];	    /* start of a top-level simple string */
};

enum { Q_CMD, Q_DROPPED, Q_UNKNOWN };

enum {
	F_SELECT = 1 << 0,
	F_SUB = 1 << 1,	    /* (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE: answered by confirmations */
	F_MONITOR = 1 << 2,
	F_HELLO = 1 << 3,
	F_RESET = 1 << 4,
};

/* A command waiting for its reply, or a marker standing for commands that cannot be. */
struct rd_cmd {
	uint64_t start_ns;
	uint64_t argc;	    /* Q_DROPPED: how many commands it stands for */
	uint64_t raw_pos;   /* raw mode: where its text is in the ring */
	uint64_t actor;
	uint32_t tid;
	uint32_t db;	    /* the database it runs in */
	uint32_t sel;	    /* SELECT: the index it selects */
	uint32_t expect;    /* F_SUB: confirmations still to come */
	uint32_t batch;	    /* EXEC: the commands queued since MULTI (db.operation.batch.size) */
	uint16_t batch_pos; /* its place among the commands of its write (op_head's batch_*) */
	uint16_t batch_n;   /* ... how many they are, 0 while the write is the latest */
	uint64_t batch_after_ns;
	uint16_t raw_len;
	uint8_t kind;	    /* Q_CMD, Q_DROPPED, Q_UNKNOWN */
	uint8_t flags;
	uint8_t words;	    /* words of the operation name (CONFIG GET: 2) */
	bool release;	    /* Q_UNKNOWN: goes once the reply being read ends */
	char op[DB_OP_NAME_BYTES];
};

struct rd_state {
	enum db_query_mode mode;
	struct rd_tok cli, srv;
	struct rd_build b;
	struct rd_reply r;
	struct op_queue q; /* of struct rd_cmd, its last slot kept for a marker */
	uint32_t db;	   /* the database of the next command */
	int64_t multi_db;  /* SELECT inside MULTI: takes effect at EXEC, -1 if none */
	uint32_t multi_n;  /* commands sent since MULTI: the transaction EXEC runs */
	bool in_multi;
	bool subscribed;   /* RESP2 pub/sub mode: arrays may be pushed messages */
	bool resp3;
	bool monitor;
	bool srv_was_lost; /* the server's run lost its framing: its end ends the front command */
	bool asked_stream; /* the kernel was asked for capture policy STREAM */
	/* The commands of the client's latest write (one I/O): when, how many, and when the
	 * write before it was (a pipelining client's commands, linker__parent_in_batch). */
	uint64_t batch_ts, batch_prev_ts;
	uint16_t batch_count;
	bool cli_probation; /* picked up again after lost framing: the first command must be known */
	bool cli_lost_piped; /* the client's framing was lost with commands outstanding */
	uint64_t srv_last_ts; /* the server's latest bytes */
	bool reply_off;	    /* CLIENT REPLY OFF: commands get no reply until CLIENT REPLY ON */
	bool reply_skip;    /* CLIENT REPLY SKIP: the next command gets none */
	bool srv_spoke;	    /* the server end has sent one well-formed reply */
	bool rejected;	    /* the server's first answer was no RESP: not Redis after all */
	const struct decoder_sink *sink; /* where the feed being served reports */
	char *raw_ring;	   /* raw mode: RD_RAW_RING bytes */
	uint64_t raw_wpos;
	char raw_build[DB_QUERY_BYTES];
	struct redis_counts n;
};

/*
 * Command names (Redis 7 and 8), sorted in C order for bsearch. A fact table: the detector
 * trusts a connection's first bytes only when they name one of these.
 */
static const char *const known_commands[] = {
	"ACL", "APPEND", "ASKING", "AUTH", "BGREWRITEAOF", "BGSAVE", "BITCOUNT", "BITFIELD",
	"BITFIELD_RO", "BITOP", "BITPOS", "BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH",
	"BZMPOP", "BZPOPMAX", "BZPOPMIN", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "COPY",
	"DBSIZE", "DEBUG", "DECR", "DECRBY", "DEL", "DISCARD", "DUMP", "ECHO",
	"EVAL", "EVALSHA", "EVALSHA_RO", "EVAL_RO", "EXEC", "EXISTS", "EXPIRE", "EXPIREAT",
	"EXPIRETIME", "FAILOVER", "FCALL", "FCALL_RO", "FLUSHALL", "FLUSHDB", "FUNCTION", "GEOADD",
	"GEODIST", "GEOHASH", "GEOPOS", "GEORADIUS", "GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO",
	"GEORADIUS_RO", "GEOSEARCH", "GEOSEARCHSTORE", "GET", "GETBIT", "GETDEL", "GETEX",
	"GETRANGE", "GETSET", "HDEL", "HELLO", "HEXISTS", "HEXPIRE", "HEXPIREAT", "HEXPIRETIME",
	"HGET", "HGETALL", "HGETDEL", "HGETEX", "HINCRBY", "HINCRBYFLOAT", "HKEYS", "HLEN",
	"HMGET", "HMSET", "HPERSIST", "HPEXPIRE", "HPEXPIREAT", "HPEXPIRETIME", "HPTTL",
	"HRANDFIELD", "HSCAN", "HSET", "HSETEX", "HSETNX", "HSTRLEN", "HTTL", "HVALS", "INCR",
	"INCRBY", "INCRBYFLOAT", "INFO", "KEYS", "LASTSAVE", "LATENCY", "LCS", "LINDEX",
	"LINSERT", "LLEN", "LMOVE", "LMPOP", "LOLWUT", "LPOP", "LPOS", "LPUSH", "LPUSHX",
	"LRANGE", "LREM", "LSET", "LTRIM", "MEMORY", "MGET", "MIGRATE", "MODULE", "MONITOR",
	"MOVE", "MSET", "MSETNX", "MULTI", "OBJECT", "PERSIST", "PEXPIRE", "PEXPIREAT",
	"PEXPIRETIME", "PFADD", "PFCOUNT", "PFDEBUG", "PFMERGE", "PFSELFTEST", "PING", "PSETEX",
	"PSUBSCRIBE", "PSYNC", "PTTL", "PUBLISH", "PUBSUB", "PUNSUBSCRIBE", "QUIT", "RANDOMKEY",
	"READONLY", "READWRITE", "RENAME", "RENAMENX", "REPLCONF", "REPLICAOF", "RESET",
	"RESTORE", "RESTORE-ASKING", "ROLE", "RPOP", "RPOPLPUSH", "RPUSH", "RPUSHX", "SADD",
	"SAVE", "SCAN", "SCARD", "SCRIPT", "SDIFF", "SDIFFSTORE", "SELECT", "SET", "SETBIT",
	"SETEX", "SETNX", "SETRANGE", "SHUTDOWN", "SINTER", "SINTERCARD", "SINTERSTORE",
	"SISMEMBER", "SLAVEOF", "SLOWLOG", "SMEMBERS", "SMISMEMBER", "SMOVE", "SORT", "SORT_RO",
	"SPOP", "SPUBLISH", "SRANDMEMBER", "SREM", "SSCAN", "SSUBSCRIBE", "STRLEN", "SUBSCRIBE",
	"SUBSTR", "SUNION", "SUNIONSTORE", "SUNSUBSCRIBE", "SWAPDB", "SYNC", "TIME", "TOUCH",
	"TTL", "TYPE", "UNLINK", "UNSUBSCRIBE", "UNWATCH", "WAIT", "WAITAOF", "WATCH", "XACK",
	"XADD", "XAUTOCLAIM", "XCLAIM", "XDEL", "XGROUP", "XINFO", "XLEN", "XPENDING", "XRANGE",
	"XREAD", "XREADGROUP", "XREVRANGE", "XSETID", "XTRIM", "ZADD", "ZCARD", "ZCOUNT",
	"ZDIFF", "ZDIFFSTORE", "ZINCRBY", "ZINTER", "ZINTERCARD", "ZINTERSTORE", "ZLEXCOUNT",
	"ZMPOP", "ZMSCORE", "ZPOPMAX", "ZPOPMIN", "ZRANDMEMBER", "ZRANGE", "ZRANGEBYLEX",
	"ZRANGEBYSCORE", "ZRANGESTORE", "ZRANK", "ZREM", "ZREMRANGEBYLEX", "ZREMRANGEBYRANK",
	"ZREMRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYLEX", "ZREVRANGEBYSCORE", "ZREVRANK",
	"ZSCAN", "ZSCORE", "ZUNION", "ZUNIONSTORE",
};

/* Commands whose second word names what they do (the conventions' "CONFIG GET"). */
static const char *const container_commands[] = {
	"ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "FUNCTION", "LATENCY", "MEMORY",
	"MODULE", "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
};

/*
 * Words that other line protocols also start with (memcached get/set/incr/decr/append/touch,
 * FTP/SMTP/POP3 QUIT, AUTH, TYPE, IRC PING): as a first inline line they say Redis only on its
 * well-known port.
 */
static const char *const shared_words[] = {
	"APPEND", "AUTH", "DECR", "GET", "INCR", "PING", "QUIT", "SET", "TOUCH", "TYPE",
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define REDIS_PORT 6379

static uint8_t upper(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - ('a' - 'A')) : c;
}

/* Compare a wire name (any case) with an upper-case table name. */
static int name_cmp(const uint8_t *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n && s[i]; i++) {
		uint8_t c = upper(p[i]);

		if (c != (uint8_t)s[i])
			return c < (uint8_t)s[i] ? -1 : 1;
	}
	if (i < n)
		return 1;
	return s[i] ? -1 : 0;
}

bool redis_known_command(const uint8_t *name, size_t len)
{
	size_t lo = 0, hi = ARRAY_LEN(known_commands);

	if (!len || len > 24)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(name, len, known_commands[mid]);

		if (!c)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static bool in_list(const char *const *list, size_t n, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!name_cmp(p, len, list[i]))
			return true;
	return false;
}

/* An unsigned decimal of at most 18 digits (no overflow), or -1 alone when neg_one is allowed. */
static bool parse_int(const char *s, size_t n, bool neg_one, int64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (neg_one && n == 2 && s[0] == '-' && s[1] == '1') {
		*v = -1;
		return true;
	}
	if (!n || n > 18)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = (int64_t)x;
	return true;
}

/*
 * Detection.
 */

static size_t digits(const uint8_t *p, size_t n, size_t max, uint64_t *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n && i < max && p[i] >= '0' && p[i] <= '9'; i++)
		*v = *v * 10 + (uint64_t)(p[i] - '0');
	return i;
}

/* *<n>\r\n$<len>\r\n<known command>\r\n, all of it captured. */
static bool is_multibulk_command(const uint8_t *p, size_t n)
{
	uint64_t argc, len;
	size_t o = 1, k;

	k = digits(p + o, n - o, 10, &argc);
	if (!k || argc < 1 || argc > RD_MAX_COUNT || (k > 1 && p[o] == '0'))
		return false;
	o += k;
	if (n - o < 3 || p[o] != '\r' || p[o + 1] != '\n' || p[o + 2] != '$')
		return false;
	o += 3;
	k = digits(p + o, n - o, 2, &len);
	if (!k || len < 1 || (k > 1 && p[o] == '0'))
		return false;
	o += k;
	if (n - o < 2 || p[o] != '\r' || p[o + 1] != '\n')
		return false;
	o += 2;
	if (n - o < len + 2 || p[o + len] != '\r' || p[o + len + 1] != '\n')
		return false;
	return redis_known_command(p + o, len);
}

/* A whole printable line whose first word is a known command. */
static bool is_inline_command(const uint8_t *p, size_t n, bool redis_port)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t w = 0, end, i;

	if (!lf)
		return false;
	end = (size_t)(lf - p);
	if (end && p[end - 1] == '\r')
		end--;
	for (i = 0; i < end; i++)
		if (p[i] < 0x20 ? p[i] != '\t' : p[i] > 0x7e)
			return false;
	while (w < end && p[w] != ' ' && p[w] != '\t')
		w++;
	if (!redis_known_command(p, w))
		return false;
	if (redis_port)
		return true;
	/* elsewhere, a word other protocols share is Redis only as a bare PING */
	if (!in_list(shared_words, ARRAY_LEN(shared_words), p, w))
		return true;
	return !name_cmp(p, w, "PING") && w == end;
}

static enum detect_result redis_detect(const uint8_t *p, size_t n, const struct conn_info *info)
{
	bool port = info && info->have_tuple &&
		    (info->sport == REDIS_PORT || info->dport == REDIS_PORT);

	if (!n)
		return DETECT_NO;
	/* Replies alone (+OK, :1, $5...) are too plain to claim a connection with. */
	if (p[0] == '*')
		return is_multibulk_command(p, n) ? DETECT_CLIENT : DETECT_NO;
	if ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z' && is_inline_command(p, n, port))
		return DETECT_CLIENT;
	return DETECT_NO;
}

/*
 * The FIFO of commands waiting for replies.
 */

static void tok_reset(struct rd_tok *t)
{
	t->state = TK_TYPE;
	t->depth = 0;
	t->attrs = 0;
	t->in_msg = false;
}


static struct rd_cmd *q_front(struct rd_state *st)
{
	return op_queue__front(&st->q);
}

static struct rd_cmd *q_tail(struct rd_state *st)
{
	return op_queue__back(&st->q);
}

static void q_pop(struct rd_state *st)
{
	op_queue__pop(&st->q);
}

/* Room for one more command, keeping the last slot for a marker. */
static bool q_room(struct rd_state *st)
{
	return op_queue__len(&st->q) + 1 < RD_PENDING_MAX;
}

/* A cleared entry at the back, or NULL: the queue is at its bound, or no memory. */
static struct rd_cmd *q_push_slot(struct rd_state *st)
{
	struct rd_cmd *c = op_queue__push(&st->q);

	if (c)
		memset(c, 0, sizeof(*c));
	return c;
}

/* A command the FIFO has no room for: its reply will be counted against a marker. */
static void q_push_dropped(struct rd_state *st)
{
	struct rd_cmd *t = q_tail(st);

	st->n.dropped++;
	if (t && t->kind == Q_UNKNOWN)
		return;
	if (t && t->kind == Q_DROPPED) {
		t->argc++;
		return;
	}
	t = q_push_slot(st);
	if (t) {
		t->kind = Q_DROPPED;
		t->argc = 1;
	}
}

/* Commands went by unseen: replies are swallowed until the client's next run. */
static void q_push_unknown(struct rd_state *st)
{
	struct rd_cmd *t = q_tail(st);

	if (t && t->kind == Q_UNKNOWN) {
		t->release = false; /* more unseen commands: their replies are still to come */
		return;
	}
	if (t && t->kind == Q_DROPPED) {
		t->kind = Q_UNKNOWN; /* the counted ones go with the unknown ones */
		t->release = false;
		return;
	}
	t = q_push_slot(st);
	if (t)
		t->kind = Q_UNKNOWN;
}

/*
 * Spans.
 */

static void copy_cstr(char *dst, size_t sz, const char *src)
{
	size_t n = strnlen(src, sz - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* db.query.text sanitized: the operation, then a ? for every argument (keys are data too). */
static void sanitized_text(const struct rd_cmd *c, char *out, size_t sz)
{
	size_t n = strlen(c->op);
	uint64_t i;

	copy_cstr(out, sz, c->op);
	for (i = c->words; i < c->argc && n + 2 < sz; i++) {
		out[n++] = ' ';
		out[n++] = '?';
	}
	out[n] = '\0';
}

static void raw_text(const struct rd_state *st, const struct rd_cmd *c, char *out, size_t sz)
{
	size_t n = c->raw_len < sz - 1 ? c->raw_len : sz - 1, i;

	if (!st->raw_ring || st->raw_wpos - c->raw_pos > RD_RAW_RING) {
		sanitized_text(c, out, sz); /* overwritten: better the shape than nothing */
		return;
	}
	for (i = 0; i < n; i++)
		out[i] = st->raw_ring[(c->raw_pos + i) % RD_RAW_RING];
	out[n] = '\0';
}

/* A decimal number as a C string, without printf on this per-command path. */
static void put_uint(char *dst, size_t size, uint32_t v)
{
	char tmp[10];
	size_t len = 0, n, i;

	if (!size)
		return;
	do {
		tmp[len++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	n = len < size ? len : size - 1; /* its leading digits, when it does not fit */
	for (i = 0; i < n; i++)
		dst[i] = tmp[len - 1 - i];
	dst[n] = '\0';
}

/* A direction's framing became lost: counted here, and once by the core. */
static void report_lost(struct rd_state *st, bool from_client)
{
	st->n.lost++;
	if (st->sink && st->sink->lost)
		st->sink->lost(st->sink->ctx, from_client);
}

static void emit(struct rd_state *st, const struct rd_cmd *c, uint64_t end_ns,
		 const struct rd_reply *r, bool incomplete, const struct decoder_sink *out)
{
	struct db_op op;

	memset(&op, 0, offsetof(struct db_op, operation));
	op.system = DB_REDIS;
	op.head.start_ns = c->start_ns;
	op.head.end_ns = end_ns > c->start_ns ? end_ns : c->start_ns;
	op.head.actor = c->actor;
	op.head.tid = c->tid;
	/* the latest write is whole too: its replies come after it */
	op.head.batch_n = c->start_ns == st->batch_ts ? st->batch_count : c->batch_n;
	op.head.batch_pos = c->batch_pos;
	op.head.batch_after_ns = c->batch_after_ns;
	op.returned_rows = r ? r->rows : -1;
	op.batch_size = c->batch; /* the span says it when it is more than one */
	op.head.incomplete = incomplete;
	copy_cstr(op.operation, sizeof(op.operation), c->op);
	op.collection[0] = '\0';
	put_uint(op.namespace_, sizeof(op.namespace_), c->db);
	op.status_code[0] = op.error_type[0] = '\0';
	if (r && (r->type == '-' || r->type == '!')) {
		op.error = true;
		op.returned_rows = -1;
		copy_cstr(op.status_code, sizeof(op.status_code), r->code_len ? r->code : "ERR");
		copy_cstr(op.error_type, sizeof(op.error_type), op.status_code);
	}
	op.query[0] = '\0';
	if (st->mode == DB_QUERY_RAW)
		raw_text(st, c, op.query, sizeof(op.query));
	else if (st->mode == DB_QUERY_SANITIZED && c->op[0])
		sanitized_text(c, op.query, sizeof(op.query));
	op.summary[0] = '\0'; /* the span is named after the operation */
	db_op__report(out, &op);
}

/*
 * The client's side: commands.
 */

static void raw_put(struct rd_state *st, const char *s, size_t n)
{
	struct rd_build *b = &st->b;

	if (b->raw_full)
		return;
	if (b->raw_len + n > sizeof(st->raw_build) - 4) {
		/* no room left: say the text goes on */
		memcpy(st->raw_build + b->raw_len, "...", 3);
		b->raw_len += 3;
		b->raw_full = true;
		return;
	}
	memcpy(st->raw_build + b->raw_len, s, n);
	b->raw_len += (uint16_t)n;
}

/* Argument bytes into the raw text, quoted and escaped as MONITOR shows them. */
static void raw_bytes(struct rd_state *st, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[4];
	size_t i;

	for (i = 0; i < n && !st->b.raw_full; i++) {
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			raw_put(st, e, 2);
		} else if (c < 0x20 || c > 0x7e) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			raw_put(st, e, 4);
		} else {
			e[0] = (char)c;
			raw_put(st, e, 1);
		}
	}
}

static bool name_byte(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == '|' || c == ':';
}

/*
 * A command of the client's write at c->start_ns: its place in that write. When a new write
 * starts, the commands of the one before that still wait for replies learn their count.
 */
static void batch_note(struct rd_state *st, struct rd_cmd *c)
{
	struct rd_cmd *q;
	uint32_t i;

	if (c->start_ns != st->batch_ts) {
		for (i = op_queue__len(&st->q); i > 0; i--) {
			q = op_queue__at(&st->q, i - 1);
			if (q->kind != Q_CMD || q->start_ns != st->batch_ts)
				break;
			q->batch_n = st->batch_count;
		}
		st->batch_prev_ts = st->batch_ts;
		st->batch_ts = c->start_ns;
		st->batch_count = 0;
	}
	c->batch_pos = st->batch_count;
	c->batch_after_ns = st->batch_prev_ts;
	if (st->batch_count < UINT16_MAX)
		st->batch_count++;
}

static void build_start(struct rd_state *st, const struct decoder_chunk *ch, bool is_inline)
{
	struct rd_build *b = &st->b;

	memset(b, 0, sizeof(*b));
	b->active = true;
	b->is_inline = is_inline;
	b->start_ns = ch->ts;
	b->actor = ch->actor;
	b->tid = ch->tid;
}

static void arg_begin(struct rd_state *st)
{
	struct rd_build *b = &st->b;

	b->argi++;
	if (st->mode != DB_QUERY_RAW)
		return;
	if (b->argi > 1) {
		/* the name as sent, its arguments quoted */
		raw_put(st, " \"", 2);
		b->raw_quote = true;
	}
}

static void arg_end(struct rd_state *st)
{
	struct rd_build *b = &st->b;

	if (b->argi == 1)
		b->w0_done = true;
	if (b->raw_quote && st->mode == DB_QUERY_RAW)
		raw_put(st, "\"", 1);
	b->raw_quote = false;
}

static void arg_bytes(struct rd_state *st, const uint8_t *p, size_t n)
{
	struct rd_build *b = &st->b;
	char *w = NULL;
	uint8_t *wl = NULL;
	bool *over = NULL;
	size_t i;

	if (b->argi == 1) {
		w = b->w0;
		wl = &b->w0_len;
		over = &b->w0_over;
		for (i = 0; i < n; i++)
			if (!name_byte(p[i]))
				b->bad_name = true;
	} else if (b->argi == 2) {
		w = b->w1;
		wl = &b->w1_len;
		over = &b->w1_over;
	} else if (b->argi == 3) {
		w = b->w2;
		wl = &b->w2_len;
		over = &b->w2_over;
	}
	if (w) {
		size_t cap = b->argi == 3 ? sizeof(b->w2) : RD_WORD;

		for (i = 0; i < n; i++) {
			if (*wl >= cap - 1) {
				*over = true;
				break;
			}
			w[(*wl)++] = (char)upper(p[i]);
		}
		w[*wl] = '\0';
	}
	if (st->mode == DB_QUERY_RAW) {
		if (b->argi == 1) {
			/* the name as sent, unquoted */
			for (i = 0; i < n; i++)
				if (name_byte(p[i]))
					raw_put(st, (const char *)p + i, 1);
		} else {
			raw_bytes(st, p, n);
		}
	}
}

static void arg_skipped(struct rd_state *st)
{
	st->b.cut = true;
	if (st->b.argi == 1)
		st->b.bad_name = true; /* a name cut by the capture is no name */
	if (st->mode == DB_QUERY_RAW && !st->b.raw_full) {
		arg_end(st);
		raw_put(st, "...", 3);
	}
}

static void raw_store(struct rd_state *st, struct rd_cmd *c)
{
	size_t i;

	if (!st->raw_ring) {
		st->raw_ring = malloc(RD_RAW_RING);
		if (!st->raw_ring)
			return;
	}
	c->raw_pos = st->raw_wpos;
	c->raw_len = st->b.raw_len;
	for (i = 0; i < st->b.raw_len; i++)
		st->raw_ring[(st->raw_wpos + i) % RD_RAW_RING] = st->raw_build[i];
	st->raw_wpos += st->b.raw_len;
}

static bool word_is(const char *w, const char *s)
{
	return !strcmp(w, s);
}

/*
 * The first message after lost framing: a run may well start inside an argument of a long
 * pipeline, and what its bytes look like must not become a command. Only a name the detector
 * would trust ends the doubt; anything else loses the framing again (false).
 */
static bool probation_passed(struct rd_state *st)
{
	struct rd_build *b = &st->b;

	if (!st->cli_probation)
		return true;
	if (!b->w0_done || b->bad_name || b->w0_over ||
	    !redis_known_command((const uint8_t *)b->w0, b->w0_len) ||
	    (b->is_inline && in_list(shared_words, ARRAY_LEN(shared_words),
				      (const uint8_t *)b->w0, b->w0_len))) {
		report_lost(st, true);
		st->cli.lost = true;
		tok_reset(&st->cli);
		q_push_unknown(st);
		return false;
	}
	st->cli_probation = false;
	return true;
}

/* The operation's name: the command's, and its second word for a container (CONFIG GET). */
static void command_op(const struct rd_build *b, struct rd_cmd *c)
{
	size_t i;
	bool word = true;

	c->words = 1;
	if (!b->w0_done || b->bad_name || b->w0_over || !b->w0_len) {
		c->op[0] = '\0'; /* no name to trust: the span says only "redis" */
		c->words = 0;
		return;
	}
	copy_cstr(c->op, sizeof(c->op), b->w0);
	if (!(b->argc >= 2 && b->argi >= 2 && b->w1_len && !b->w1_over &&
	      in_list(container_commands, ARRAY_LEN(container_commands),
		      (const uint8_t *)b->w0, b->w0_len) &&
	      (size_t)b->w0_len + 1 + b->w1_len < sizeof(c->op)))
		return;
	for (i = 0; i < b->w1_len; i++)
		if (!((b->w1[i] >= 'A' && b->w1[i] <= 'Z') || b->w1[i] == '-' || b->w1[i] == '_'))
			word = false;
	if (word) {
		c->op[b->w0_len] = ' ';
		memcpy(c->op + b->w0_len + 1, b->w1, b->w1_len + 1);
		c->words = 2;
	}
}

/* CLIENT REPLY: OFF and SKIP are not answered themselves; ON is, even when replies were off. */
static bool client_reply(struct rd_state *st, bool noreply)
{
	const struct rd_build *b = &st->b;

	if (!strcmp(b->w2, "OFF")) {
		st->reply_off = true;
		return true;
	}
	if (!strcmp(b->w2, "SKIP")) {
		st->reply_skip = !st->reply_off;
		return true;
	}
	if (!strcmp(b->w2, "ON")) {
		st->reply_off = false;
		return false;
	}
	return noreply;
}

/* What the command changes for the ones after it; whether a reply will come (false). */
static bool command_effects(struct rd_state *st, struct rd_cmd *c)
{
	const struct rd_build *b = &st->b;
	bool noreply = st->reply_off || st->reply_skip;
	int64_t v;

	st->reply_skip = false;
	if (st->in_multi && !word_is(c->op, "MULTI") && !word_is(c->op, "EXEC") &&
	    !word_is(c->op, "DISCARD") && st->multi_n < UINT32_MAX)
		st->multi_n++;
	if (word_is(c->op, "SELECT") && b->argc == 2 && !b->w1_over &&
	    parse_int(b->w1, b->w1_len, false, &v) && v <= UINT32_MAX) {
		c->flags |= F_SELECT;
		c->sel = (uint32_t)v;
		if (st->in_multi)
			st->multi_db = v;
		else
			st->db = (uint32_t)v;
	} else if (word_is(c->op, "MULTI")) {
		st->in_multi = true;
		st->multi_db = -1;
		st->multi_n = 0;
	} else if (word_is(c->op, "EXEC") || word_is(c->op, "DISCARD")) {
		if (word_is(c->op, "EXEC") && st->in_multi && st->multi_db >= 0)
			st->db = (uint32_t)st->multi_db;
		/* the conventions' batch: the commands the transaction runs, sent one by one */
		if (word_is(c->op, "EXEC") && st->in_multi)
			c->batch = st->multi_n;
		st->in_multi = false;
	} else if (word_is(c->op, "RESET")) {
		c->flags |= F_RESET;
		st->db = 0;
		st->in_multi = false;
		st->reply_off = false;
		noreply = false;
	} else if (word_is(c->op, "HELLO")) {
		c->flags |= F_HELLO;
	} else if (word_is(c->op, "MONITOR")) {
		c->flags |= F_MONITOR;
	} else if (word_is(c->op, "SUBSCRIBE") || word_is(c->op, "PSUBSCRIBE") ||
		   word_is(c->op, "SSUBSCRIBE") || word_is(c->op, "UNSUBSCRIBE") ||
		   word_is(c->op, "PUNSUBSCRIBE") || word_is(c->op, "SUNSUBSCRIBE")) {
		/* one confirmation per channel; without channels, at least one */
		c->flags |= F_SUB;
		c->expect = b->argc > 1 ? (uint32_t)(b->argc - 1 < UINT32_MAX ? b->argc - 1
									: UINT32_MAX) : 1;
	} else if (word_is(c->op, "CLIENT REPLY") && b->argc == 3 && !b->w2_over) {
		noreply = client_reply(st, noreply);
	}
	return noreply;
}

/* The command is complete (or as complete as it will be seen): queue it. */
static void build_end(struct rd_state *st)
{
	struct rd_build *b = &st->b;
	struct rd_cmd cmd, *c = &cmd, *slot;
	bool noreply;

	b->active = false;
	if (!b->argc)
		return; /* an empty line or *0: Redis answers nothing */
	if (!probation_passed(st))
		return;
	st->n.commands++;
	if (b->cut)
		st->n.cut++;
	memset(&cmd, 0, sizeof(cmd));
	c->kind = Q_CMD;
	c->start_ns = b->start_ns;
	batch_note(st, c);
	c->actor = b->actor;
	c->tid = b->tid;
	c->argc = b->argc;
	c->db = st->db;
	command_op(b, c);
	noreply = command_effects(st, c);
	if (st->mode == DB_QUERY_RAW)
		raw_store(st, c);
	if (noreply) {
		/* nothing will answer it: it ends as it is sent */
		if (st->sink)
			emit(st, c, c->start_ns, NULL, false, st->sink);
		return;
	}
	/* past the bound (its last slot kept for a marker) or out of memory: only counted */
	if (!q_room(st) || !(slot = op_queue__push(&st->q))) {
		q_push_dropped(st);
		return;
	}
	*slot = cmd;
}

/* The client's framing is lost: what of the command was seen is queued, then a marker. */
static void client_lost(struct rd_state *st)
{
	/* Commands outstanding when the framing went: the client pipelines, and may write on
	 * before the replies to the unseen ones are in (redis_feed). */
	st->cli_lost_piped = op_queue__len(&st->q) > 0;
	if (st->b.active && !st->b.is_inline && st->b.w0_done && !st->cli_probation) {
		st->b.cut = true;
		build_end(st);
	}
	st->b.active = false;
	q_push_unknown(st);
}

/* Inline command bytes (no LF among them): words split on blanks. */
static bool inline_bytes(struct rd_state *st, const uint8_t *p, size_t n)
{
	struct rd_build *b = &st->b;
	size_t i = 0, s;

	while (i < n) {
		uint8_t c = p[i];

		if (c == ' ' || c == '\t' || c == '\r') {
			if (b->in_word) {
				arg_end(st);
				b->in_word = false;
			}
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return false; /* not a line someone typed */
		if (!b->in_word) {
			b->in_word = true;
			b->argc++;
			arg_begin(st);
		}
		for (s = i; i < n && p[i] > ' ' && p[i] != 0x7f; i++)
			;
		arg_bytes(st, p + s, i - s);
	}
	return true;
}

/*
 * The server's side: replies.
 */

static void reply_reset(struct rd_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->rows = -1;
	r->count = -1;
}

static bool code_byte(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* The error code: the first word of the message, when it looks like one. */
static void code_bytes(struct rd_reply *r, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !r->code_done; i++) {
		if (p[i] == ' ' || p[i] == '\r' || p[i] == '\n') {
			r->code_done = true;
		} else if (!code_byte(p[i]) || r->code_len >= DB_STATUS_BYTES - 1) {
			r->code_len = 0; /* "ERR" stands in for what is not a code */
			r->code_done = true;
		} else {
			r->code[r->code_len++] = (char)p[i];
			r->code[r->code_len] = '\0';
		}
	}
}

static void kind_bytes(struct rd_reply *r, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (r->kind_len >= RD_KIND - 1) {
			r->kind_len = 0; /* longer than any pub/sub word */
			r->kind[0] = '\0';
			return;
		}
		r->kind[r->kind_len++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
		r->kind[r->kind_len] = '\0';
	}
}

static bool is_sub_word(const char *k)
{
	return !strcmp(k, "subscribe") || !strcmp(k, "psubscribe") || !strcmp(k, "ssubscribe") ||
	       !strcmp(k, "unsubscribe") || !strcmp(k, "punsubscribe") ||
	       !strcmp(k, "sunsubscribe");
}

static bool is_message_word(const char *k)
{
	return !strcmp(k, "message") || !strcmp(k, "pmessage") || !strcmp(k, "smessage");
}

static bool op_is_kind(const char *op, const char *kind)
{
	size_t i;

	for (i = 0; op[i] && kind[i]; i++)
		if ((char)(op[i] + 32) != kind[i])
			return false;
	return !op[i] && !kind[i];
}

/* A Q_UNKNOWN marker whose time came while a reply was being read goes with that reply. */
static void release_marker(struct rd_state *st)
{
	struct rd_cmd *f = q_front(st);

	if (f && f->kind == Q_UNKNOWN && f->release)
		q_pop(st);
}

/* A whole reply (or push) was read: pair it with the oldest command, or count it. */
static void reply_end(struct rd_state *st, uint64_t ts, const struct decoder_sink *out)
{
	struct rd_reply *r = &st->r;
	struct rd_cmd *f = q_front(st);
	bool sub = false;

	st->srv_spoke = true;
	if ((r->type == '>' || r->type == '*') && is_sub_word(r->kind)) {
		/* In RESP2 only a subscriber's arrays are confirmations; a command's reply may
		 * be an array that starts with the same word. */
		sub = r->type == '>' || (!st->resp3 && st->subscribed) ||
		      (f && f->kind == Q_CMD && (f->flags & F_SUB));
	}
	if (sub) {
		if (!strstr(r->kind, "unsub"))
			st->subscribed = true;
		else if (r->count == 0)
			st->subscribed = false;
		if (f && f->kind == Q_CMD && (f->flags & F_SUB) && op_is_kind(f->op, r->kind)) {
			if (f->expect > 1) {
				f->expect--;
				return;
			}
			emit(st, f, ts, NULL, false, out);
			q_pop(st);
			return;
		}
		st->n.pushes++; /* the confirmations of an UNSUBSCRIBE of everything */
		return;
	}
	if (r->type == '>' ||
	    (r->type == '*' && st->subscribed && !st->resp3 && is_message_word(r->kind)) ||
	    (r->type == '+' && st->monitor && r->text[0] >= '0' && r->text[0] <= '9')) {
		st->n.pushes++;
		return;
	}
	if (!f) {
		st->n.unpaired++;
		return;
	}
	if (f->kind == Q_DROPPED) {
		st->n.unpaired++;
		if (!--f->argc)
			q_pop(st);
		return;
	}
	if (f->kind == Q_UNKNOWN) {
		st->n.unpaired++;
		release_marker(st);
		return;
	}
	emit(st, f, ts, r, false, out);
	if ((f->flags & F_SELECT) && r->type == '-' && st->db == f->sel)
		st->db = f->db; /* refused: the index stays what it was */
	if ((f->flags & F_MONITOR) && r->type == '+')
		st->monitor = true;
	if (f->flags & F_HELLO) {
		if (r->type == '%')
			st->resp3 = true;
		else if (r->type == '*')
			st->resp3 = false;
	}
	if ((f->flags & F_RESET) && r->type == '+') {
		st->monitor = false;
		st->subscribed = false;
		st->resp3 = false;
	}
	q_pop(st);
}

/*
 * The tokenizer, shared by both directions; from_client says whose bytes they are.
 */

static void tok_lose(struct rd_state *st, bool from_client)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;

	if (!from_client && !st->srv_spoke && !t->depth) {
		/*
		 * The other end answered the first command with something that does not even
		 * start as RESP (an HTTP server's error page for a PING sent to the wrong port):
		 * the detector was fooled by the client alone. The commands get no span; the
		 * core lets the connection go once this feed returns. Framing lost inside a first
		 * reply that began well (a huge COMMAND DOCS array) is only lost framing.
		 */
		while (q_front(st)) {
			st->n.dropped++;
			q_pop(st);
		}
		st->rejected = true;
		tok_reset(t);
		t->lost = true; /* and the rest of this I/O goes unread, as all that follows */
		if (st->sink && st->sink->give_up)
			st->sink->give_up(st->sink->ctx, true);
		return;
	}
	report_lost(st, from_client);
	t->lost = true;
	if (from_client) {
		client_lost(st);
	} else {
		/* the reply in progress, if any, is the front command's: its end is the run's */
		st->srv_was_lost = true;
	}
	tok_reset(t);
}

static bool is_type(uint8_t c)
{
	return c && strchr("+-:$*_,#!=(%~|>", c);
}

/* The current element is complete: walk up the aggregates it completes. */
static void elem_done(struct rd_state *st, bool from_client, uint64_t ts,
		      const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;

	t->state = TK_TYPE;
	for (;;) {
		struct rd_frame *f;

		if (!t->depth) {
			t->in_msg = false;
			if (from_client) {
				if (st->b.active)
					build_end(st);
			} else {
				reply_end(st, ts, out);
			}
			return;
		}
		f = &t->fr[t->depth - 1];
		f->idx++;
		if (--f->left)
			return;
		t->depth--;
		if (f->type == '|') {
			/* An attribute is not an element: what follows it is. */
			t->attrs--;
			return;
		}
	}
}

/* A bulk string's header ($, ! or =): its payload comes next, unless it is a null. */
static bool bulk_header(struct rd_state *st, bool from_client, uint64_t ts,
			const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	uint8_t ty = t->type;
	int64_t v = 0;

	if (t->line_cut || !parse_int(t->line, t->line_len, ty == '$', &v) ||
	    v > (int64_t)RD_MAX_BULK)
		return false;
	if (!t->attrs && !from_client && !t->depth)
		st->r.type = ty;
	if (from_client)
		arg_begin(st);
	if (v < 0) {
		if (from_client)
			arg_end(st);
		elem_done(st, from_client, ts, out);
		return true;
	}
	t->bulk_len = (uint64_t)v;
	t->bulk_left = (uint64_t)v + 2;
	t->state = TK_BULK;
	return true;
}

/* An aggregate's header (*, ~, %, > or |): its elements come next, unless it has none. */
static bool aggregate_header(struct rd_state *st, bool from_client, uint64_t ts,
			     const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	uint8_t ty = t->type;
	int64_t v = 0;

	if (t->line_cut || !parse_int(t->line, t->line_len, ty == '*', &v) ||
	    v > (int64_t)RD_MAX_COUNT)
		return false;
	if (from_client) {
		st->b.argc = v > 0 ? (uint64_t)v : 0;
	} else if (!t->attrs && ty != '|' && !t->depth) {
		st->r.type = ty;
		st->r.rows = ty == '>' ? -1 : v;
	}
	if (v <= 0) {
		elem_done(st, from_client, ts, out);
		return true;
	}
	if (t->depth >= RD_DEPTH)
		return false;
	t->fr[t->depth].type = ty;
	t->fr[t->depth].idx = 0;
	t->fr[t->depth].left = (uint64_t)v * (ty == '%' || ty == '|' ? 2 : 1);
	t->depth++;
	if (ty == '|')
		t->attrs++;
	t->state = TK_TYPE;
	return true;
}

/* What the reply's head says of a simple element of the server's (not in an attribute). */
static void simple_reply(struct rd_reply *r, const struct rd_tok *t, uint64_t idx)
{
	uint8_t ty = t->type;

	if (!t->depth) {
		r->type = ty;
		if (ty == '-') {
			code_bytes(r, (const uint8_t *)t->line, t->line_len);
			r->code_done = true;
		}
		if (ty == '+') {
			size_t k = t->line_len < sizeof(r->text) - 1 ? t->line_len
								     : sizeof(r->text) - 1;

			memcpy(r->text, t->line, k);
			r->text[k] = '\0';
		}
	} else if (t->depth == 1 && idx == 0 && ty == '+') {
		kind_bytes(r, (const uint8_t *)t->line, t->line_len);
	}
}

/* The element's header line is complete: what does it open? */
static bool header_done(struct rd_state *st, bool from_client, uint64_t ts,
			const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	struct rd_reply *r = &st->r;
	uint8_t ty = t->type;
	bool top = t->depth == 0;
	uint64_t idx = top ? 0 : t->fr[t->depth - 1].idx;
	bool look = !t->attrs && ty != '|';
	int64_t v = 0;

	if (from_client) {
		/* A command is one array of bulk strings. */
		if (top ? ty != '*' : (t->depth > 1 || (ty != '$')))
			return false;
	}
	switch (ty) {
	case '$':
	case '!':
	case '=':
		return bulk_header(st, from_client, ts, out);
	case '*':
	case '~':
	case '%':
	case '>':
	case '|':
		return aggregate_header(st, from_client, ts, out);
	case ':':
		if (t->line_len && t->line[0] == '-' ? !parse_int(t->line + 1, t->line_len - 1,
								  false, &v)
						       : !parse_int(t->line, t->line_len, false, &v))
			return false;
		if (look && !top && t->depth == 1 && idx == 2)
			r->count = t->line[0] == '-' ? -1 : v;
		break;
	case '_':
		if (t->line_len)
			return false;
		break;
	case '#':
		if (t->line_len != 1 || (t->line[0] != 't' && t->line[0] != 'f'))
			return false;
		break;
	case '+':
	case '-':
	case ',':
	case '(':
		break;
	default:
		return false;
	}
	/* a simple element */
	if (look && !from_client)
		simple_reply(r, t, idx);
	elem_done(st, from_client, ts, out);
	return true;
}

/* Bulk payload bytes (not its CRLF). */
static void bulk_bytes(struct rd_state *st, bool from_client, const uint8_t *p, size_t n)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;

	if (from_client) {
		arg_bytes(st, p, n);
		return;
	}
	if (t->attrs)
		return;
	if (!t->depth && st->r.type == '!')
		code_bytes(&st->r, p, n);
	else if (t->depth == 1 && t->fr[0].idx == 0)
		kind_bytes(&st->r, p, n);
}

static void msg_begin(struct rd_state *st, bool from_client, const struct decoder_chunk *ch,
		      bool is_inline)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;

	t->in_msg = true;
	if (from_client)
		build_start(st, ch, is_inline);
	else
		reply_reset(&st->r);
}

/*
 * The steps of the tokenizer over a piece of captured bytes, one per state: each reads from
 * ch->data at *i, moves *i past what it took, and says false when the framing was lost there.
 */

/* The next byte is an element's type, or the start of an inline command. */
static bool step_type(struct rd_state *st, bool from_client, const struct decoder_chunk *ch,
		      size_t *i)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	uint8_t c = ch->data[*i];

	if (!t->depth && !t->in_msg) {
		bool inl = from_client && c != '*';

		if (inl && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && c != '\r' && c != '\n' &&
		    c != ' ') {
			tok_lose(st, from_client);
			return false;
		}
		msg_begin(st, from_client, ch, inl);
		if (inl) {
			t->state = TK_INLINE;
			return true;
		}
	}
	if (!is_type(c)) {
		tok_lose(st, from_client);
		return false;
	}
	t->type = c;
	t->state = TK_LINE;
	t->line_len = 0;
	t->line_cut = false;
	t->cr = false;
	(*i)++;
	return true;
}

/* The header line after the type byte, up to its CRLF. */
static bool step_line(struct rd_state *st, bool from_client, const struct decoder_chunk *ch,
		      size_t *i, const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	const uint8_t *p = ch->data + *i;
	size_t n = ch->len - *i;
	const uint8_t *lf = memchr(p, '\n', n);
	size_t k = lf ? (size_t)(lf - p) : n, keep;

	if (k) {
		keep = (size_t)(RD_LINE - t->line_len) < k ? (size_t)(RD_LINE - t->line_len) : k;
		memcpy(t->line + t->line_len, p, keep);
		t->line_len += (uint16_t)keep;
		if (keep < k)
			t->line_cut = true;
		t->cr = p[k - 1] == '\r';
	}
	*i += k;
	if (!lf)
		return true;
	(*i)++;
	if (!t->cr) {
		tok_lose(st, from_client); /* RESP lines end in CRLF */
		return false;
	}
	if (!t->line_cut)
		t->line_len--;
	if (!header_done(st, from_client, ch->ts, out)) {
		tok_lose(st, from_client);
		return false;
	}
	return true;
}

/* A bulk payload, then its CRLF. */
static bool step_bulk(struct rd_state *st, bool from_client, const struct decoder_chunk *ch,
		      size_t *i, const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	const uint8_t *p = ch->data + *i;
	size_t n = ch->len - *i;
	size_t k = n < t->bulk_left ? n : (size_t)t->bulk_left;
	uint64_t done = t->bulk_len + 2 - t->bulk_left;
	size_t data = done < t->bulk_len ? (size_t)(t->bulk_len - done < k ? t->bulk_len - done
									      : k)
					 : 0;
	size_t j;

	if (data)
		bulk_bytes(st, from_client, p, data);
	for (j = data; j < k; j++) {
		/* the CRLF after the payload */
		uint64_t at = done + j - t->bulk_len;

		if (p[j] != (at ? '\n' : '\r')) {
			tok_lose(st, from_client);
			return false;
		}
	}
	*i += k;
	t->bulk_left -= k;
	if (!t->bulk_left) {
		if (from_client)
			arg_end(st);
		elem_done(st, from_client, ch->ts, out);
	}
	return true;
}

/* An inline command (only a client sends one), up to LF. */
static bool step_inline(struct rd_state *st, bool from_client, const struct decoder_chunk *ch,
			size_t *i)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	const uint8_t *p = ch->data + *i;
	size_t n = ch->len - *i;
	const uint8_t *lf = memchr(p, '\n', n);
	size_t k = lf ? (size_t)(lf - p) : n;

	if (!inline_bytes(st, p, k)) {
		tok_lose(st, from_client);
		return false;
	}
	*i += k;
	if (!lf)
		return true;
	(*i)++;
	if (st->b.in_word)
		arg_end(st);
	t->in_msg = false;
	t->state = TK_TYPE;
	build_end(st);
	return true;
}

static void tok_feed(struct rd_state *st, bool from_client, const struct decoder_chunk *ch,
		     const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;
	size_t i = 0;
	bool go = true;

	while (go && i < ch->len && !t->lost) {
		switch (t->state) {
		case TK_TYPE:
			go = step_type(st, from_client, ch, &i);
			break;
		case TK_LINE:
			go = step_line(st, from_client, ch, &i, out);
			break;
		case TK_BULK:
			go = step_bulk(st, from_client, ch, &i, out);
			break;
		case TK_INLINE:
			go = step_inline(st, from_client, ch, &i);
			break;
		}
	}
}

/* Bytes that went by uncaptured: only a bulk payload can be stepped over. */
static void tok_skip(struct rd_state *st, bool from_client, uint64_t n, uint64_t ts,
		     const struct decoder_sink *out)
{
	struct rd_tok *t = from_client ? &st->cli : &st->srv;

	if (!n || t->lost)
		return;
	if (t->state != TK_BULK || n > t->bulk_left) {
		tok_lose(st, from_client);
		return;
	}
	if (t->bulk_len + 2 - t->bulk_left < t->bulk_len && from_client)
		arg_skipped(st);
	t->bulk_left -= n;
	if (!t->bulk_left) {
		if (from_client)
			arg_end(st);
		elem_done(st, from_client, ts, out);
	}
}

/*
 * The contract.
 */

static void *redis_create(const struct decoder_env *env)
{
	struct rd_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->mode = env && env->cfg ? env->cfg->db.query_mode : DB_QUERY_SANITIZED;
	op_queue__init(&st->q, sizeof(struct rd_cmd), RD_PENDING_MAX);
	st->multi_db = -1;
	reply_reset(&st->r);
	return st;
}

static void redis_destroy(void *p)
{
	struct rd_state *st = p;

	if (!st)
		return;
	op_queue__free(&st->q);
	free(st->raw_ring);
	free(st);
}

static void redis_feed(void *p, bool from_client, const struct decoder_chunk *f,
		       const struct decoder_sink *out)
{
	struct rd_state *st = p;
	struct rd_tok *t = from_client ? &st->cli : &st->srv;

	if (st->rejected)
		return;
	st->sink = out;
	if (!st->asked_stream) {
		/* Clients pipeline, often as one writev of many buffers: the decoder must see
		 * every byte of every I/O to count the commands (bpf/gather.bpf.h). */
		st->asked_stream = true;
		if (out->policy)
			out->policy(out->ctx, SONDE_CAPTURE_STREAM);
	}
	if (!from_client && (f->len || f->gap || f->tail))
		st->srv_last_ts = f->ts;
	if (f->run_start && from_client && st->cli_lost_piped &&
	    f->ts - st->srv_last_ts < RD_QUIET_NS) {
		/* A pipelining client writes on while replies to the unseen commands may still be
		 * coming: taking its new commands now could pair them with those. Lost until the
		 * server has been quiet a while before the client speaks. */
	} else if (f->run_start) {
		if (from_client) {
			struct rd_cmd *q = q_front(st);

			/* The client speaks again after the replies: unseen commands are done. */
			if (q && q->kind == Q_UNKNOWN) {
				if (st->srv.in_msg)
					q->release = true;
				else
					q_pop(st);
			}
			st->cli_lost_piped = false;
		}
		if (t->lost) {
			/* A run starts at a message boundary as often as not: try again here. */
			t->lost = false;
			tok_reset(t);
			if (from_client)
				st->cli_probation = true;
		}
	}
	tok_skip(st, from_client, f->gap, f->ts, out);
	if (f->len)
		tok_feed(st, from_client, f, out);
	tok_skip(st, from_client, f->tail, f->ts, out);
	st->sink = NULL;
}

static void redis_run_end(void *p, bool from_client, const struct sonde_run_summary *run,
			  const struct decoder_sink *out)
{
	struct rd_state *st = p;
	uint64_t last_ts = run->last_ts_ns;
	struct rd_cmd *f;
	uint32_t gone = 0;

	if (from_client || !st->srv_was_lost || st->rejected)
		return;
	/* The server's run lost its framing: the reply it was in ends with the run. */
	st->srv_was_lost = false;
	f = q_front(st);
	if (!f || f->kind != Q_CMD || f->start_ns > last_ts)
		return;
	/* a reply whose first byte was not seen either: no answer to report, incomplete */
	emit(st, f, last_ts, st->r.type ? &st->r : NULL, !st->r.type, out);
	q_pop(st);
	reply_reset(&st->r);
	/* Commands sent before that end may have been answered in the unseen part. */
	while ((f = q_front(st)) && f->kind == Q_CMD && f->start_ns <= last_ts) {
		q_pop(st);
		st->n.dropped++;
		gone++;
	}
	if (gone) {
		/* their replies, if any are still to come, are swallowed (room: one went) */
		f = op_queue__push_front(&st->q);
		if (f) {
			memset(f, 0, sizeof(*f));
			f->kind = Q_UNKNOWN;
		}
	}
}

static bool redis_waiting(const void *p)
{
	const struct rd_state *st = p;

	return op_queue__len(&st->q) > 0;
}

static void redis_close(void *p, uint64_t ts, const struct decoder_sink *out)
{
	struct rd_state *st = p;
	struct rd_cmd *f;

	while ((f = q_front(st))) {
		if (f->kind == Q_CMD && !st->rejected)
			emit(st, f, ts, NULL, true, out);
		q_pop(st);
	}
	st->b.active = false;
	tok_reset(&st->cli);
	tok_reset(&st->srv);
	st->cli.lost = st->srv.lost = false;
	st->srv_was_lost = false;
}

void redis_get_counts(const void *p, struct redis_counts *c)
{
	const struct rd_state *st = p;

	*c = st->n;
	c->pending = op_queue__len(&st->q);
}

const struct decoder redis_decoder = {
	.name = "redis",
	.db = true,
	.link_wait_ns = DB_LINK_WAIT_NS,
	.detect = redis_detect,
	.create = redis_create,
	.destroy = redis_destroy,
	.feed = redis_feed,
	.run_end = redis_run_end,
	.waiting = redis_waiting,
	.close = redis_close,
	.build_span = db_build_span,
};
