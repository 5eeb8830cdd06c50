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

/* The file offset of a function symbol's first byte, from its section, or 0. */
static uint64_t sym_file_offset(Elf *e, const GElf_Sym *sym)
{
	Elf_Scn *scn = elf_getscn(e, sym->st_shndx);
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh) || sym->st_value < sh.sh_addr ||
	    sym->st_value - sh.sh_addr >= sh.sh_size)
		return 0;
	return sym->st_value - sh.sh_addr + sh.sh_offset;
}

int elf_function_offsets(const char *path, const char *const *names, int n, uint64_t *offsets,
			 uint64_t *sizes)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	GElf_Sym sym;
	size_t i, count;
	Elf_Data *d;
	const char *name;
	int k, found = 0;
	Elf *e;
	int fd;

	for (k = 0; k < n; k++) {
		offsets[k] = 0;
		if (sizes)
			sizes[k] = 0;
	}
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	while (e && elf_kind(e) == ELF_K_ELF && found < n && (scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) ||
		    !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		count = d ? sh.sh_size / sh.sh_entsize : 0;
		for (i = 0; i < count && found < n; i++) {
			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			for (k = 0; name && k < n; k++)
				if (!offsets[k] && !strcmp(name, names[k])) {
					offsets[k] = sym_file_offset(e, &sym);
					found += offsets[k] != 0;
					if (sizes)
						sizes[k] = sym.st_size;
				}
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	return e ? found : -1;
}

bool elf_has_symbol(const char *path, const char *symbol)
{
	uint64_t off;

	return elf_function_offsets(path, &symbol, 1, &off, NULL) == 1;
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
