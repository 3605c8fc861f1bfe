/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stands in for kmod's private libkmod/libkmod-internal.h when kmod's testsuite is built
 * against a shared libkmod.so.2 (scripts/kmod-testsuite). It declares only what kmod's test
 * programs and traps use of the private API:
 *
 * - the ELF section lookup that the init_module trap uses to find a module's name; rkmod's
 *   own implementation is in kmod-elf.c beside this file, part of the trap, not of the
 *   library under test. kmod changed the signature of kmod_elf_new after 34
 *   (KTS_ELF_NEW_RETURNS_INT, set by the script from the fetched source);
 * - kmod_list_append, which test-blacklist calls. kmod's libkmod.so.2 does not export it, so
 *   test-blacklist links only against rkmod's, which exports it under its own version node
 *   RKMOD_PRIVATE for this test (crates/libkmod/src/list.rs).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <shared/macro.h>
#include <shared/missing.h>
#include <libkmod/libkmod.h>

struct kmod_elf;

#if KTS_ELF_NEW_RETURNS_INT
int kmod_elf_new(const void *memory, off_t size, struct kmod_elf **elf);
#else
struct kmod_elf *kmod_elf_new(const void *memory, off_t size);
#endif
void kmod_elf_unref(struct kmod_elf *elf);
const void *kmod_elf_get_memory(const struct kmod_elf *elf);
int kmod_elf_get_section(const struct kmod_elf *elf, const char *section, uint64_t *sec_off,
			 uint64_t *sec_size);

struct kmod_list *kmod_list_append(struct kmod_list *list, const void *data);
