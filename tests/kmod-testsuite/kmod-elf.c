// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ELF section lookup that kmod's init_module trap (testsuite/init_module.c) needs, for
 * scripts/kmod-testsuite: the trap takes the module's name out of its
 * .gnu.linkonce.this_module section. kmod links the trap with its internal library; built
 * against a shared libkmod.so.2 it gets this small reader instead, so that the library under
 * test is the only libkmod in the process. Native byte order, 32- and 64-bit ELF, every
 * offset checked against the size.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "libkmod-internal.h"

struct kmod_elf {
	const uint8_t *memory;
	uint64_t size;
	int is64;
};

static int elf_open(const void *memory, off_t size, struct kmod_elf **out)
{
	const uint8_t *p = memory;
	struct kmod_elf *elf;

	if (size < EI_NIDENT || memcmp(p, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (p[EI_CLASS] != ELFCLASS32 && p[EI_CLASS] != ELFCLASS64)
		return -EINVAL;
	elf = calloc(1, sizeof(*elf));
	if (elf == NULL)
		return -ENOMEM;
	elf->memory = p;
	elf->size = (uint64_t)size;
	elf->is64 = p[EI_CLASS] == ELFCLASS64;
	*out = elf;
	return 0;
}

#if KTS_ELF_NEW_RETURNS_INT
int kmod_elf_new(const void *memory, off_t size, struct kmod_elf **elf)
{
	return elf_open(memory, size, elf);
}
#else
struct kmod_elf *kmod_elf_new(const void *memory, off_t size)
{
	struct kmod_elf *elf = NULL;
	int err = elf_open(memory, size, &elf);

	if (err < 0) {
		errno = -err;
		return NULL;
	}
	return elf;
}
#endif

void kmod_elf_unref(struct kmod_elf *elf)
{
	free(elf);
}

const void *kmod_elf_get_memory(const struct kmod_elf *elf)
{
	return elf->memory;
}

static int in_bounds(const struct kmod_elf *elf, uint64_t off, uint64_t len)
{
	return off <= elf->size && len <= elf->size - off;
}

int kmod_elf_get_section(const struct kmod_elf *elf, const char *section, uint64_t *sec_off,
			 uint64_t *sec_size)
{
	uint64_t shoff, shentsize, shnum, shstrndx, stroff, strsize, i;
	size_t namelen = strlen(section);

	if (elf->is64) {
		Elf64_Ehdr h;
		if (!in_bounds(elf, 0, sizeof(h)))
			return -EINVAL;
		memcpy(&h, elf->memory, sizeof(h));
		shoff = h.e_shoff;
		shentsize = h.e_shentsize;
		shnum = h.e_shnum;
		shstrndx = h.e_shstrndx;
		if (shentsize < sizeof(Elf64_Shdr))
			return -EINVAL;
	} else {
		Elf32_Ehdr h;
		if (!in_bounds(elf, 0, sizeof(h)))
			return -EINVAL;
		memcpy(&h, elf->memory, sizeof(h));
		shoff = h.e_shoff;
		shentsize = h.e_shentsize;
		shnum = h.e_shnum;
		shstrndx = h.e_shstrndx;
		if (shentsize < sizeof(Elf32_Shdr))
			return -EINVAL;
	}
	if (shstrndx >= shnum || shnum > elf->size / shentsize ||
	    !in_bounds(elf, shoff, shnum * shentsize))
		return -EINVAL;

	for (i = 0; i <= shnum; i++) {
		/* First pass (i == 0) reads the section name table, then each section. */
		uint64_t idx = i == 0 ? shstrndx : i - 1;
		const uint8_t *sh = elf->memory + shoff + idx * shentsize;
		uint64_t name, off, size;

		if (elf->is64) {
			Elf64_Shdr s;
			memcpy(&s, sh, sizeof(s));
			name = s.sh_name;
			off = s.sh_offset;
			size = s.sh_size;
		} else {
			Elf32_Shdr s;
			memcpy(&s, sh, sizeof(s));
			name = s.sh_name;
			off = s.sh_offset;
			size = s.sh_size;
		}
		if (i == 0) {
			if (!in_bounds(elf, off, size))
				return -EINVAL;
			stroff = off;
			strsize = size;
			continue;
		}
		if (name >= strsize || strsize - name <= namelen)
			continue;
		if (memcmp(elf->memory + stroff + name, section, namelen + 1) != 0)
			continue;
		if (!in_bounds(elf, off, size))
			return -EINVAL;
		*sec_off = off;
		*sec_size = size;
		return 0;
	}
	return -ENODATA;
}
