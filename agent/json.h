/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small JSON reader for what the Kubernetes API returns: the text is checked in full and cut
 * into a flat array of tokens that the caller provides, so memory is bounded by the caller and
 * nothing is allocated here. Nesting is bounded (JSON_MAX_DEPTH); strings keep their escapes
 * in the tokens and are decoded only when copied out. Pure, for the unit tests and the fuzzer.
 */
#ifndef SONDE_JSON_H
#define SONDE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64
/* Texts longer than this are refused: token offsets are 32-bit. */
#define JSON_MAX_TEXT (1u << 30)

enum json_type {
	JSON_NULL = 1,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

/* Errors json_parse returns (negated). */
enum json_error {
	JSON_ESYNTAX = 1, /* not JSON: a stray byte, a bad escape or number, trailing text */
	JSON_ETRUNC,	  /* the text ends inside a value */
	JSON_EDEPTH,	  /* nested deeper than JSON_MAX_DEPTH */
	JSON_ETOKENS,	  /* more values than the token array holds */
	JSON_ETOOBIG,	  /* longer than JSON_MAX_TEXT */
};

struct json_tok {
	uint8_t type;	/* enum json_type */
	uint8_t pad[3];
	uint32_t start; /* first byte; for a string, the one after the opening quote */
	uint32_t len;	/* bytes; for a string, between the quotes, escapes undecoded */
	uint32_t end;	/* index of the token after this value and everything inside it */
};

/*
 * Parse one JSON value (surrounded by optional white space) into toks. Object members are a
 * string token (the key) followed by the value's tokens. Returns the number of tokens, or a
 * negative enum json_error.
 */
int json_parse(const char *text, size_t len, struct json_tok *toks, int max_toks);
const char *json_strerror(int err);

/* Token index of key's value in the object at obj, or -1 (not an object, no such key). */
int json_get(const char *text, const struct json_tok *toks, int obj, const char *key);
/* First element of the array at arr (or first key of an object), or -1 when empty. */
int json_first(const struct json_tok *toks, int arr);
/* The next element of the array or object at parent after the element at i, or -1. */
int json_next(const struct json_tok *toks, int parent, int i);

/*
 * Decode the string at i into out (NUL-terminated). Returns its length, or -1 when i is not a
 * string, does not fit in outsz (nothing half-copied is meant to be used), or holds a NUL.
 */
int json_str(const char *text, const struct json_tok *toks, int i, char *out, size_t outsz);
/* Whether the string at i decodes to exactly s. */
bool json_str_eq(const char *text, const struct json_tok *toks, int i, const char *s);
/* The boolean at i, or def when i is not a boolean. */
bool json_bool(const char *text, const struct json_tok *toks, int i, bool def);
/* The integer at i (no fraction or exponent), or def. */
long long json_int(const char *text, const struct json_tok *toks, int i, long long def);

#endif /* SONDE_JSON_H */
