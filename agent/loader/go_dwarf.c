// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go's DWARF names a structure type by its package path and name, at the top level of a
 * compilation unit, and each field as a DW_TAG_member with its byte offset. One pass over the
 * units' top-level entries finds every structure asked for.
 */
#include <errno.h>
#include <string.h>

#include <dwarf.h>
#include <elfutils/libdw.h>

#include "go_dwarf.h"

static void member_of(Dwarf_Die *st, struct go_field *f)
{
	Dwarf_Die m, type;
	Dwarf_Attribute a;
	Dwarf_Word off;
	const char *name;

	if (dwarf_child(st, &m))
		return;
	do {
		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		name = dwarf_diename(&m);
		if (!name || strcmp(name, f->member))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &off) ||
		    off > UINT16_MAX)
			return;
		f->offset = (uint32_t)off;
		f->pointer = dwarf_attr(&m, DW_AT_type, &a) && dwarf_formref_die(&a, &type) &&
			     dwarf_tag(&type) == DW_TAG_pointer_type;
		f->found = true;
		return;
	} while (!dwarf_siblingof(&m, &m));
}

static void unit(Dwarf_Die *cu, struct go_field *want, int n)
{
	Dwarf_Die d;
	const char *name;
	int i;

	if (dwarf_child(cu, &d))
		return;
	do {
		if (dwarf_tag(&d) != DW_TAG_structure_type)
			continue;
		name = dwarf_diename(&d);
		for (i = 0; name && i < n; i++)
			if (!want[i].found && !strcmp(name, want[i].type))
				member_of(&d, &want[i]);
	} while (!dwarf_siblingof(&d, &d));
}

int go_dwarf__fields(int fd, struct go_field *want, int n)
{
	Dwarf *dw = dwarf_begin(fd, DWARF_C_READ);
	Dwarf_Off off = 0, next;
	size_t hsize;
	Dwarf_Die cu;
	int i;

	for (i = 0; i < n; i++)
		want[i].found = false;
	if (!dw)
		return -ENODATA;
	while (!dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL)) {
		if (dwarf_offdie(dw, off + hsize, &cu))
			unit(&cu, want, n);
		off = next;
	}
	dwarf_end(dw);
	return 0;
}
