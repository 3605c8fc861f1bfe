/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkmod.h: the C interface of rkmod's libkmod.so.2.
 *
 * Written for rkmod from the documented contract of kmod's library, so that programs built
 * against kmod's header build against this one unchanged and link against either library.
 * Conventions: functions returning int give 0 or a positive value on success and a negative
 * errno on failure; lists are walked with kmod_list_foreach and released with the free
 * function of their kind; every object is reference-counted.
 */
#ifndef _LIBKMOD_H_
#define _LIBKMOD_H_

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library context: a module directory, its configuration and a pool of modules. */
struct kmod_ctx;

struct kmod_ctx *kmod_new(const char *dirname, const char *const *config_paths);
struct kmod_ctx *kmod_ref(struct kmod_ctx *ctx);
struct kmod_ctx *kmod_unref(struct kmod_ctx *ctx);

int kmod_load_resources(struct kmod_ctx *ctx);
void kmod_unload_resources(struct kmod_ctx *ctx);

enum kmod_resources {
	KMOD_RESOURCES_OK = 0,
	KMOD_RESOURCES_MUST_RELOAD = 1,
	KMOD_RESOURCES_MUST_RECREATE = 2,
};
int kmod_validate_resources(struct kmod_ctx *ctx);

enum kmod_index {
	KMOD_INDEX_MODULES_DEP = 0,
	KMOD_INDEX_MODULES_ALIAS,
	KMOD_INDEX_MODULES_SYMBOL,
	KMOD_INDEX_MODULES_BUILTIN_ALIAS,
	KMOD_INDEX_MODULES_BUILTIN,
	/* Keeps the enum 32 bits wide. */
	_KMOD_INDEX_PAD = 1U << 31,
};
int kmod_dump_index(struct kmod_ctx *ctx, enum kmod_index type, int fd);

void kmod_set_log_priority(struct kmod_ctx *ctx, int priority);
int kmod_get_log_priority(const struct kmod_ctx *ctx);
void kmod_set_log_fn(struct kmod_ctx *ctx,
		     void (*log_fn)(void *log_data, int priority, const char *file,
				    int line, const char *fn, const char *format,
				    va_list args),
		     const void *data);
void kmod_set_userdata(struct kmod_ctx *ctx, const void *userdata);
void *kmod_get_userdata(const struct kmod_ctx *ctx);
const char *kmod_get_dirname(const struct kmod_ctx *ctx);

/* Lists: an entry is also the list that starts at it. */
struct kmod_list;

#define kmod_list_foreach(curr, list) \
	for (curr = list; curr != NULL; curr = kmod_list_next(list, curr))

#define kmod_list_foreach_reverse(curr, list) \
	for (curr = kmod_list_last(list); curr != NULL; curr = kmod_list_prev(list, curr))

struct kmod_list *kmod_list_last(const struct kmod_list *list);
struct kmod_list *kmod_list_next(const struct kmod_list *list,
				 const struct kmod_list *curr);
struct kmod_list *kmod_list_prev(const struct kmod_list *list,
				 const struct kmod_list *curr);

/* The configuration, one kind of directive at a time. */
struct kmod_config_iter;

struct kmod_config_iter *kmod_config_get_blacklists(const struct kmod_ctx *ctx);
struct kmod_config_iter *kmod_config_get_install_commands(const struct kmod_ctx *ctx);
struct kmod_config_iter *kmod_config_get_remove_commands(const struct kmod_ctx *ctx);
struct kmod_config_iter *kmod_config_get_aliases(const struct kmod_ctx *ctx);
struct kmod_config_iter *kmod_config_get_options(const struct kmod_ctx *ctx);
struct kmod_config_iter *kmod_config_get_softdeps(const struct kmod_ctx *ctx);
struct kmod_config_iter *kmod_config_get_weakdeps(const struct kmod_ctx *ctx);
const char *kmod_config_iter_get_key(const struct kmod_config_iter *iter);
const char *kmod_config_iter_get_value(const struct kmod_config_iter *iter);
bool kmod_config_iter_next(struct kmod_config_iter *iter);
void kmod_config_iter_free_iter(struct kmod_config_iter *iter);

/* Modules. */
struct kmod_module;

int kmod_module_new_from_lookup(struct kmod_ctx *ctx, const char *given_alias,
				struct kmod_list **list);
int kmod_module_new_from_name_lookup(struct kmod_ctx *ctx, const char *modname,
				     struct kmod_module **mod);
int kmod_module_new_from_name(struct kmod_ctx *ctx, const char *name,
			      struct kmod_module **mod);
int kmod_module_new_from_path(struct kmod_ctx *ctx, const char *path,
			      struct kmod_module **mod);
int kmod_module_new_from_loaded(struct kmod_ctx *ctx, struct kmod_list **list);

struct kmod_module *kmod_module_ref(struct kmod_module *mod);
struct kmod_module *kmod_module_unref(struct kmod_module *mod);
int kmod_module_unref_list(struct kmod_list *list);
struct kmod_module *kmod_module_get_module(const struct kmod_list *entry);

enum kmod_insert {
	KMOD_INSERT_FORCE_VERMAGIC = 0x1,
	KMOD_INSERT_FORCE_MODVERSION = 0x2,
};
int kmod_module_insert_module(struct kmod_module *mod, unsigned int flags,
			      const char *options);

enum kmod_probe {
	KMOD_PROBE_FORCE_VERMAGIC = 0x00001,
	KMOD_PROBE_FORCE_MODVERSION = 0x00002,
	KMOD_PROBE_IGNORE_COMMAND = 0x00004,
	KMOD_PROBE_IGNORE_LOADED = 0x00008,
	KMOD_PROBE_DRY_RUN = 0x00010,
	KMOD_PROBE_FAIL_ON_LOADED = 0x00020,
	/* These three are also returned, to say which rule skipped a blacklisted module. */
	KMOD_PROBE_APPLY_BLACKLIST_ALL = 0x10000,
	KMOD_PROBE_APPLY_BLACKLIST = 0x20000,
	KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY = 0x40000,
};
int kmod_module_probe_insert_module(
	struct kmod_module *mod, unsigned int flags, const char *extra_options,
	int (*run_install)(struct kmod_module *m, const char *cmdline, void *data),
	const void *data,
	void (*print_action)(struct kmod_module *m, bool install, const char *options));

enum kmod_remove {
	KMOD_REMOVE_FORCE = O_TRUNC,
	KMOD_REMOVE_NOWAIT = O_NONBLOCK,
	KMOD_REMOVE_NOLOG = 1,
};
int kmod_module_remove_module(struct kmod_module *mod, unsigned int flags);

struct kmod_list *kmod_module_get_dependencies(const struct kmod_module *mod);
int kmod_module_get_softdeps(const struct kmod_module *mod, struct kmod_list **pre,
			     struct kmod_list **post);
int kmod_module_get_weakdeps(const struct kmod_module *mod, struct kmod_list **weak);

enum kmod_filter {
	KMOD_FILTER_BLACKLIST = 0x00001,
	KMOD_FILTER_BUILTIN = 0x00002,
};
int kmod_module_apply_filter(const struct kmod_ctx *ctx, enum kmod_filter filter_type,
			     const struct kmod_list *input, struct kmod_list **output);
int kmod_module_get_filtered_blacklist(const struct kmod_ctx *ctx,
				       const struct kmod_list *input,
				       struct kmod_list **output)
	__attribute__((deprecated));

const char *kmod_module_get_install_commands(const struct kmod_module *mod);
const char *kmod_module_get_remove_commands(const struct kmod_module *mod);
const char *kmod_module_get_name(const struct kmod_module *mod);
const char *kmod_module_get_options(const struct kmod_module *mod);
const char *kmod_module_get_path(const struct kmod_module *mod);

/* The symbols a module file needs, with their CRCs and binding. */
enum kmod_symbol_bind {
	KMOD_SYMBOL_NONE = '\0',
	KMOD_SYMBOL_LOCAL = 'L',
	KMOD_SYMBOL_GLOBAL = 'G',
	KMOD_SYMBOL_WEAK = 'W',
	KMOD_SYMBOL_UNDEF = 'U',
};
int kmod_module_get_dependency_symbols(const struct kmod_module *mod,
				       struct kmod_list **list);
int kmod_module_dependency_symbol_get_bind(const struct kmod_list *entry);
uint64_t kmod_module_dependency_symbol_get_crc(const struct kmod_list *entry);
const char *kmod_module_dependency_symbol_get_symbol(const struct kmod_list *entry);
void kmod_module_dependency_symbols_free_list(struct kmod_list *list);

/* The sections of a loaded module (/sys/module/NAME/sections). */
struct kmod_list *kmod_module_get_sections(const struct kmod_module *mod);
unsigned long kmod_module_section_get_address(const struct kmod_list *entry);
const char *kmod_module_section_get_name(const struct kmod_list *entry);
void kmod_module_section_free_list(struct kmod_list *list);

/* The symbols a module file exports. */
int kmod_module_get_symbols(const struct kmod_module *mod, struct kmod_list **list);
uint64_t kmod_module_symbol_get_crc(const struct kmod_list *entry);
const char *kmod_module_symbol_get_symbol(const struct kmod_list *entry);
void kmod_module_symbols_free_list(struct kmod_list *list);

/* The symbol versions (__versions) of a module file. */
int kmod_module_get_versions(const struct kmod_module *mod, struct kmod_list **list);
uint64_t kmod_module_version_get_crc(const struct kmod_list *entry);
const char *kmod_module_version_get_symbol(const struct kmod_list *entry);
void kmod_module_versions_free_list(struct kmod_list *list);

/* The .modinfo records of a module file, and its signature as modinfo shows it. */
int kmod_module_get_info(const struct kmod_module *mod, struct kmod_list **list);
const char *kmod_module_info_get_key(const struct kmod_list *entry);
const char *kmod_module_info_get_value(const struct kmod_list *entry);
void kmod_module_info_free_list(struct kmod_list *list);

/* The state of a module in the running kernel. */
enum kmod_module_initstate {
	KMOD_MODULE_BUILTIN = 0,
	KMOD_MODULE_LIVE,
	KMOD_MODULE_COMING,
	KMOD_MODULE_GOING,
	/* Keeps the enum 32 bits wide. */
	_KMOD_MODULE_PAD = 1U << 31,
};
int kmod_module_get_initstate(const struct kmod_module *mod);
const char *kmod_module_initstate_str(enum kmod_module_initstate state);
long kmod_module_get_size(const struct kmod_module *mod);
int kmod_module_get_refcnt(const struct kmod_module *mod);
struct kmod_list *kmod_module_get_holders(const struct kmod_module *mod);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif
