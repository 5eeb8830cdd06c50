/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x head decoding (RFC 9112) for the bytes sonde captures from sockets: request and
 * status lines, the few header fields tracing needs, body framing, an incremental chunked-body
 * tracker and a route template from a path. Everything here is pure and runs on the agent's hot
 * path, so each parser walks the head once, byte by byte, and decides INVALID as soon as a byte
 * cannot belong to HTTP/1.x: most sockets sonde sees carry other protocols.
 */
#include "decoders/http1.h"

#include <string.h>

/* Longest method accepted; real ones are short, and a bound rejects garbage early. */
#define HTTP1_MAX_METHOD 24
/* Leading empty lines ignored before a request line (RFC 9112 section 2.2). */
#define HTTP1_MAX_LEADING_EMPTY 2

/*
 * Byte classes, one table lookup per byte in every scanning loop. Read-only: the decoders keep
 * no state outside their arguments.
 */
#define C_TCHAR 0x01  /* token (method, field name) */
#define C_VCHAR 0x02  /* allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text */
#define C_TARGET 0x04 /* allowed in a request-target: anything visible, obs-text tolerated */
#define C_HEX 0x08
#define C_DIGIT 0x10
#define C_ALPHA 0x20

#define TVG (C_TCHAR | C_VCHAR | C_TARGET)
#define VG (C_VCHAR | C_TARGET)

static const uint8_t http1_cls[256] = {
	['\t'] = C_VCHAR,
	[' '] = C_VCHAR,
	['!'] = TVG,
	['"'] = VG,
	['#'] = TVG,
	['$'] = TVG,
	['%'] = TVG,
	['&'] = TVG,
	['\''] = TVG,
	['('] = VG,
	[')'] = VG,
	['*'] = TVG,
	['+'] = TVG,
	[','] = VG,
	['-'] = TVG,
	['.'] = TVG,
	['/'] = VG,
	['0' ... '9'] = TVG | C_HEX | C_DIGIT,
	[':' ... '@'] = VG,
	['A' ... 'F'] = TVG | C_HEX | C_ALPHA,
	['G' ... 'Z'] = TVG | C_ALPHA,
	['['] = VG,
	['\\'] = VG,
	[']'] = VG,
	['^'] = TVG,
	['_'] = TVG,
	['`'] = TVG,
	['a' ... 'f'] = TVG | C_HEX | C_ALPHA,
	['g' ... 'z'] = TVG | C_ALPHA,
	['{'] = VG,
	['|'] = TVG,
	['}'] = VG,
	['~'] = TVG,
	[0x80 ... 0xff] = VG,
};

static inline bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Slices are 16-bit; a longer one is cut, which still leaves a usable prefix of it. */
static inline void set_str(struct http1_str *s, const uint8_t *p, size_t n)
{
	s->p = (const char *)p;
	s->len = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
}

/* Case-insensitive compare against a lowercase literal; p holds n validated token bytes. */
static inline bool lc_eq(const uint8_t *p, size_t n, const char *lower, size_t lower_len)
{
	size_t i;

	if (n != lower_len)
		return false;
	/* OR-ing 0x20 folds ASCII letters; no other token byte maps onto a letter, '-' or digit. */
	for (i = 0; i < n; i++)
		if ((p[i] | 0x20) != (uint8_t)lower[i])
			return false;
	return true;
}

#define LC_EQ(p, n, lit) lc_eq((p), (n), lit, sizeof(lit) - 1)

/* Line end at buf[*i]: CRLF or a bare LF. OK advances *i past it. */
static inline enum http1_result eat_eol(const uint8_t *b, size_t len, size_t *i)
{
	if (*i >= len)
		return HTTP1_INCOMPLETE;
	if (b[*i] == '\n') {
		*i += 1;
		return HTTP1_OK;
	}
	if (b[*i] != '\r')
		return HTTP1_INVALID;
	if (*i + 1 >= len)
		return HTTP1_INCOMPLETE;
	if (b[*i + 1] != '\n')
		return HTTP1_INVALID;
	*i += 2;
	return HTTP1_OK;
}

/* "HTTP/1." DIGIT at buf[*i], matched as far as the buffer goes; OK advances past the digit. */
static enum http1_result eat_version(const uint8_t *b, size_t len, size_t *i, uint8_t *minor)
{
	static const char v[] = "HTTP/1.";
	size_t k, at = *i;

	for (k = 0; k < sizeof(v) - 1; k++) {
		if (at + k >= len)
			return HTTP1_INCOMPLETE;
		if (b[at + k] != (uint8_t)v[k])
			return HTTP1_INVALID;
	}
	at += k;
	if (at >= len)
		return HTTP1_INCOMPLETE;
	if (!(http1_cls[b[at]] & C_DIGIT))
		return HTTP1_INVALID;
	*minor = (uint8_t)(b[at] - '0');
	*i = at + 1;
	return HTTP1_OK;
}

/* What the header section says about framing and the connection, for requests and responses. */
struct http1_fields {
	uint64_t content_length;
	bool cl_seen;
	bool te_seen;	 /* a non-empty Transfer-Encoding */
	bool te_chunked; /* ... whose final coding is chunked */
	bool conn_close;
	bool conn_keep_alive;
	bool conn_upgrade;
	bool upgrade_hdr;
	bool upgrade_h2c; /* ... that offers h2c */
	bool expect_continue;
};

/*
 * Content-Length: 1*DIGIT. A list ("5, 5") is not accepted: senders do not produce it and a
 * recipient may reject it; disagreeing duplicates are the request-smuggling case and are invalid.
 */
static enum http1_result field_content_length(const uint8_t *v, size_t n, struct http1_fields *f)
{
	uint64_t cl = 0;
	size_t i;

	if (!n)
		return HTTP1_INVALID;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)v[i] - '0';

		if (d > 9 || cl > (UINT64_MAX - d) / 10)
			return HTTP1_INVALID;
		cl = cl * 10 + d;
	}
	if (f->cl_seen && f->content_length != cl)
		return HTTP1_INVALID;
	f->cl_seen = true;
	f->content_length = cl;
	return HTTP1_OK;
}

/*
 * Transfer-Encoding: only the final coding matters for framing. Header lines combine in order,
 * so each non-empty line replaces what the previous ones said. Scanned backwards from the end
 * because the last list element is the one wanted.
 */
static void field_transfer_encoding(const uint8_t *v, size_t n, struct http1_fields *f)
{
	size_t e = n, s;

	while (e > 0 && (is_ows(v[e - 1]) || v[e - 1] == ','))
		e--;
	if (!e)
		return;
	s = e;
	while (s > 0 && v[s - 1] != ',')
		s--;
	while (s < e && is_ows(v[s]))
		s++;
	f->te_seen = true;
	f->te_chunked = LC_EQ(v + s, e - s, "chunked");
}

/* Whether the comma list v[0, n) holds the token lit (case-insensitive). */
static bool has_token(const uint8_t *v, size_t n, const char *lit, size_t lit_len)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && is_ows(v[e - 1]))
			e--;
		if (lc_eq(v + s, e - s, lit, lit_len))
			return true;
	}
	return false;
}

#define HAS_TOKEN(v, n, lit) has_token((v), (n), lit, sizeof(lit) - 1)

/* Connection: a comma-separated list of tokens, case-insensitive. */
static void field_connection(const uint8_t *v, size_t n, struct http1_fields *f)
{
	f->conn_close = f->conn_close || HAS_TOKEN(v, n, "close");
	f->conn_keep_alive = f->conn_keep_alive || HAS_TOKEN(v, n, "keep-alive");
	f->conn_upgrade = f->conn_upgrade || HAS_TOKEN(v, n, "upgrade");
}

static inline void pick(struct http1_str *s, const uint8_t *v, size_t n)
{
	/* The first occurrence wins: later duplicates are what an attacker would append. */
	if (!s->p)
		set_str(s, v, n);
}

/*
 * One header field, name [ns, ns + nlen) and trimmed value v[0, n). Names are matched by length
 * first, so most fields cost one switch and, at most, one or two short compares.
 */
static enum http1_result field(const uint8_t *name, size_t nlen, const uint8_t *v, size_t n,
			       struct http1_fields *f, struct http1_request *req)
{
	switch (nlen) {
	case 2:
		if (req && LC_EQ(name, nlen, "b3"))
			pick(&req->b3, v, n);
		break;
	case 4:
		if (req && LC_EQ(name, nlen, "host"))
			pick(&req->host, v, n);
		break;
	case 6:
		if (req && LC_EQ(name, nlen, "expect") && LC_EQ(v, n, "100-continue"))
			f->expect_continue = true;
		break;
	case 7:
		if (LC_EQ(name, nlen, "upgrade") && n) {
			f->upgrade_hdr = true;
			f->upgrade_h2c = f->upgrade_h2c || HAS_TOKEN(v, n, "h2c");
		}
		break;
	case 10:
		if (LC_EQ(name, nlen, "connection"))
			field_connection(v, n, f);
		else if (req && LC_EQ(name, nlen, "user-agent"))
			pick(&req->user_agent, v, n);
		else if (req && LC_EQ(name, nlen, "tracestate"))
			pick(&req->tracestate, v, n);
		break;
	case 11:
		if (req && LC_EQ(name, nlen, "traceparent"))
			pick(&req->traceparent, v, n);
		else if (req && LC_EQ(name, nlen, "x-b3-spanid"))
			pick(&req->x_b3_spanid, v, n);
		break;
	case 12:
		if (req && LC_EQ(name, nlen, "x-b3-traceid"))
			pick(&req->x_b3_traceid, v, n);
		else if (req && LC_EQ(name, nlen, "x-b3-sampled"))
			pick(&req->x_b3_sampled, v, n);
		break;
	case 13:
		if (req && LC_EQ(name, nlen, "uber-trace-id"))
			pick(&req->uber, v, n);
		break;
	case 14:
		if (LC_EQ(name, nlen, "content-length"))
			return field_content_length(v, n, f);
		break;
	case 17:
		if (LC_EQ(name, nlen, "transfer-encoding"))
			field_transfer_encoding(v, n, f);
		break;
	}
	return HTTP1_OK;
}

/*
 * The header section from buf[*pos] through the empty line that ends it; OK sets *pos to the
 * head length. req is NULL for a response (no request-only fields to pick).
 */
static enum http1_result parse_fields(const uint8_t *b, size_t len, size_t *pos,
				      struct http1_fields *f, struct http1_request *req)
{
	size_t i = *pos, ns, ne, vs, ve;
	enum http1_result r;

	for (;;) {
		if (i >= len)
			return HTTP1_INCOMPLETE;
		if (b[i] == '\r' || b[i] == '\n') {
			r = eat_eol(b, len, &i);
			if (r == HTTP1_OK)
				*pos = i;
			return r;
		}
		/*
		 * field-name ":" OWS field-value OWS. A line starting with whitespace (obs-fold),
		 * whitespace before the colon or a line without one stops the name scan on a byte
		 * that is not ':', which makes the head invalid.
		 */
		ns = i;
		while (i < len && (http1_cls[b[i]] & C_TCHAR))
			i++;
		if (i >= len)
			return HTTP1_INCOMPLETE;
		if (b[i] != ':' || i == ns)
			return HTTP1_INVALID;
		ne = i++;
		while (i < len && is_ows(b[i]))
			i++;
		vs = i;
		while (i < len && (http1_cls[b[i]] & C_VCHAR))
			i++;
		ve = i;
		r = eat_eol(b, len, &i);
		if (r != HTTP1_OK)
			return r;
		while (ve > vs && is_ows(b[ve - 1]))
			ve--;
		r = field(b + ns, ne - ns, b + vs, ve - vs, f, req);
		if (r != HTTP1_OK)
			return r;
	}
}

bool http1_is_request_start(const uint8_t *buf, size_t len)
{
	/* the methods of RFC 9110 section 9 and RFC 5789, with the space that must follow */
	static const struct {
		char s[9];
		uint8_t n;
	} methods[] = {
		{ "GET ", 4 },	  { "HEAD ", 5 },     { "POST ", 5 },	 { "PUT ", 4 },
		{ "DELETE ", 7 }, { "CONNECT ", 8 }, { "OPTIONS ", 8 }, { "TRACE ", 6 },
		{ "PATCH ", 6 },
	};
	size_t k;

	if (!buf || len < 4)
		return false;
	for (k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (buf[0] == (uint8_t)methods[k].s[0] && len >= methods[k].n &&
		    !memcmp(buf, methods[k].s, methods[k].n))
			return true;
	return false;
}

bool http1_is_response_start(const uint8_t *buf, size_t len)
{
	return buf && len >= 7 && !memcmp(buf, "HTTP/1.", 7);
}

/* method SP at *i: a token, at most HTTP1_MAX_METHOD bytes. */
static enum http1_result eat_method(const uint8_t *b, size_t len, size_t *i,
				    struct http1_request *out)
{
	size_t ms = *i, lim = len - *i > HTTP1_MAX_METHOD ? *i + HTTP1_MAX_METHOD : len;

	while (*i < lim && (http1_cls[b[*i]] & C_TCHAR))
		(*i)++;
	if (*i >= len)
		return HTTP1_INCOMPLETE;
	if (b[*i] != ' ' || *i == ms)
		return HTTP1_INVALID;
	set_str(&out->method, b + ms, *i - ms);
	(*i)++;
	return HTTP1_OK;
}

/*
 * The absolute-form prefix at *i, scheme "://" authority: consumed, so that the path scan
 * starts at the path. *ps is where the path starts; *empty_path when there is none ("/").
 */
static enum http1_result eat_absolute_prefix(const uint8_t *b, size_t len, size_t *i, size_t *ps,
					     bool *empty_path)
{
	int k;

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (!(http1_cls[b[*i]] & C_ALPHA))
		return HTTP1_INVALID;
	while (*i < len && ((http1_cls[b[*i]] & (C_ALPHA | C_DIGIT)) || b[*i] == '+' ||
			    b[*i] == '-' || b[*i] == '.'))
		(*i)++;
	for (k = 0; k < 3; k++, (*i)++) {
		if (*i >= len)
			return HTTP1_INCOMPLETE;
		if (b[*i] != (uint8_t)"://"[k])
			return HTTP1_INVALID;
	}
	/* An empty path is "/": borrow the second slash of "://", which is inside buf. */
	*ps = *i - 1;
	*empty_path = true;
	while (*i < len && (http1_cls[b[*i]] & C_TARGET) && b[*i] != '/' && b[*i] != '?')
		(*i)++;
	if (*i < len && b[*i] == '/') {
		*ps = *i;
		*empty_path = false;
	}
	return HTTP1_OK;
}

/*
 * request-target SP at *i. The form is known from its first byte: origin-form "/...",
 * asterisk-form "*", authority-form for CONNECT, else absolute-form.
 */
static enum http1_result eat_target(const uint8_t *b, size_t len, size_t *i,
				    struct http1_request *out)
{
	size_t ts = *i, ps = *i, q = 0;
	bool empty_path = false;
	enum http1_result r;

	if (*i >= len)
		return HTTP1_INCOMPLETE;
	if (b[*i] == '*') {
		/* asterisk-form: exactly "*" */
		(*i)++;
		if (*i >= len)
			return HTTP1_INCOMPLETE;
		if (b[*i] != ' ')
			return HTTP1_INVALID;
	} else if (b[*i] != '/' && out->method.len == 7 && !memcmp(out->method.p, "CONNECT", 7)) {
		ps = SIZE_MAX; /* authority-form: no path; the scan below only checks the bytes */
	} else if (b[*i] != '/') {
		r = eat_absolute_prefix(b, len, i, &ps, &empty_path);
		if (r != HTTP1_OK)
			return r;
	}
	for (; *i < len && (http1_cls[b[*i]] & C_TARGET); (*i)++)
		if (b[*i] == '?' && !q)
			q = *i;
	if (*i >= len)
		return HTTP1_INCOMPLETE;
	if (b[*i] != ' ' || *i == ts)
		return HTTP1_INVALID;
	set_str(&out->target, b + ts, *i - ts);
	if (ps == SIZE_MAX) {
		/* authority-form has neither path nor query */
		set_str(&out->path, b + ts, 0);
		q = 0;
	} else if (empty_path) {
		set_str(&out->path, b + ps, 1);
	} else {
		set_str(&out->path, b + ps, (q ? q : *i) - ps);
	}
	if (q)
		set_str(&out->query, b + q + 1, *i - q - 1);
	else
		set_str(&out->query, b + *i, 0);
	(*i)++;
	return HTTP1_OK;
}

enum http1_result http1_parse_request(const uint8_t *buf, size_t len, struct http1_request *out)
{
	const uint8_t *b = buf;
	struct http1_fields f = { 0 };
	enum http1_result r;
	size_t i = 0;
	int k;

	memset(out, 0, sizeof(*out));
	if (!buf)
		return HTTP1_INVALID;
	/* head_len is 32-bit: a head cannot end beyond that, so nothing past it is looked at. */
	if (len > UINT32_MAX)
		len = UINT32_MAX;

	for (k = 0; k < HTTP1_MAX_LEADING_EMPTY && i < len && (b[i] == '\r' || b[i] == '\n'); k++) {
		r = eat_eol(b, len, &i);
		if (r != HTTP1_OK)
			return r;
	}
	r = eat_method(b, len, &i, out);
	if (r == HTTP1_OK)
		r = eat_target(b, len, &i, out);
	/* HTTP-version CRLF */
	if (r == HTTP1_OK)
		r = eat_version(b, len, &i, &out->version_minor);
	if (r == HTTP1_OK)
		r = eat_eol(b, len, &i);
	if (r == HTTP1_OK)
		r = parse_fields(b, len, &i, &f, out);
	if (r != HTTP1_OK)
		return r;

	/*
	 * Framing, RFC 9112 section 6.3: chunked as the final coding wins over Content-Length;
	 * any other final coding leaves a request without a knowable length, which a server must
	 * reject, so sonde does too. Content-Length: 0 is reported as no body (framing NONE).
	 */
	if (f.te_seen) {
		if (!f.te_chunked)
			return HTTP1_INVALID;
		out->framing = HTTP1_BODY_CHUNKED;
	} else if (f.cl_seen && f.content_length) {
		out->framing = HTTP1_BODY_LENGTH;
		out->content_length = f.content_length;
	} else {
		out->framing = HTTP1_BODY_NONE;
	}
	out->expect_continue = f.expect_continue;
	out->conn_close = f.conn_close;
	out->conn_keep_alive = f.conn_keep_alive;
	out->upgrade = f.conn_upgrade && f.upgrade_hdr;
	out->upgrade_h2c = out->upgrade && f.upgrade_h2c;
	out->head_len = (uint32_t)i;
	return HTTP1_OK;
}

enum http1_result http1_parse_response(const uint8_t *buf, size_t len, bool head_request,
				       struct http1_response *out)
{
	const uint8_t *b = buf;
	struct http1_fields f = { 0 };
	size_t i = 0;
	unsigned status = 0;
	enum http1_result r;
	int k;

	memset(out, 0, sizeof(*out));
	if (!buf)
		return HTTP1_INVALID;
	if (len > UINT32_MAX)
		len = UINT32_MAX;

	/* HTTP-version SP 3DIGIT SP reason-phrase CRLF; the reason (and its SP) may be absent. */
	r = eat_version(b, len, &i, &out->version_minor);
	if (r != HTTP1_OK)
		return r;
	if (i >= len)
		return HTTP1_INCOMPLETE;
	if (b[i++] != ' ')
		return HTTP1_INVALID;
	for (k = 0; k < 3; k++, i++) {
		if (i >= len)
			return HTTP1_INCOMPLETE;
		/* 100..599: a first digit outside 1-5 is rejected as soon as it is seen */
		if (!(http1_cls[b[i]] & C_DIGIT) || (k == 0 && (b[i] < '1' || b[i] > '5')))
			return HTTP1_INVALID;
		status = status * 10 + (b[i] - '0');
	}
	if (i >= len)
		return HTTP1_INCOMPLETE;
	if (b[i] == ' ') {
		i++;
		while (i < len && (http1_cls[b[i]] & C_VCHAR))
			i++;
	}
	r = eat_eol(b, len, &i);
	if (r != HTTP1_OK)
		return r;

	r = parse_fields(b, len, &i, &f, NULL);
	if (r != HTTP1_OK)
		return r;

	/*
	 * Framing, RFC 9112 section 6.3: no body after HEAD or with 1xx/204/304 whatever the
	 * fields say; chunked as final coding; another final coding runs until close; then
	 * Content-Length; without either the body runs until the connection closes.
	 */
	out->status = (uint16_t)status;
	if (head_request || status < 200 || status == 204 || status == 304)
		out->framing = HTTP1_BODY_NONE;
	else if (f.te_seen)
		out->framing = f.te_chunked ? HTTP1_BODY_CHUNKED : HTTP1_BODY_UNTIL_CLOSE;
	else if (f.cl_seen)
		out->framing = f.content_length ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	else
		out->framing = HTTP1_BODY_UNTIL_CLOSE;
	if (out->framing == HTTP1_BODY_LENGTH)
		out->content_length = f.content_length;
	out->conn_close = f.conn_close;
	out->conn_keep_alive = f.conn_keep_alive;
	out->head_len = (uint32_t)i;
	return HTTP1_OK;
}

/*
 * Chunked transfer coding (RFC 9112 section 7.1), one state per syntactic position so that a
 * piece may end anywhere:
 *   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, last-chunk = "0" [ chunk-ext ] CRLF,
 *   then trailer fields and the final CRLF. Bare LF is accepted wherever CRLF is, as in heads.
 */
enum {
	CH_SIZE_START = 0, /* first hex digit of a chunk-size */
	CH_SIZE,	   /* more hex digits */
	CH_SIZE_WS,	   /* BWS after the size, before ';' or the line end */
	CH_EXT,		   /* chunk extensions: skipped up to the line end */
	CH_SIZE_LF,	   /* LF after CR on the size line */
	CH_DATA,	   /* remaining bytes of chunk-data */
	CH_DATA_CR,	   /* CRLF after chunk-data */
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line, or the final empty line */
	CH_TRAILER,	  /* inside a trailer line */
	CH_TRAILER_LF,	  /* LF after CR at the end of a trailer line */
	CH_END_LF,	  /* LF of the final CRLF */
	CH_DONE,
	CH_ERROR,
};

void http1_chunked_init(struct http1_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE_START;
}

/* The size line ended: data follows, or the last chunk was seen and trailers follow. */
static inline void chunk_size_done(struct http1_chunked *c)
{
	c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
	c->hex_digits = 0;
}

/* A byte of a size line (its digits, BWS, the extensions, the line end): c->state moves on. */
static void chunk_size_byte(struct http1_chunked *c, uint8_t ch)
{
	unsigned d;

	switch (c->state) {
	case CH_SIZE_START:
	case CH_SIZE:
		if (http1_cls[ch] & C_HEX) {
			/* 16 significant hex digits fill 64 bits; leading zeros are free */
			if (c->remaining >> 60) {
				c->state = CH_ERROR;
				return;
			}
			d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
			c->remaining = (c->remaining << 4) | d;
			c->hex_digits++;
			c->state = CH_SIZE;
			return;
		}
		if (c->state == CH_SIZE_START) {
			c->state = CH_ERROR;
			return;
		}
		/* fallthrough */
	case CH_SIZE_WS:
		if (is_ows(ch))
			c->state = CH_SIZE_WS;
		else if (ch == ';')
			c->state = CH_EXT;
		else if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (ch == '\n')
			chunk_size_done(c);
		else
			c->state = CH_ERROR;
		return;
	case CH_EXT:
		/* extensions are not interpreted; they just must not hide a line break */
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (ch == '\n')
			chunk_size_done(c);
		else if (!(http1_cls[ch] & C_VCHAR))
			c->state = CH_ERROR;
		return;
	default: /* CH_SIZE_LF */
		if (ch != '\n')
			c->state = CH_ERROR;
		else
			chunk_size_done(c);
		return;
	}
}

/* A byte after the chunk data or of the trailer section: c->state moves on (CH_DONE at the
 * final empty line). */
static void chunk_tail_byte(struct http1_chunked *c, uint8_t ch)
{
	switch (c->state) {
	case CH_DATA_CR:
		c->state = ch == '\r' ? CH_DATA_LF : ch == '\n' ? CH_SIZE_START : CH_ERROR;
		return;
	case CH_DATA_LF:
	case CH_TRAILER_LF:
		c->state = ch == '\n' ? (c->state == CH_DATA_LF ? CH_SIZE_START : CH_TRAILER_START)
				      : CH_ERROR;
		return;
	case CH_TRAILER_START:
		if (ch == '\n')
			c->state = CH_DONE;
		else if (ch == '\r')
			c->state = CH_END_LF;
		else
			c->state = http1_cls[ch] & C_TCHAR ? CH_TRAILER : CH_ERROR;
		return;
	case CH_TRAILER:
		/* trailer fields are not used; their bytes are checked as field values */
		if (ch == '\r')
			c->state = CH_TRAILER_LF;
		else if (ch == '\n')
			c->state = CH_TRAILER_START;
		else if (!(http1_cls[ch] & C_VCHAR))
			c->state = CH_ERROR;
		return;
	default: /* CH_END_LF */
		c->state = ch == '\n' ? CH_DONE : CH_ERROR;
		return;
	}
}

enum http1_chunk_result http1_chunked_feed(struct http1_chunked *c, const uint8_t *buf, size_t len,
					   size_t *used)
{
	size_t i = 0, n;

	if (c->state == CH_DONE || c->state == CH_ERROR) {
		*used = 0;
		return c->state == CH_DONE ? HTTP1_CHUNK_DONE : HTTP1_CHUNK_ERROR;
	}
	while (i < len) {
		if (c->state == CH_DATA) {
			/* the only state that takes many bytes at once: a memchr-free skip */
			n = len - i;
			if ((uint64_t)n >= c->remaining) {
				n = (size_t)c->remaining;
				c->state = CH_DATA_CR;
			}
			c->remaining -= n;
			c->data += n;
			i += n;
			continue;
		}
		if (c->state <= CH_SIZE_LF)
			chunk_size_byte(c, buf[i]);
		else
			chunk_tail_byte(c, buf[i]);
		if (c->state == CH_ERROR) {
			*used = i;
			return HTTP1_CHUNK_ERROR;
		}
		i++;
		if (c->state == CH_DONE) {
			*used = i;
			return HTTP1_CHUNK_DONE;
		}
	}
	*used = len;
	return HTTP1_CHUNK_MORE;
}

bool http1_chunked_skip(struct http1_chunked *c, uint64_t len)
{
	if (!len)
		return true;
	if (c->state != CH_DATA || len > c->remaining) {
		/* the tracker lost its place in the coding: nothing after this can be trusted */
		c->state = CH_ERROR;
		return false;
	}
	c->remaining -= len;
	c->data += len;
	if (!c->remaining)
		c->state = CH_DATA_CR;
	return true;
}

/* Route templates. */

#define ROUTE_ID "{id}"
/* Below this length only digit runs and UUIDs count as ids: short segments are names. */
#define ROUTE_MIN_OPAQUE 16
#define UUID_LEN 36

/*
 * Does the segment s[0, n) look like an identifier? One pass collects what the rules need:
 * all digits; a UUID (8-4-4-4-12 hex); hex of at least 16 (object ids, digests); or an opaque
 * token of at least 16 base64url-ish bytes mixing letters and digits. The token rule asks for
 * at least two letter/digit alternations so that "release-notes-2024" stays a name while
 * "aZ3kq9Lm2xYt7PwQ" does not; a '.' anywhere keeps file names ("jquery-3.7.1.min.js") static.
 */
static bool route_is_id(const char *s, size_t n)
{
	size_t i, digits = 0, hex = 0, letters = 0, other = 0, flips = 0;
	bool uuid = n == UUID_LEN;
	int last = 0; /* 1 letter, 2 digit */

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i], k = http1_cls[c];

		if (uuid) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				uuid = c == '-';
			else
				uuid = k & C_HEX;
		}
		if (k & C_HEX)
			hex++;
		if (k & C_DIGIT) {
			digits++;
			flips += last == 1;
			last = 2;
		} else if (k & C_ALPHA) {
			letters++;
			flips += last == 2;
			last = 1;
		} else if (c != '-' && c != '_' && c != '=' && c != '+') {
			other++;
		}
	}
	if (digits == n || uuid)
		return true;
	if (n < ROUTE_MIN_OPAQUE)
		return false;
	if (hex == n)
		return true;
	return !other && digits && letters && flips >= 2;
}

/* Append src[0, n) to out, cut to what fits before the terminating NUL. */
static inline void route_emit(char *out, size_t outsz, size_t *o, const char *src, size_t n)
{
	size_t room = outsz - 1 - *o;

	if (n > room)
		n = room;
	memcpy(out + *o, src, n);
	*o += n;
}

size_t http_route_from_path(const char *path, size_t len, char *out, size_t outsz)
{
	size_t end = 0, i, s, o = 0;

	if (!out || !outsz)
		return 0;
	/*
	 * The path ends at the query or fragment, and at any byte a request-target cannot hold
	 * (controls, space, NUL), so that the result is always a plain C string.
	 */
	if (path)
		while (end < len && path[end] != '?' && path[end] != '#' &&
		       (http1_cls[(uint8_t)path[end]] & C_TARGET))
			end++;
	if (!end || path[0] != '/') {
		route_emit(out, outsz, &o, "/", 1);
		out[o] = '\0';
		return o;
	}
	/* path[i] is always a '/' here; each turn emits it and the segment after it */
	for (i = 0; i < end && o < outsz - 1; i = s) {
		route_emit(out, outsz, &o, "/", 1);
		s = ++i;
		while (s < end && path[s] != '/')
			s++;
		if (route_is_id(path + i, s - i))
			route_emit(out, outsz, &o, ROUTE_ID, sizeof(ROUTE_ID) - 1);
		else
			route_emit(out, outsz, &o, path + i, s - i);
	}
	out[o] = '\0';
	return o;
}
