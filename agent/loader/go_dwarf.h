/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Field offsets in a Go program's types, from its DWARF (libdw): where a uprobe finds a value
 * inside a structure whose layout changes between releases of the library that defines it.
 * A program built with -w has no DWARF: nothing is found.
 */
#ifndef SONDE_LOADER_GO_DWARF_H
#define SONDE_LOADER_GO_DWARF_H

#include <stdbool.h>
#include <stdint.h>

struct go_field {
	const char *type;   /* the structure's Go name, package path first:
			     * "google.golang.org/grpc/internal/transport.Stream" */
	const char *member; /* the field ("id"; an embedded one by its type's name: "Stream") */
	/* out */
	bool found;
	bool pointer;	    /* the field is a pointer */
	uint32_t offset;    /* its offset in the structure */
};

/*
 * Look up every field of want[0..n) in the DWARF of the ELF file open at fd; 0 when the file
 * has DWARF (each field says whether it was found), -ENODATA when it has none.
 */
int go_dwarf__fields(int fd, struct go_field *want, int n);

#endif
