/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The language runtime a process runs on, where it changes what its threads mean. In Go,
 * goroutines move between OS threads: the thread that read a request is not the one that
 * makes its calls, and a thread switches between requests at any time. Linking a call to the
 * request its thread serves would then name the wrong parent: in Go the goroutine the kernel
 * side reports with each I/O (sonde_data_event.go_g) stands for the thread.
 */
#ifndef SONDE_RUNTIME_H
#define SONDE_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

enum proc_runtime {
	RUNTIME_NATIVE = 0, /* threads are the unit of work (or an event loop on one thread) */
	RUNTIME_GO = 1,	    /* a Go program: goroutines over threads */
	RUNTIME_PYTHON = 2, /* CPython: an event loop (asyncio) runs a request's code turns after
			     * the read that woke it, interleaved with other requests' reads */
};

/* The runtime of the executable at path (an ELF file): Go programs carry .go.buildinfo; CPython
 * is known by its executable's name (python, python3, python3.11...). */
enum proc_runtime runtime_of_exe(const char *path);
/* The ELF file at path defines the function symbol (in its dynamic or its full symbol table). */
bool elf_has_symbol(const char *path, const char *symbol);
/*
 * The file offsets of the n function symbols names[] in the ELF file at path, in one pass
 * over its symbol tables (offsets[k] 0: not defined there), and their sizes in bytes (sizes may
 * be NULL). Returns how many were found, or -1 when the file is not a readable ELF file.
 */
int elf_function_offsets(const char *path, const char *const *names, int n, uint64_t *offsets,
			 uint64_t *sizes);

struct runtime_cache;
struct runtime_cache *runtime_cache__new(void);
void runtime_cache__free(struct runtime_cache *rc);
/* The runtime of process pid, read once (and again after a minute, as pids are reused). */
enum proc_runtime runtime_cache__get(struct runtime_cache *rc, uint32_t pid, uint64_t now_ns);

#endif /* SONDE_RUNTIME_H */
