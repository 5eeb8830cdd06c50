/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The uprobe table: the functions in user space sonde hooks. A row names the file that holds
 * them (the executable of a Go program, or a shared library a process maps, by its file name)
 * and, per symbol, the BPF programs for its entry and its return. A row is attached once per
 * file (by device and inode) with pid -1, so that every process running that file has it; a
 * file a row failed on is not tried again; a file whose known processes are all gone is
 * detached at the next sweep. The agent asks for a process when it first traces it (its first
 * connection) and when it starts a program (an EXEC record).
 *
 * What attaching means is an operations table: libbpf's in the loader, a recording fake in the
 * unit tests, which also give their own /proc. The maps-line parser and the name matcher are
 * pure, for the unit tests.
 */
#ifndef SONDE_LOADER_UPROBES_H
#define SONDE_LOADER_UPROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a row's functions are. */
enum uprobe_binary {
	UPROBE_GO_EXE = 1,  /* the process's executable, when it is a Go program */
	UPROBE_LIBRARY = 2, /* a shared library the process maps whose file name matches pattern */
	UPROBE_EXE_SYMBOL = 3, /* the process's executable, when its symbols hold the row's first
				* (a program that links the library in: node and OpenSSL) */
};

#define UPROBE_MAX_SYMS 8
/* Return instructions probed per function at most (rows with ret_insns; Go 1.26's
 * crypto/tls.(*Conn).clientHandshake has 13). */
#define UPROBE_MAX_RETS 32
/* Links one row makes on one file at most: an entry and a return probe per symbol, or an
 * entry and one per return instruction of each function (Go 1.26: 27 for crypto/tls). */
#define UPROBE_MAX_LINKS 80

struct uprobe_sym {
	const char *symbol; /* as the file's symbol table names it */
	const char *entry;  /* BPF program run at its entry, or NULL */
	const char *ret;    /* BPF program run at its return, or NULL (never in Go: a uretprobe
			     * breaks its moving stacks) */
	bool required;	    /* the row is of no use without it: its failure fails the file */
	/*
	 * Symbols of one family (1, 2...) wrap one internal function in some builds (OpenSSL
	 * 3.0's SSL_read and SSL_read_ex call ssl_read_internal). The loader may probe that
	 * function in their place, with the programs of the member that passes it its own
	 * arguments, when the members' own starts are costly to probe (agent/loader/loader.c).
	 */
	unsigned char family;
	/*
	 * Probe the function's direct calls to this symbol (of the same file) instead of its
	 * entry: the entry program runs there with the callee's arguments, for this caller's
	 * calls only (a busy callee whose other callers would cost a trap each).
	 */
	const char *call_to;
};

struct uprobe_target {
	const char *name;    /* "go-net/http": the metrics' label, and the notes' */
	enum uprobe_binary in;
	const char *pattern; /* UPROBE_LIBRARY: fnmatch(3) pattern of its file name: "libssl.so*" */
	const char *lost;    /* what a process loses when the row fails on its file, for the note */
	const char *hint;    /* why a symbol is most likely missing (-ENOENT), for the note */
	const char *flag;    /* a one-byte .bss global of the BPF object set to 1 once the row is
			      * attached anywhere (the send path looks at its maps only then) */
	bool ret_insns;	     /* return programs go on each return instruction of the function,
			      * found in its code, as plain uprobes (Go) */
	bool optional;	     /* a file without its required symbols is no match, not a failure
			      * (a Go program that does not use the package) */
	bool tls;	     /* a TLS library's row: attached only with --tls (they come last) */
	bool go_grpc;	     /* grpc-go's stream hand-offs: attached unless --no-go-grpc */
	/*
	 * Optional: the cookie (bpf_get_attach_cookie) of each symbol's entry program in the file
	 * open at fd, read from the file itself (structure offsets); 0 or -errno, and the row then
	 * fails on the file.
	 */
	int (*cookies)(int fd, uint64_t cookie[UPROBE_MAX_SYMS]);
	struct uprobe_sym syms[UPROBE_MAX_SYMS];
};

/* The agent's table (uprobes.c). */
extern const struct uprobe_target uprobe_table[];
extern const size_t uprobe_table_len;
/* The rows in use, copied to out (room for uprobe_table_len): the TLS rows only with tls, the
 * grpc-go row only with go_grpc. Returns their number. */
size_t uprobe_rows_chosen(struct uprobe_target *out, bool tls, bool go_grpc);

/* What attaching and checking files means. */
struct uprobe_ops {
	/*
	 * Attach t's programs to the file at path for every process (pid -1): one link per program
	 * attached goes to links[] (UPROBE_MAX_LINKS at most), their count to *n. 0, or -errno with
	 * nothing left attached (a required symbol failed).
	 */
	int (*attach)(void *ctx, const struct uprobe_target *t, const char *path, void **links,
		      int *n);
	void (*detach)(void *ctx, void *link);
	/* The file at path is the executable of a Go program. */
	bool (*is_go)(void *ctx, const char *path);
	/* The ELF file at path defines symbol (its dynamic or its full symbol table). */
	bool (*has_symbol)(void *ctx, const char *path, const char *symbol);
	/* Optional: process pid runs a Go program (go true: a row on Go executables has its
	 * file), or does not (false), as each process is looked at. */
	void (*go_process)(void *ctx, uint32_t pid, bool go);
};

struct uprobes;

/* proc: where /proc is ("/proc"; a test's tree). NULL on no memory. */
struct uprobes *uprobes__new(const struct uprobe_target *table, size_t n, const char *proc,
			     const struct uprobe_ops *ops, void *ctx);
/* Detach everything and free. */
void uprobes__free(struct uprobes *u);

/* What one row came to on one file of a process. */
struct uprobe_outcome {
	const struct uprobe_target *target;
	char file[64]; /* the file's name, for notes */
	int err;       /* 0: attached (now or earlier), else the -errno of its attach */
};

/*
 * Attach every row that matches the executable or a library of process pid, each file once.
 * Returns how many row-file pairs matched (out[] gets the first max), or -ESRCH when the process
 * is gone.
 */
int uprobes__process(struct uprobes *u, uint32_t pid, struct uprobe_outcome *out, int max);
/*
 * Attach the UPROBE_LIBRARY rows whose pattern matches the files in dir (a system library
 * directory) for good: every process that maps one later has its uprobes from its first call,
 * and they are not detached before sonde stops. Returns how many row-file pairs were attached.
 */
int uprobes__library_dir(struct uprobes *u, const char *dir);
/* uprobes__process for every process running now (sonde's start); returns how many matched. */
int uprobes__running(struct uprobes *u);
/* Detach the files no process known to use them is left of; returns how many. */
int uprobes__sweep(struct uprobes *u);

/* Per row of the table, files since the start. */
struct uprobe_stats {
	uint64_t attached; /* files the row was attached to */
	uint64_t failed;   /* files it could not be attached to */
	uint64_t detached; /* files detached again: no process using them was left */
	uint64_t active;   /* files attached now */
};
void uprobes__stats(const struct uprobes *u, size_t row, struct uprobe_stats *out);

/* One line of /proc/PID/maps. */
struct maps_line {
	uint64_t start, end, offset, inode;
	uint32_t dev_major, dev_minor;
	char perms[5];
	const char *path; /* the mapped file, inside the parsed line; NULL: anonymous */
};

/*
 * Parse one line of /proc/PID/maps in place (its newline and a " (deleted)" mark are cut);
 * 0, or -EINVAL for a line that is not one.
 */
int uprobes_parse_maps_line(char *line, struct maps_line *out);
/* The file name of path (after its last '/') matches the fnmatch(3) pattern. */
bool uprobes_name_matches(const char *pattern, const char *path);

#endif /* SONDE_LOADER_UPROBES_H */
