// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The JSON reader behind the Kubernetes watcher (see json.h). One pass with an explicit stack
 * (no recursion, so hostile nesting cannot exhaust the thread's stack), every byte checked
 * against the grammar of RFC 8259, so a token handed out always covers well-formed text.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"

enum want {
	WANT_VALUE,
	WANT_VALUE_OR_CLOSE, /* just after '[' */
	WANT_KEY,
	WANT_KEY_OR_CLOSE, /* just after '{' */
	WANT_COLON,
	WANT_COMMA_OR_CLOSE,
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Check the string whose opening quote is at *p; leave *p after the closing quote. */
static int scan_string(const char *s, size_t len, size_t *p)
{
	size_t i = *p + 1;
	int k;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"') {
			*p = i + 1;
			return 0;
		}
		if (c < 0x20)
			return -JSON_ESYNTAX; /* control characters must be escaped */
		if (c != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -JSON_ETRUNC;
		switch (s[i + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			i += 2;
			break;
		case 'u':
			for (k = 0; k < 4; k++) {
				if (i + 2 + k >= len)
					return -JSON_ETRUNC;
				if (hex_val(s[i + 2 + k]) < 0)
					return -JSON_ESYNTAX;
			}
			i += 6;
			break;
		default:
			return -JSON_ESYNTAX;
		}
	}
	return -JSON_ETRUNC;
}

static int scan_digits(const char *s, size_t len, size_t *p)
{
	size_t i = *p;

	if (i >= len)
		return -JSON_ETRUNC;
	if (!is_digit(s[i]))
		return -JSON_ESYNTAX;
	while (i < len && is_digit(s[i]))
		i++;
	*p = i;
	return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(const char *s, size_t len, size_t *p)
{
	size_t i = *p;
	int err;

	if (s[i] == '-')
		i++;
	if (i >= len)
		return -JSON_ETRUNC;
	if (s[i] == '0')
		i++;
	else if ((err = scan_digits(s, len, &i)))
		return err;
	if (i < len && s[i] == '.') {
		i++;
		if ((err = scan_digits(s, len, &i)))
			return err;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if ((err = scan_digits(s, len, &i)))
			return err;
	}
	*p = i;
	return 0;
}

static int scan_literal(const char *s, size_t len, size_t *p, const char *lit)
{
	size_t n = strlen(lit), i;

	for (i = 0; i < n; i++) {
		if (*p + i >= len)
			return -JSON_ETRUNC;
		if (s[*p + i] != lit[i])
			return -JSON_ESYNTAX;
	}
	*p += n;
	return 0;
}

/* A string, literal or number at *p (its first byte tells which): skipped, its type in *type. */
static int scan_scalar(const char *s, size_t len, size_t *p, uint8_t *type)
{
	char c = s[*p];

	if (c == '"') {
		*type = JSON_STRING;
		return scan_string(s, len, p);
	}
	if (c == 't' || c == 'f') {
		*type = JSON_BOOL;
		return scan_literal(s, len, p, c == 't' ? "true" : "false");
	}
	if (c == 'n') {
		*type = JSON_NULL;
		return scan_literal(s, len, p, "null");
	}
	if (c == '-' || is_digit(c)) {
		*type = JSON_NUMBER;
		return scan_number(s, len, p);
	}
	return -JSON_ESYNTAX;
}

int json_parse(const char *text, size_t len, struct json_tok *toks, int max_toks)
{
	int stack[JSON_MAX_DEPTH];
	int depth = 0, n = 0, err, top;
	enum want want = WANT_VALUE;
	bool done = false;
	size_t p = 0, start;
	uint8_t type;

	if (len > JSON_MAX_TEXT)
		return -JSON_ETOOBIG;
	for (;;) {
		while (p < len && is_ws(text[p]))
			p++;
		if (p == len)
			return done ? n : -JSON_ETRUNC;
		if (done)
			return -JSON_ESYNTAX; /* text after the value */
		char c = text[p];

		switch (want) {
		case WANT_COLON:
			if (c != ':')
				return -JSON_ESYNTAX;
			p++;
			want = WANT_VALUE;
			continue;
		case WANT_COMMA_OR_CLOSE:
			top = stack[depth - 1];
			if (c == ',') {
				p++;
				want = toks[top].type == JSON_OBJECT ? WANT_KEY : WANT_VALUE;
				continue;
			}
			if (c != (toks[top].type == JSON_OBJECT ? '}' : ']'))
				return -JSON_ESYNTAX;
			goto close;
		case WANT_KEY_OR_CLOSE:
			if (c == '}')
				goto close;
			/* fall through */
		case WANT_KEY:
			if (c != '"')
				return -JSON_ESYNTAX;
			break;
		case WANT_VALUE_OR_CLOSE:
			if (c == ']')
				goto close;
			break;
		case WANT_VALUE:
			break;
		}

		/* A value (or a key) starts at p. */
		if (n >= max_toks)
			return -JSON_ETOKENS;
		start = p;
		if (c == '{' || c == '[') {
			if (depth == JSON_MAX_DEPTH)
				return -JSON_EDEPTH;
			toks[n] = (struct json_tok){.type = c == '{' ? JSON_OBJECT : JSON_ARRAY,
						    .start = (uint32_t)p};
			stack[depth++] = n++;
			p++;
			want = c == '{' ? WANT_KEY_OR_CLOSE : WANT_VALUE_OR_CLOSE;
			continue;
		}
		err = scan_scalar(text, len, &p, &type);
		if (err)
			return err;
		if (type == JSON_STRING)
			start++;
		toks[n] = (struct json_tok){.type = type, .start = (uint32_t)start,
					    .len = (uint32_t)(p - start - (type == JSON_STRING)),
					    .end = (uint32_t)n + 1};
		n++;
		if (want == WANT_KEY || want == WANT_KEY_OR_CLOSE) {
			want = WANT_COLON;
			continue;
		}
		goto after_value;
close:
		top = stack[--depth];
		toks[top].end = (uint32_t)n;
		toks[top].len = (uint32_t)(p + 1 - toks[top].start);
		p++;
after_value:
		if (!depth)
			done = true;
		else
			want = WANT_COMMA_OR_CLOSE;
	}
}

const char *json_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case JSON_ESYNTAX:
		return "not valid JSON";
	case JSON_ETRUNC:
		return "truncated JSON";
	case JSON_EDEPTH:
		return "JSON nested too deep";
	case JSON_ETOKENS:
		return "too many JSON values";
	case JSON_ETOOBIG:
		return "JSON text too large";
	}
	return "unknown JSON error";
}

/* Append code point cp as UTF-8; returns false when it does not fit (room for the NUL kept). */
static bool put_utf8(char *out, size_t outsz, size_t *o, uint32_t cp)
{
	char b[4];
	size_t n, i;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= outsz)
		return false;
	for (i = 0; i < n; i++)
		out[(*o)++] = b[i];
	return true;
}

static uint32_t hex4(const char *s)
{
	return (uint32_t)(hex_val(s[0]) << 12 | hex_val(s[1]) << 8 | hex_val(s[2]) << 4 |
			  hex_val(s[3]));
}

int json_str(const char *text, const struct json_tok *toks, int i, char *out, size_t outsz)
{
	const char *s, *end;
	size_t o = 0;
	uint32_t cp, lo;

	if (i < 0 || toks[i].type != JSON_STRING || !outsz)
		return -1;
	s = text + toks[i].start;
	end = s + toks[i].len;
	/* The parser checked every escape, so the reads below stay inside the token. */
	while (s < end) {
		if (*s != '\\') {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = *s++;
			continue;
		}
		switch (s[1]) {
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u': cp = 0; break;
		default: cp = (unsigned char)s[1]; break;
		}
		if (s[1] != 'u') {
			s += 2;
		} else {
			cp = hex4(s + 2);
			s += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && end - s >= 6 && s[0] == '\\' &&
			    s[1] == 'u' && (lo = hex4(s + 2)) >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd; /* a lone surrogate is no character */
			}
		}
		if (!cp)
			return -1; /* an embedded NUL would cut the C string short */
		if (!put_utf8(out, outsz, &o, cp))
			return -1;
	}
	out[o] = 0;
	return (int)o;
}

bool json_str_eq(const char *text, const struct json_tok *toks, int i, const char *s)
{
	size_t sl = strlen(s);
	char small[256], *buf = small;
	bool eq;
	int n;

	if (i < 0 || toks[i].type != JSON_STRING || toks[i].len < sl)
		return false; /* an escape only makes the text longer than what it stands for */
	if (!memchr(text + toks[i].start, '\\', toks[i].len))
		return toks[i].len == sl && !memcmp(text + toks[i].start, s, sl);
	if (sl + 1 > sizeof(small) && !(buf = malloc(sl + 1)))
		return false;
	n = json_str(text, toks, i, buf, sl + 1);
	eq = n == (int)sl && !memcmp(buf, s, sl);
	if (buf != small)
		free(buf);
	return eq;
}

int json_get(const char *text, const struct json_tok *toks, int obj, const char *key)
{
	int i;

	if (obj < 0 || toks[obj].type != JSON_OBJECT)
		return -1;
	for (i = obj + 1; i < (int)toks[obj].end; i = (int)toks[i + 1].end)
		if (json_str_eq(text, toks, i, key))
			return i + 1;
	return -1;
}

int json_first(const struct json_tok *toks, int arr)
{
	if (arr < 0 || (toks[arr].type != JSON_ARRAY && toks[arr].type != JSON_OBJECT))
		return -1;
	return (int)toks[arr].end > arr + 1 ? arr + 1 : -1;
}

int json_next(const struct json_tok *toks, int parent, int i)
{
	int j;

	if (parent < 0 || i < 0)
		return -1;
	j = toks[parent].type == JSON_OBJECT ? (int)toks[i + 1].end : (int)toks[i].end;
	return j < (int)toks[parent].end ? j : -1;
}

bool json_bool(const char *text, const struct json_tok *toks, int i, bool def)
{
	if (i < 0 || toks[i].type != JSON_BOOL)
		return def;
	return text[toks[i].start] == 't';
}

long long json_int(const char *text, const struct json_tok *toks, int i, long long def)
{
	const char *s, *end;
	long long v = 0;
	bool neg;

	if (i < 0 || toks[i].type != JSON_NUMBER)
		return def;
	s = text + toks[i].start;
	end = s + toks[i].len;
	neg = *s == '-';
	if (neg)
		s++;
	for (; s < end; s++) {
		if (!is_digit(*s))
			return def; /* a fraction or an exponent */
		if (v > (__LONG_LONG_MAX__ - 9) / 10)
			return def;
		v = v * 10 + (*s - '0');
	}
	return neg ? -v : v;
}
