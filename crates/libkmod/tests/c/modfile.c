// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Prints what libkmod reads from module files and index files, so that two libraries can be
 * compared by their output: rkmod's and kmod's.
 *
 *   modfile files MODULE_DIR REQUESTS_FILE
 *	For every line of REQUESTS_FILE, "path FILE" (kmod_module_new_from_path) or "name NAME"
 *	(kmod_module_new_from_name): the module's modinfo list, symbol versions, exports and
 *	dependency symbols, each with its return value; then every index dumped with
 *	kmod_dump_index, and the dump's answer to invalid index numbers.
 *
 *   modfile resources MODULE_DIR CONFIG_DIR
 *	kmod_load_resources, kmod_validate_resources and kmod_unload_resources around changes the
 *	program makes itself: an index replaced, a configuration file added. MODULE_DIR is a
 *	scratch copy it may change.
 *
 *   modfile load MODULE_DIR
 *	kmod_load_resources' answer for that directory, then one lookup through it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libkmod.h>

#include "log_stdout.h"

static struct kmod_ctx *context(const char *moddir, const char *const *config)
{
	struct kmod_ctx *ctx = kmod_new(moddir, config);

	if (ctx == NULL) {
		fprintf(stderr, "kmod_new failed\n");
		exit(1);
	}
	kmod_set_log_fn(ctx, log_to_stdout, NULL);
	return ctx;
}

/* The number of entries of a list, to check a function's return value against. */
static int length(struct kmod_list *list)
{
	struct kmod_list *l;
	int n = 0;

	kmod_list_foreach(l, list)
		n++;
	return n;
}

static void print_info(struct kmod_module *mod)
{
	struct kmod_list *list = NULL, *l;
	int ret = kmod_module_get_info(mod, &list);

	printf("  info ret=%d%s\n", ret,
	       ret >= 0 && ret != length(list) ? " (list length differs)" : "");
	kmod_list_foreach(l, list)
		printf("  info %s=%s\n", kmod_module_info_get_key(l), kmod_module_info_get_value(l));
	kmod_module_info_free_list(list);
}

static void print_versions(struct kmod_module *mod)
{
	struct kmod_list *list = NULL, *l;
	int ret = kmod_module_get_versions(mod, &list);

	printf("  versions ret=%d%s\n", ret,
	       ret >= 0 && ret != length(list) ? " (list length differs)" : "");
	kmod_list_foreach(l, list)
		printf("  version 0x%016llx %s\n",
		       (unsigned long long)kmod_module_version_get_crc(l),
		       kmod_module_version_get_symbol(l));
	kmod_module_versions_free_list(list);
}

static void print_symbols(struct kmod_module *mod)
{
	struct kmod_list *list = NULL, *l;
	int ret = kmod_module_get_symbols(mod, &list);

	printf("  symbols ret=%d%s\n", ret,
	       ret >= 0 && ret != length(list) ? " (list length differs)" : "");
	kmod_list_foreach(l, list)
		printf("  symbol 0x%016llx %s\n",
		       (unsigned long long)kmod_module_symbol_get_crc(l),
		       kmod_module_symbol_get_symbol(l));
	kmod_module_symbols_free_list(list);
}

static void print_dependency_symbols(struct kmod_module *mod)
{
	struct kmod_list *list = NULL, *l;
	int ret = kmod_module_get_dependency_symbols(mod, &list);

	printf("  depsyms ret=%d%s\n", ret,
	       ret >= 0 && ret != length(list) ? " (list length differs)" : "");
	kmod_list_foreach(l, list)
		printf("  depsym %c 0x%016llx %s\n", kmod_module_dependency_symbol_get_bind(l),
		       (unsigned long long)kmod_module_dependency_symbol_get_crc(l),
		       kmod_module_dependency_symbol_get_symbol(l));
	kmod_module_dependency_symbols_free_list(list);
}

static void dump(struct kmod_ctx *ctx, int type)
{
	int ret;

	printf("dump %d\n", type);
	fflush(stdout);
	ret = kmod_dump_index(ctx, type, STDOUT_FILENO);
	printf("dump %d ret=%d\n", type, ret);
}

static int files(const char *moddir, const char *requests)
{
	const char *const no_config[] = { NULL };
	struct kmod_ctx *ctx = context(moddir, no_config);
	char line[8192];
	FILE *in = fopen(requests, "r");
	int type;

	if (in == NULL) {
		perror(requests);
		return 1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		struct kmod_module *mod = NULL;
		char *arg;
		int ret;

		line[strcspn(line, "\n")] = '\0';
		arg = strchr(line, ' ');
		if (arg == NULL)
			continue;
		*arg++ = '\0';
		if (strcmp(line, "path") == 0)
			ret = kmod_module_new_from_path(ctx, arg, &mod);
		else
			ret = kmod_module_new_from_name(ctx, arg, &mod);
		printf("%s %s ret=%d\n", line, arg, ret);
		if (mod == NULL)
			continue;
		print_info(mod);
		print_versions(mod);
		print_symbols(mod);
		print_dependency_symbols(mod);
		kmod_module_unref(mod);
	}
	fclose(in);
	/* NULL arguments and non-empty lists. */
	printf("null info=%d versions=%d symbols=%d depsyms=%d\n",
	       kmod_module_get_info(NULL, NULL), kmod_module_get_versions(NULL, NULL),
	       kmod_module_get_symbols(NULL, NULL), kmod_module_get_dependency_symbols(NULL, NULL));
	printf("null key=%p value=%p symbol=%p crc=%llu bind=%d\n",
	       (void *)kmod_module_info_get_key(NULL), (void *)kmod_module_info_get_value(NULL),
	       (void *)kmod_module_version_get_symbol(NULL),
	       (unsigned long long)kmod_module_symbol_get_crc(NULL),
	       kmod_module_dependency_symbol_get_bind(NULL));
	for (type = -1; type <= 5; type++)
		dump(ctx, type);
	printf("dump null ret=%d\n", kmod_dump_index(NULL, KMOD_INDEX_MODULES_DEP, STDOUT_FILENO));
	kmod_unref(ctx);
	return 0;
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (in < 0 || out < 0) {
		perror("copy");
		exit(1);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			perror("write");
			exit(1);
		}
	close(in);
	close(out);
}

static void validate(struct kmod_ctx *ctx, const char *when)
{
	printf("validate %s: %d\n", when, kmod_validate_resources(ctx));
}

static int resources(const char *moddir, const char *confdir)
{
	const char *const config[] = { confdir, NULL };
	struct kmod_ctx *ctx = context(moddir, config);
	char index[4096], fresh[4096], conf[4096];
	struct kmod_list *list = NULL;
	int fd;

	snprintf(index, sizeof(index), "%s/modules.alias.bin", moddir);
	snprintf(fresh, sizeof(fresh), "%s/modules.alias.bin.new", moddir);
	snprintf(conf, sizeof(conf), "%s/added.conf", confdir);

	validate(ctx, "before loading");
	printf("load: %d\n", kmod_load_resources(ctx));
	validate(ctx, "after loading");
	printf("load again: %d\n", kmod_load_resources(ctx));
	/*
	 * kmod compares modification times only, and the kernel keeps them at the clock tick:
	 * wait a few ticks so that the replacement's time differs from the copy's the test made.
	 */
	usleep(50000);
	copy_file(index, fresh);
	rename(fresh, index);
	validate(ctx, "after modules.alias.bin was replaced");
	kmod_unload_resources(ctx);
	validate(ctx, "after unloading");
	printf("lookup after unloading: %d", kmod_module_new_from_lookup(ctx, "usb-storage", &list));
	printf(" found %d\n", length(list));
	kmod_module_unref_list(list);
	printf("load after unloading: %d\n", kmod_load_resources(ctx));
	validate(ctx, "after loading again");
	fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "# added\n", 8) != 8) {
		perror(conf);
		return 1;
	}
	close(fd);
	validate(ctx, "after a configuration file was added");
	kmod_unload_resources(NULL);
	printf("validate null: %d\n", kmod_validate_resources(NULL));
	printf("load null: %d\n", kmod_load_resources(NULL));
	kmod_unref(ctx);
	return 0;
}

static int load(const char *moddir)
{
	const char *const no_config[] = { NULL };
	struct kmod_ctx *ctx = context(moddir, no_config);
	struct kmod_list *list = NULL;

	printf("load %s: %d\n", strrchr(moddir, '/') + 1, kmod_load_resources(ctx));
	validate(ctx, "after the load");
	printf("lookup: %d", kmod_module_new_from_lookup(ctx, "usb-storage", &list));
	printf(" found %d\n", length(list));
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return 0;
}

int main(int argc, char *argv[])
{
	if (argc == 4 && strcmp(argv[1], "files") == 0)
		return files(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "resources") == 0)
		return resources(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "load") == 0)
		return load(argv[2]);
	fprintf(stderr, "usage: modfile files MODULE_DIR REQUESTS | resources MODULE_DIR CONFIG_DIR | load MODULE_DIR\n");
	return 2;
}
