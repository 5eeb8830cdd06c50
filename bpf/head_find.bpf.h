/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace context behind large request heads (sonde_event.h, SONDE_HEAD_FIND_MAX). A record
 * carries the first capture_bytes of an I/O; a request whose cookies or tokens fill those has its
 * traceparent further on, where the agent never sees it. So for a request (read by a server,
 * or sent by a client) whose I/O holds more than its record carries, the kernel searches the
 * head on: it walks the line feeds,
 * stops at the empty line that ends the head, and copies the lines that start with a context
 * header's name (traceparent, tracestate, b3, X-B3-*, uber-trace-id) as entries after the
 * payload. A head read in several I/Os is searched on in the run's next recorded I/Os: the
 * connection's state says whether the last I/O ended the head, at a line start, or in "\r"
 * after a line feed; the short piece of a line an I/O ends in is copied too, so that the agent
 * can join a name cut by the I/O's end to the next record's first bytes.
 *
 * The search is a bpf_loop, one step per 64 bytes, so that the verifier checks one step and not
 * a head's length; the user's bytes are copied into a per-CPU scratch (maps/
 * find_scratch.bpf.h) a chunk at a time as the steps reach them, so that a head that ends
 * early costs its own bytes, whatever the size of the I/O that brought it. Included by
 * capture.bpf.h, whose sock_io it searches.
 */
#ifndef SONDE_HEAD_FIND_BPF_H
#define SONDE_HEAD_FIND_BPF_H

/* Bits of the connection's head_scan: how the last searched I/O left the head. */
#define HS_OPEN 1 /* the head goes on: search the run's next I/O */
#define HS_LINE 2 /* ... and that I/O starts a line */
#define HS_CR 4	  /* ... or ends one: the last I/O ended in "\n\r", a "\n" first ends the head */

#define FIND_NO_LINE 0xffffffffu
/* Who searches: the scratch's stamp (maps/find_scratch.bpf.h). */
#define FIND_OWNER(io) ((io)->pid_tgid ^ (io)->ts)

/* x & (m - 1) for an x already checked below m, a power of two: a no-op, kept in the register
 * that addresses memory, so that the verifier sees the bound clang would drop as redundant. */
#define FIND_BOUND(v, m) asm volatile("%[r] &= %[k]" : [r] "+r"(v) : [k] "i"((m) - 1))

/* Copy the I/O's bytes up to want (bounded by its length), if not done yet: one chunk. */
static __always_inline bool find_fill(struct sonde_find_scratch *s, __u32 want)
{
	struct head_find *f = &s->f;
	__u32 at = f->filled;
	__u64 n;

	if (at >= want || at >= f->len)
		return true;
	if (at >= SONDE_HEAD_FIND_MAX)
		return false;
	n = f->len - at;
	asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t"
		     : [n] "+r"(n)
		     : [m] "i"(FIND_CHUNK));
	FIND_BOUND(at, SONDE_HEAD_FIND_MAX);
	if (bpf_probe_read_user(s->buf + at, n, (const void *)(f->user + at))) {
		f->fail = 1;
		return false;
	}
	f->filled = at + n;
	return true;
}

/* The 8 bytes at p, those at and past the search's end zero (no line feed, no name). */
static __always_inline __u64 find_word(const struct sonde_find_scratch *s, __u32 p)
{
	__u32 left;
	__u64 w;

	if (p >= s->f.len || p >= SONDE_HEAD_FIND_MAX)
		return 0;
	FIND_BOUND(p, SONDE_HEAD_FIND_MAX);
	w = *(const __u64 *)(s->buf + p);
	left = s->f.len - p;
	if (left < 8)
		w &= (1ULL << (8 * left)) - 1;
	return w;
}

/* An entry for the line at ls: up to SONDE_CTX_LINE_MAX of its bytes. True: no room, stop. */
static __always_inline bool find_copy(struct sonde_find_scratch *s, __u32 ls)
{
	struct head_find *f = &s->f;
	__u32 out = f->out;
	__u64 n;

	if (ls >= f->len || ls >= SONDE_HEAD_FIND_MAX)
		return false;
	if (out > SONDE_CTX_LINES_MAX - sizeof(struct sonde_ctx_line) - SONDE_CTX_LINE_MAX) {
		f->full = 1;
		return true;
	}
	n = f->len - ls;
	FIND_BOUND(ls, SONDE_HEAD_FIND_MAX);
	FIND_BOUND(out, SONDE_CTX_LINES_MAX);
	/* the clamp in the register the helper gets (clang may pass another copy) */
	asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t"
		     : [n] "+r"(n)
		     : [m] "i"(SONDE_CTX_LINE_MAX));
	s->lines[out] = ls & 0xff;
	s->lines[out + 1] = ls >> 8;
	s->lines[out + 2] = n;
	if (bpf_probe_read_kernel(s->lines + out + sizeof(struct sonde_ctx_line), n, s->buf + ls))
		return true;
	f->out = out + sizeof(struct sonde_ctx_line) + n;
	f->copied_ls = ls + 1;
	return false;
}

/* A line starts at ls: the head's end (stop), a context header's (copied), or another. */
static __always_inline bool find_line(struct sonde_find_scratch *s, __u32 ls)
{
	struct head_find *f = &s->f;
	__u64 w, lc;

	f->last_ls = ls;
	if (ls >= f->len)
		return false; /* the line starts with the next I/O */
	w = find_word(s, ls);
	if ((w & 0xff) == '\n' || (w & 0xffff) == W8('\r', '\n', 0, 0, 0, 0, 0, 0)) {
		f->ended = 1;
		return true;
	}
	lc = w | LOWER;
	if (lc == W8('t', 'r', 'a', 'c', 'e', 'p', 'a', 'r') && !f->has_tp) {
		/* the first one, for the kernel's own ids (server_ids) */
		f->has_tp = 1;
		f->tp_at = f->out + sizeof(struct sonde_ctx_line);
		f->tp_len = f->len - ls;
		return find_copy(s, ls);
	}
	if (lc == W8('t', 'r', 'a', 'c', 'e', 'p', 'a', 'r') ||
	    lc == W8('t', 'r', 'a', 'c', 'e', 's', 't', 'a') ||
	    lc == W8('u', 'b', 'e', 'r', '-', 't', 'r', 'a') ||
	    (lc & LOW_BYTES(3)) == W8('b', '3', ':', 0, 0, 0, 0, 0) ||
	    (lc & LOW_BYTES(5)) == W8('x', '-', 'b', '3', '-', 0, 0, 0))
		return find_copy(s, ls);
	return false;
}

/*
 * One step: the line feeds of the FIND_STEP_BYTES at i * FIND_STEP_BYTES, a word at a time.
 * Returns 1 to stop the loop. A step takes several words, so that the loop's call and the map
 * look-up are paid once per 64 bytes, not once per word: most words of a long head (a cookie,
 * a token) hold no line feed and cost a load and a few operations. The word and its line feeds
 * stay in the map, not on the stack: with the capture path's frame below it, the step has only
 * a few bytes of stack to spill into.
 */
#define FIND_STEP_WORDS 8
#define FIND_STEP_BYTES (8 * FIND_STEP_WORDS)

static long find_step(__u64 i, void *unused)
{
	struct sonde_find_scratch *s;
	__u32 zero = 0, off = (__u32)i * FIND_STEP_BYTES, n, j, k;

	s = bpf_map_lookup_elem(&find_scratch, &zero);
	if (!s || off >= s->f.len || off >= SONDE_HEAD_FIND_MAX)
		return 1;
	if (!find_fill(s, off + FIND_STEP_BYTES + SONDE_CTX_LINE_MAX))
		return 1;
	for (n = 0; n < FIND_STEP_WORDS; n++, off += 8) {
		if (off >= s->f.len)
			return 1;
		s->f.w = find_word(s, off);
		s->f.m = lf_bytes(s->f.w);
		for (j = 0; j < 8 && s->f.m; j++) {
			k = lowest_byte(s->f.m);
			s->f.m &= s->f.m - 1;
			/* only the lowest flagged byte is sure to be a line feed: look at each */
			if (((s->f.w >> (8 * (k & 7))) & 0xff) == '\n' && find_line(s, off + k + 1))
				return 1;
		}
	}
	return 0;
}

/*
 * Whether this I/O may be (part of) a request head to search: a request's first I/O that
 * holds more than its record carries (n bytes), read by a server or sent by a client (whose
 * own context the next service's sonde reads too), or the next I/O of a head the last search
 * left open. Any other I/O of the connection's run closes the search. Whether a first I/O
 * starts with a request line is for sonde_head_find to read.
 */
static __always_inline bool find_wanted(const struct sock_io *io, const void *buf, __u64 contig,
					__u64 n)
{
	struct sonde_conn_state *st = io->st;

	if (!buf || st->role == (io->dir == SONDE_DIR_INGRESS ? SONDE_ROLE_CLIENT
							      : SONDE_ROLE_SERVER))
		return false;
	if (io->offset)
		return (st->head_scan & HS_OPEN) && io->offset < SONDE_HEAD_FIND_MAX;
	return io->bytes > n && contig >= 16;
}

/*
 * Search one I/O's part of a request head and leave in the connection's state how it ends:
 * buf and contig are the I/O's buffer, off_bytes its offset in its run (high 32 bits, below
 * SONDE_HEAD_FIND_MAX) and its size (low 32 bits), owner its FIND_OWNER. Returns the search's
 * flags (enum sonde_head_scan; 0: no search), its entries in find_scratch. A global function:
 * the verifier checks it once, apart from the capture path, whose states would otherwise
 * multiply by its paths.
 */
__noinline int sonde_head_find(struct sonde_conn_state *st, __u64 buf, __u64 contig,
			       __u64 off_bytes, __u64 owner)
{
	__u32 zero = 0, len, offset = off_bytes >> 32, bytes = (__u32)off_bytes;
	struct sonde_find_scratch *s;
	struct head_find *f;
	__u8 prev, open;
	__u64 w;

	if (!st)
		return 0;
	prev = st->head_scan;
	st->head_scan = 0;
	if (!offset && (bpf_probe_read_user(&w, sizeof(w), (const void *)buf) ||
			!request_method_len(w)))
		return 0;
	s = bpf_map_lookup_elem(&find_scratch, &zero);
	if (!s || offset >= SONDE_HEAD_FIND_MAX)
		return 0;
	count(SONDE_CNT_HEAD_FINDS);
	s->owner = owner;
	f = &s->f;
	__builtin_memset(f, 0, sizeof(*f));
	len = bytes < contig ? bytes : contig;
	if (len > SONDE_HEAD_FIND_MAX - offset)
		len = SONDE_HEAD_FIND_MAX - offset;
	f->len = len;
	f->user = buf;
	/* At a request's start its first line is the request line, no header. */
	f->last_ls = !offset ? 0 : prev & HS_LINE ? 0 : FIND_NO_LINE;
	if (!find_fill(s, 8 + SONDE_CTX_LINE_MAX))
		return 0;
	if (offset && (prev & HS_CR) && (find_word(s, 0) & 0xff) == '\n')
		f->ended = 1;
	else if (!offset || !(prev & HS_LINE) || !find_line(s, 0))
		bpf_loop((len + FIND_STEP_BYTES - 1) / FIND_STEP_BYTES, find_step, NULL, 0);
	if (s->owner != owner || f->fail)
		return 0;
	/* The piece of a line the I/O ends in, if short: its name may go on in the next I/O. */
	if (!f->ended && !f->full && f->last_ls < f->len && f->copied_ls != f->last_ls + 1 &&
	    f->len - f->last_ls <= SONDE_CTX_FRAG_MAX)
		find_copy(s, f->last_ls);
	open = !f->ended && !f->full && len == bytes && offset + len < SONDE_HEAD_FIND_MAX;
	if (open) {
		st->head_scan = HS_OPEN;
		if (f->last_ls == len)
			st->head_scan |= HS_LINE;
		else if (f->last_ls == len - 1 &&
			 s->buf[(len - 1) & (SONDE_HEAD_FIND_MAX - 1)] == '\r')
			st->head_scan |= HS_CR;
	}
	f->flags = SONDE_HEAD_SCANNED | (open ? SONDE_HEAD_MORE : 0) | (f->full ? SONDE_HEAD_FULL : 0);
	return f->flags;
}

/* The search for this I/O, if it is one to search: its flags (0: none). */
static __always_inline __u8 head_find(const struct sock_io *io, const void *buf, __u64 contig,
				      __u64 n)
{
	if (!find_wanted(io, buf, contig, n)) {
		io->st->head_scan = 0;
		return 0;
	}
	return sonde_head_find(io->st, (__u64)buf, contig, io->offset << 32 | io->bytes,
			       FIND_OWNER(io));
}

/* The entries a search found, after the n payload bytes of the record it belongs to. */
static __always_inline void head_lines(struct sonde_data_event *ev, __u64 n,
				       const struct sock_io *io)
{
	struct sonde_find_scratch *s;
	__u32 zero = 0, out;

	s = bpf_map_lookup_elem(&find_scratch, &zero);
	if (!s)
		return;
	asm volatile("if %[n] <= %[m] goto +1\n\t%[n] = %[m]\n\t"
		     : [n] "+r"(n)
		     : [m] "i"(SONDE_PAYLOAD_MAX));
	out = s->f.out;
	if (out > SONDE_CTX_LINES_MAX)
		out = SONDE_CTX_LINES_MAX;
	if (out && bpf_probe_read_kernel(ev->payload + n, out, s->lines))
		return;
	if (s->owner != FIND_OWNER(io))
		return; /* rewritten meanwhile by a run that preempted this one */
	ev->ctx_len = out;
	ev->head_scan = s->f.flags;
}

#endif /* SONDE_HEAD_FIND_BPF_H */
