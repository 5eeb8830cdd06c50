// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SQL text helpers for the PostgreSQL and MySQL decoders: one small lexer, and on top of it the
 * sanitizer (literals out, comments out), the summary (operation and main table) and the filling
 * of a db_op. The lexer knows the two dialects' differences that matter for not leaking a
 * literal: MySQL escapes with backslashes inside '...' and "...", takes "..." as a string and
 * `...` as an identifier, and has # comments; PostgreSQL has E'...', dollar quotes and nested
 * block comments. Everything is bounded by the input and output sizes; nothing allocates.
 */
#include "decoders/sql.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum sql_tok {
	T_END,
	T_SPACE,   /* white space or a comment: separates tokens, never copied */
	T_WORD,	   /* keyword or unquoted identifier */
	T_QIDENT,  /* quoted identifier: "x" (PostgreSQL), `x` (MySQL) */
	T_LITERAL, /* string, number, hex or bit literal, dollar-quoted body */
	T_PARAM,   /* placeholder: ?, $1, :name */
	T_PUNCT,   /* anything else, one byte (or :: as one) */
};

struct sql_lexer {
	const unsigned char *q;
	size_t n;
	size_t pos;
	bool mysql;
};

static bool is_space(unsigned char c)
{
	/* NUL and other control bytes separate tokens like white space: never copied out. */
	return c <= ' ' || c == 0x7f;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_ident(unsigned char c, bool mysql)
{
	(void)mysql;
	return is_ident_start(c) || is_digit(c) || c == '$';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned char upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

/* A quoted run from q[i] (the opening quote) to just past its closing quote, or the end. */
static size_t skip_quoted(const unsigned char *q, size_t n, size_t i, unsigned char quote,
			  bool backslash)
{
	for (i++; i < n; i++) {
		if (backslash && q[i] == '\\') {
			i++;
			continue;
		}
		if (q[i] == quote) {
			if (i + 1 < n && q[i + 1] == quote) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return n;
}

/*
 * A PostgreSQL dollar quote at q[i] ($$ or $tag$): the end of its closing delimiter (or the
 * end of the text), or 0 when q[i] does not open one.
 */
static size_t skip_dollar(const unsigned char *q, size_t n, size_t i)
{
	size_t t = i + 1, tag_len, k;

	if (t < n && q[t] != '$') {
		if (!is_ident_start(q[t]))
			return 0;
		while (t < n && q[t] != '$' && (is_ident_start(q[t]) || is_digit(q[t])))
			t++;
		if (t >= n || q[t] != '$')
			return 0;
	}
	if (t >= n)
		return 0;
	tag_len = t + 1 - i; /* the whole delimiter, both dollars included */
	for (k = t + 1; k + tag_len <= n; k++)
		if (q[k] == '$' && !memcmp(q + k, q + i, tag_len))
			return k + tag_len;
	return n;
}

/* A block comment at q[i] (slash, star): nested in PostgreSQL, not in MySQL. */
static size_t skip_block_comment(const unsigned char *q, size_t n, size_t i, bool nest)
{
	unsigned depth = 1;

	for (i += 2; i < n; i++) {
		if (q[i] == '*' && i + 1 < n && q[i + 1] == '/') {
			i++;
			if (--depth == 0)
				return i + 1;
		} else if (nest && q[i] == '/' && i + 1 < n && q[i + 1] == '*') {
			i++;
			depth++;
		}
	}
	return n;
}

static size_t skip_line(const unsigned char *q, size_t n, size_t i)
{
	while (i < n && q[i] != '\n')
		i++;
	return i;
}

/* A number at q[i] (a digit, or a dot before a digit): its end. */
static size_t skip_number(const unsigned char *q, size_t n, size_t i)
{
	if (q[i] == '0' && i + 2 < n && (q[i + 1] | 0x20) == 'x' && is_hex(q[i + 2])) {
		for (i += 2; i < n && (is_hex(q[i]) || q[i] == '_'); i++)
			;
		return i;
	}
	if (q[i] == '0' && i + 2 < n && ((q[i + 1] | 0x20) == 'b' || (q[i + 1] | 0x20) == 'o') &&
	    is_digit(q[i + 2])) {
		for (i += 2; i < n && (is_digit(q[i]) || q[i] == '_'); i++)
			;
		return i;
	}
	while (i < n && (is_digit(q[i]) || q[i] == '_'))
		i++;
	if (i < n && q[i] == '.')
		for (i++; i < n && (is_digit(q[i]) || q[i] == '_'); i++)
			;
	if (i + 1 < n && (q[i] | 0x20) == 'e') {
		size_t k = i + 1;

		if (k < n && (q[k] == '+' || q[k] == '-'))
			k++;
		if (k < n && is_digit(q[k]))
			for (i = k; i < n && is_digit(q[i]); i++)
				;
	}
	return i;
}

/* The next token from l->pos: its kind; [*start, l->pos) are its bytes. */
static enum sql_tok sql_next(struct sql_lexer *l, size_t *start)
{
	const unsigned char *q = l->q;
	size_t n = l->n, i = l->pos, k;
	unsigned char c;
	enum sql_tok t;

	*start = i;
	if (i >= n)
		return T_END;
	c = q[i];
	if (is_space(c)) {
		while (i < n && is_space(q[i]))
			i++;
		t = T_SPACE;
	} else if (c == '-' && i + 1 < n && q[i + 1] == '-' &&
		   (!l->mysql || i + 2 >= n || is_space(q[i + 2]))) {
		i = skip_line(q, n, i);
		t = T_SPACE;
	} else if (c == '#' && l->mysql) {
		i = skip_line(q, n, i);
		t = T_SPACE;
	} else if (c == '/' && i + 1 < n && q[i + 1] == '*') {
		i = skip_block_comment(q, n, i, !l->mysql);
		t = T_SPACE;
	} else if (c == '\'') {
		i = skip_quoted(q, n, i, '\'', l->mysql);
		t = T_LITERAL;
	} else if (c == '"') {
		i = skip_quoted(q, n, i, '"', l->mysql);
		t = l->mysql ? T_LITERAL : T_QIDENT;
	} else if (c == '`' && l->mysql) {
		i = skip_quoted(q, n, i, '`', false);
		t = T_QIDENT;
	} else if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(q[i + 1]))) {
		i = skip_number(q, n, i);
		/* MySQL names may start with digits (1st_table): a word, not a number. */
		if (l->mysql && i < n && is_ident(q[i], l->mysql)) {
			while (i < n && is_ident(q[i], l->mysql))
				i++;
			t = T_WORD;
		} else {
			t = T_LITERAL;
		}
	} else if (is_ident_start(c)) {
		unsigned char u = upper(c);

		/* Prefixed strings: E'..' (backslash escapes), X'..', B'..', N'..', U&'..'. */
		if (i + 1 < n && q[i + 1] == '\'' &&
		    (u == 'E' || u == 'X' || u == 'B' || u == 'N')) {
			i = skip_quoted(q, n, i + 1, '\'', l->mysql || u == 'E');
			t = T_LITERAL;
		} else if (u == 'U' && i + 2 < n && q[i + 1] == '&' && q[i + 2] == '\'') {
			i = skip_quoted(q, n, i + 2, '\'', false);
			t = T_LITERAL;
		} else {
			while (i < n && is_ident(q[i], l->mysql))
				i++;
			t = T_WORD;
		}
	} else if (c == '$' && !l->mysql && i + 1 < n && is_digit(q[i + 1])) {
		for (i++; i < n && is_digit(q[i]); i++)
			;
		t = T_PARAM;
	} else if (c == '$' && !l->mysql && (k = skip_dollar(q, n, i))) {
		i = k;
		t = T_LITERAL;
	} else if (c == '?') {
		i++;
		t = T_PARAM;
	} else if (c == ':' && i + 1 < n && q[i + 1] == ':') {
		i += 2; /* a PostgreSQL cast, not a named parameter */
		t = T_PUNCT;
	} else if (c == ':' && i + 1 < n && is_ident_start(q[i + 1])) {
		for (i++; i < n && is_ident(q[i], l->mysql); i++)
			;
		t = T_PARAM;
	} else {
		i++;
		t = T_PUNCT;
	}
	l->pos = i;
	return t;
}

static bool dialect_mysql(enum db_system sys)
{
	return sys == DB_MYSQL || sys == DB_MARIADB;
}

/* The next token that is not space. */
static enum sql_tok sql_next_sig(struct sql_lexer *l, size_t *start)
{
	enum sql_tok t;

	while ((t = sql_next(l, start)) == T_SPACE)
		;
	return t;
}

static bool word_is(const struct sql_lexer *l, size_t start, const char *kw)
{
	size_t len = l->pos - start, i;

	for (i = 0; i < len; i++)
		if (!kw[i] || upper(l->q[start + i]) != (unsigned char)kw[i])
			return false;
	return kw[len] == '\0';
}

/* ---------------------------------------------------------------------------------------- */

/* Output with a hard bound; a cut never splits a UTF-8 sequence. */
struct sql_out {
	char *p;
	size_t size;
	size_t len;
	bool full;
};

static void out_put(struct sql_out *o, const void *s, size_t n)
{
	size_t room;

	if (o->full || !o->size)
		return;
	room = o->size - 1 - o->len;
	if (n > room) {
		n = room;
		/* back off to the start of a UTF-8 sequence */
		while (n && (((const unsigned char *)s)[n] & 0xc0) == 0x80)
			n--;
		o->full = true;
	}
	memcpy(o->p + o->len, s, n);
	/* a NUL inside a quoted name would end the text early: it cannot be a name's byte */
	for (room = 0; room < n; room++)
		if (!o->p[o->len + room])
			o->p[o->len + room] = '?';
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_init(struct sql_out *o, char *p, size_t size)
{
	o->p = p;
	o->size = size;
	o->len = 0;
	o->full = false;
	if (size)
		p[0] = '\0';
}

/*
 * States of the IN-list collapse: "IN (?, ?, ?)" comes out as "IN (?)" so that the text of a
 * query does not change with the number of values (the span's cardinality).
 */
enum in_state {
	IN_NONE,
	IN_KEYWORD, /* after IN */
	IN_OPEN,    /* after IN ( */
	IN_VALUE,   /* after IN (? and any ", ?" that followed */
	IN_COMMA,   /* a comma after a value, held back */
};

size_t sql_sanitize_as(enum db_system sys, const char *q, size_t n, char *out, size_t outsz)
{
	struct sql_lexer l = {(const unsigned char *)q, n, 0, dialect_mysql(sys)};
	enum in_state in = IN_NONE;
	bool space = false, held_space = false;
	struct sql_out o;
	enum sql_tok t;
	size_t start;

	out_init(&o, out, outsz);
	while (!o.full && (t = sql_next(&l, &start)) != T_END) {
		bool value = t == T_LITERAL || (t == T_PARAM && l.pos - start == 1 && q[start] == '?');

		if (t == T_SPACE) {
			if (o.len)
				space = true;
			continue;
		}
		if (in == IN_COMMA) {
			if (value) {
				/* another value of the list: drop it and its comma */
				in = IN_VALUE;
				space = false;
				continue;
			}
			out_put(&o, ",", 1);
			if (held_space)
				out_put(&o, " ", 1);
			in = IN_NONE;
		}
		if (in == IN_VALUE && t == T_PUNCT && q[start] == ',') {
			in = IN_COMMA;
			held_space = false;
			space = false;
			/* white space after the comma is held with it */
			while ((t = sql_next(&l, &start)) == T_SPACE)
				held_space = true;
			l.pos = start;
			continue;
		}
		/* MySQL: "- -1" must not come out as "--" then a space, which starts a comment */
		if (space || (l.mysql && q[start] == '-' && o.len && out[o.len - 1] == '-'))
			out_put(&o, " ", 1);
		space = false;
		if (t == T_LITERAL)
			out_put(&o, "?", 1);
		else
			out_put(&o, q + start, l.pos - start);

		if (t == T_WORD && word_is(&l, start, "IN"))
			in = IN_KEYWORD;
		else if (in == IN_KEYWORD && t == T_PUNCT && q[start] == '(')
			in = IN_OPEN;
		else if ((in == IN_OPEN || in == IN_VALUE) && value)
			in = IN_VALUE;
		else
			in = IN_NONE;
	}
	if (in == IN_COMMA)
		out_put(&o, ",", 1);
	return o.len;
}

size_t sql_sanitize(const char *q, size_t n, char *out, size_t outsz)
{
	return sql_sanitize_as(DB_POSTGRESQL, q, n, out, outsz);
}

/* ---------------------------------------------------------------------------------------- */

/* Copy a name token into o without its quotes (a doubled quote inside stands for one). */
static void put_name(struct sql_out *o, const unsigned char *s, size_t n, enum sql_tok t)
{
	size_t i;

	if (t != T_QIDENT) {
		out_put(o, s, n);
		return;
	}
	for (i = 1; i < n; i++) {
		if (s[i] == s[0]) {
			if (i + 1 < n && s[i + 1] == s[0])
				i++; /* doubled: one quote */
			else
				break; /* the closing quote */
		}
		out_put(o, s + i, 1);
	}
}

/*
 * A possibly qualified name at the lexer's position (schema.table, "S"."T", `db`.`t`): copied
 * unquoted into coll. The words in skip (ONLY, IF, NOT, EXISTS...) are passed over first.
 * from: after FROM, where a name followed by '(' is a function call.
 */
static void take_name(struct sql_lexer *l, struct sql_out *coll, const char *const *skip,
		      bool from)
{
	enum sql_tok t;
	size_t start, save;
	int i;

	for (;;) {
		t = sql_next_sig(l, &start);
		if (t != T_WORD || !skip)
			break;
		for (i = 0; skip[i]; i++)
			if (word_is(l, start, skip[i]))
				break;
		if (!skip[i])
			break;
	}
	while (t == T_WORD || t == T_QIDENT) {
		put_name(coll, l->q + start, l->pos - start, t);
		save = l->pos;
		t = sql_next(l, &start);
		if (t != T_PUNCT || l->q[start] != '.') {
			/* FROM f(...): a set-returning function, not a table */
			if (from && t == T_SPACE)
				t = sql_next_sig(l, &start);
			if (from && t == T_PUNCT && l->q[start] == '(')
				break;
			l->pos = save;
			return;
		}
		t = sql_next(l, &start);
		if (t != T_WORD && t != T_QIDENT)
			return;
		out_put(coll, ".", 1);
	}
	/* not a name (a subquery, a function, garbage): no collection */
	coll->len = 0;
	if (coll->size)
		coll->p[0] = '\0';
}

/* Find a keyword at the statement's own parenthesis level; false at its end. */
static bool find_keyword(struct sql_lexer *l, const char *kw, int *depth, int base)
{
	enum sql_tok t;
	size_t start;

	while ((t = sql_next_sig(l, &start)) != T_END) {
		if (t == T_PUNCT) {
			if (l->q[start] == '(')
				(*depth)++;
			else if (l->q[start] == ')')
				(*depth)--;
			else if (l->q[start] == ';')
				return false;
			if (*depth < base)
				return false;
		} else if (t == T_WORD && *depth == base && word_is(l, start, kw)) {
			return true;
		}
	}
	return false;
}

static const char *const skip_only[] = {"ONLY", NULL};
static const char *const skip_update[] = {"ONLY", "LOW_PRIORITY", "IGNORE", NULL};
static const char *const skip_table[] = {"IF", "NOT", "EXISTS", "ONLY", NULL};
static const char *const skip_insert[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE",
					  NULL};

/* Is the word at start one of the main statements a WITH clause leads to? */
static bool is_main_keyword(const struct sql_lexer *l, size_t start)
{
	static const char *const kws[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE",
					  "VALUES", "TABLE",  NULL};
	int i;

	for (i = 0; kws[i]; i++)
		if (word_is(l, start, kws[i]))
			return true;
	return false;
}

/* The summary of the statement that starts at l->pos; the lexer ends somewhere inside it. */
static void summarize(struct sql_lexer *l, struct sql_out *op, struct sql_out *coll)
{
	enum sql_tok t;
	size_t start, i, kw;
	int depth = 0, base;

	/* leading parentheses: "(SELECT ...) UNION (...)" */
	while ((t = sql_next_sig(l, &start)) == T_PUNCT && l->q[start] == '(')
		depth++;
	if (t != T_WORD)
		return;
	base = depth;
	kw = start;
	if (word_is(l, start, "WITH")) {
		/* the main statement follows the named subqueries, at the same level */
		for (;;) {
			t = sql_next_sig(l, &start);
			if (t == T_END)
				return;
			if (t == T_PUNCT && l->q[start] == '(') {
				depth++;
			} else if (t == T_PUNCT && l->q[start] == ')') {
				depth--;
			} else if (t == T_PUNCT && l->q[start] == ';') {
				return;
			} else if (t == T_WORD && depth == base && is_main_keyword(l, start)) {
				kw = start;
				break;
			}
			if (depth < base)
				return;
		}
	}
	for (i = kw; i < l->pos; i++) {
		char u = (char)upper(l->q[i]);

		out_put(op, &u, 1);
	}

	if (word_is(l, kw, "SELECT") || word_is(l, kw, "DELETE")) {
		if (find_keyword(l, "FROM", &depth, base))
			take_name(l, coll, skip_only, true);
	} else if (word_is(l, kw, "INSERT") || word_is(l, kw, "REPLACE")) {
		size_t save;

		for (;;) {
			save = l->pos;
			t = sql_next_sig(l, &start);
			if (t != T_WORD)
				break;
			for (i = 0; skip_insert[i]; i++)
				if (word_is(l, start, skip_insert[i]))
					break;
			if (!skip_insert[i])
				break;
		}
		if (!(t == T_WORD && word_is(l, start, "INTO")))
			l->pos = save; /* MySQL: INTO may be left out */
		take_name(l, coll, NULL, false);
	} else if (word_is(l, kw, "UPDATE")) {
		take_name(l, coll, skip_update, false);
	} else if (word_is(l, kw, "MERGE")) {
		if (find_keyword(l, "INTO", &depth, base))
			take_name(l, coll, skip_only, false);
	} else if (word_is(l, kw, "COPY")) {
		take_name(l, coll, NULL, false);
	} else if (word_is(l, kw, "TRUNCATE")) {
		take_name(l, coll, (const char *const[]){"TABLE", "ONLY", NULL}, false);
	} else if (word_is(l, kw, "CREATE") || word_is(l, kw, "DROP") ||
		   word_is(l, kw, "ALTER")) {
		/* CREATE [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE name: a few words */
		for (i = 0; i < 4; i++) {
			t = sql_next_sig(l, &start);
			if (t != T_WORD)
				return;
			if (word_is(l, start, "TABLE")) {
				take_name(l, coll, skip_table, false);
				return;
			}
		}
	}
}

void sql_summarize_as(enum db_system sys, const char *q, size_t n, char *op, size_t opsz,
		      char *coll, size_t collsz)
{
	struct sql_lexer l = {(const unsigned char *)q, n, 0, dialect_mysql(sys)};
	struct sql_out o, c;

	out_init(&o, op, opsz);
	out_init(&c, coll, collsz);
	summarize(&l, &o, &c);
}

void sql_summarize(const char *q, size_t n, char *op, size_t opsz, char *coll, size_t collsz)
{
	sql_summarize_as(DB_POSTGRESQL, q, n, op, opsz, coll, collsz);
}

/* ---------------------------------------------------------------------------------------- */

/*
 * The end of the statement that starts at from: just past its ';' (outside literals and
 * comments), or n. *empty says whether it held no token at all.
 */
static size_t statement_end(const char *q, size_t n, size_t from, bool mysql, bool *empty)
{
	struct sql_lexer l = {(const unsigned char *)q, n, from, mysql};
	enum sql_tok t;
	size_t start;

	*empty = true;
	while ((t = sql_next(&l, &start)) != T_END) {
		if (t == T_PUNCT && q[start] == ';')
			return l.pos;
		if (t != T_SPACE)
			*empty = false;
	}
	return n;
}

void sql_fill_op(struct db_op *op, const char *q, size_t n, enum db_query_mode mode)
{
	bool mysql = dialect_mysql(op->system), empty, same_op = true, same_coll = true;
	char o2[DB_OP_NAME_BYTES], c2[DB_COLLECTION_BYTES];
	uint32_t count = 0;
	size_t from = 0, end;
	struct sql_out s;

	op->operation[0] = op->collection[0] = op->summary[0] = op->query[0] = '\0';
	/* Statements one by one: the first names the op, the others say whether it is a batch. */
	while (from < n) {
		end = statement_end(q, n, from, mysql, &empty);
		if (!empty) {
			char *oo = count ? o2 : op->operation, *cc = count ? c2 : op->collection;

			sql_summarize_as(op->system, q + from, end - from, oo, DB_OP_NAME_BYTES, cc,
					 DB_COLLECTION_BYTES);
			if (count) {
				same_op = same_op && !strcmp(o2, op->operation);
				same_coll = same_coll && !strcmp(c2, op->collection);
			}
			count++;
		}
		from = end;
	}

	out_init(&s, op->summary, sizeof(op->summary));
	if (count > 1) {
		/* The conventions' batch: "BATCH INSERT" when all agree, else "BATCH". */
		op->batch_size = count;
		if (!same_op || !op->operation[0]) {
			op->operation[0] = '\0';
			same_coll = false;
		}
		if (!same_coll)
			op->collection[0] = '\0';
		out_put(&s, "BATCH", 5);
		if (op->operation[0]) {
			struct sql_out b;
			char tmp[DB_OP_NAME_BYTES];

			memcpy(tmp, op->operation, sizeof(tmp));
			out_init(&b, op->operation, sizeof(op->operation));
			out_put(&b, "BATCH ", 6);
			out_put(&b, tmp, strlen(tmp));
			out_init(&s, op->summary, sizeof(op->summary));
			out_put(&s, op->operation, strlen(op->operation));
		}
	} else if (op->operation[0]) {
		out_put(&s, op->operation, strlen(op->operation));
	}
	if (s.len && op->collection[0]) {
		out_put(&s, " ", 1);
		out_put(&s, op->collection, strlen(op->collection));
	}

	if (mode == DB_QUERY_SANITIZED) {
		sql_sanitize_as(op->system, q, n, op->query, sizeof(op->query));
	} else if (mode == DB_QUERY_RAW) {
		out_init(&s, op->query, sizeof(op->query));
		/* a NUL inside would cut the attribute short: stop there */
		out_put(&s, q, strnlen(q, n));
	}
}
