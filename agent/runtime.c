// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Runtime detection from the executable's ELF sections (libelf): once per process, cached.
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define CACHE_SLOTS 4096
#define CACHE_TTL_NS (60ULL * 1000000000ULL)

enum proc_runtime runtime_of_exe(const char *path)
{
	enum proc_runtime rt = RUNTIME_NATIVE;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t shstrndx;
	const char *name;
	Elf *e;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return RUNTIME_NATIVE;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return RUNTIME_NATIVE;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e && elf_kind(e) == ELF_K_ELF && !elf_getshdrstrndx(e, &shstrndx)) {
		while ((scn = elf_nextscn(e, scn))) {
			if (!gelf_getshdr(scn, &sh))
				break;
			name = elf_strptr(e, shstrndx, sh.sh_name);
			if (name && (!strcmp(name, ".go.buildinfo") || !strcmp(name, ".gopclntab"))) {
				rt = RUNTIME_GO;
				break;
			}
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	if (rt == RUNTIME_NATIVE) {
		char exe[256];
		ssize_t n = readlink(path, exe, sizeof(exe) - 1);
		const char *base;

		if (n > 0) {
			exe[n] = 0;
			base = strrchr(exe, '/');
			base = base ? base + 1 : exe;
			if (!strncmp(base, "python", 6))
				rt = RUNTIME_PYTHON;
		}
	}
	return rt;
}

struct cache_slot {
	uint32_t pid;
	uint8_t runtime;
	uint64_t checked_ns;
};

struct runtime_cache {
	struct cache_slot slots[CACHE_SLOTS];
};

struct runtime_cache *runtime_cache__new(void)
{
	return calloc(1, sizeof(struct runtime_cache));
}

void runtime_cache__free(struct runtime_cache *rc)
{
	free(rc);
}

enum proc_runtime runtime_cache__get(struct runtime_cache *rc, uint32_t pid, uint64_t now_ns)
{
	struct cache_slot *s = &rc->slots[pid % CACHE_SLOTS];
	char path[64];

	if (s->pid == pid && s->checked_ns && now_ns - s->checked_ns < CACHE_TTL_NS)
		return (enum proc_runtime)s->runtime;
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	s->pid = pid;
	s->runtime = (uint8_t)runtime_of_exe(path);
	s->checked_ns = now_ns ? now_ns : 1;
	return (enum proc_runtime)s->runtime;
}
