// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The calls of libkmod that need a running kernel, driven from a script, so that a boot with
 * kmod's library and a boot with rkmod's can be compared by their output (the VM suite's
 * library_kernel_ops scenario, tests/vm/clients.sh). It changes the kernel: run it in a VM.
 *
 *   kernel_ops [MODULE_DIR] < SCRIPT
 *
 * (MODULE_DIR: the context's module directory, by default /lib/modules/`uname -r`.)
 * One operation a line of SCRIPT, on a module made with kmod_module_new_from_name:
 *   insert NAME [OPTIONS]   kmod_module_insert_module
 *   probe NAME [FLAG,...]   kmod_module_probe_insert_module (flags: none, fail-on-loaded,
 *                           ignore-loaded, ignore-command), with print_action
 *   remove NAME [nolog]     kmod_module_remove_module
 *   initstate NAME          kmod_module_get_initstate and kmod_module_initstate_str
 *   refcnt NAME             kmod_module_get_refcnt
 *   holders NAME            kmod_module_get_holders, names in the library's order
 *   sections NAME           kmod_module_get_sections: the names in the library's order,
 *                           how many addresses equal /sys/module/NAME/sections/SECTION
 *                           (addresses differ between boots; whether they agree does not),
 *                           and how many files that directory has
 *   loaded                  kmod_module_new_from_loaded: whether its names are those of
 *                           /proc/modules in the same order
 * Every result is printed as "OP NAME: RESULT", negative errnos by name; the messages the
 * library logs (at LOG_INFO and above) follow as "  log PRIORITY FUNCTION: MESSAGE".
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <libkmod.h>

#include "log_stdout.h"

/* A return value: 0 and positive values as numbers, negative errnos by name. */
static const char *result(int err)
{
	static const struct {
		int errno_value;
		const char *name;
	} names[] = {
		{ EPERM, "EPERM" },	{ ENOENT, "ENOENT" },	  { ENOEXEC, "ENOEXEC" },
		{ EAGAIN, "EAGAIN" },	{ ENOMEM, "ENOMEM" },	  { EFAULT, "EFAULT" },
		{ EBUSY, "EBUSY" },	{ EEXIST, "EEXIST" },	  { ENODEV, "ENODEV" },
		{ EINVAL, "EINVAL" },	{ ETXTBSY, "ETXTBSY" },	  { E2BIG, "E2BIG" },
		{ ENOSYS, "ENOSYS" },	{ ENAMETOOLONG, "ENAMETOOLONG" },
		{ ENOKEY, "ENOKEY" },	{ EKEYREJECTED, "EKEYREJECTED" },
	};
	static char text[32];
	size_t i;

	if (err >= 0) {
		snprintf(text, sizeof(text), "%d", err);
		return text;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].errno_value == -err) {
			snprintf(text, sizeof(text), "-%s", names[i].name);
			return text;
		}
	snprintf(text, sizeof(text), "%d", err);
	return text;
}

static void print_action(struct kmod_module *m, bool install, const char *options)
{
	const char *path = kmod_module_get_path(m);

	printf("  action %s %s path=%s options=[%s]\n", install ? "install" : "insmod",
	       kmod_module_get_name(m), path == NULL ? "(null)" : path,
	       options == NULL ? "(null)" : options);
}

static unsigned int probe_flags(const char *words)
{
	unsigned int flags = 0;
	char copy[256];
	char *word, *saveptr;

	snprintf(copy, sizeof(copy), "%s", words);
	for (word = strtok_r(copy, ",", &saveptr); word != NULL;
	     word = strtok_r(NULL, ",", &saveptr)) {
		if (strcmp(word, "fail-on-loaded") == 0)
			flags |= KMOD_PROBE_FAIL_ON_LOADED;
		else if (strcmp(word, "ignore-loaded") == 0)
			flags |= KMOD_PROBE_IGNORE_LOADED;
		else if (strcmp(word, "ignore-command") == 0)
			flags |= KMOD_PROBE_IGNORE_COMMAND;
		else if (strcmp(word, "none") != 0)
			fprintf(stderr, "kernel_ops: unknown probe flag %s\n", word);
	}
	return flags;
}

/* The address in /sys/module/MODULE/sections/SECTION, as the kernel shows it to root. */
static int sysfs_address(const char *module, const char *section, unsigned long *address)
{
	char path[4096];
	FILE *file;
	int n;

	snprintf(path, sizeof(path), "/sys/module/%s/sections/%s", module, section);
	file = fopen(path, "re");
	if (file == NULL)
		return -1;
	n = fscanf(file, "%lx", address);
	fclose(file);
	return n == 1 ? 0 : -1;
}

/* The number of files in /sys/module/MODULE/sections, or -1. */
static int sysfs_sections(const char *module)
{
	char path[4096];
	struct dirent *entry;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/module/%s/sections", module);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((entry = readdir(dir)) != NULL)
		if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
			n++;
	closedir(dir);
	return n;
}

static void print_sections(const char *name, struct kmod_module *mod)
{
	struct kmod_list *sections = kmod_module_get_sections(mod), *l;
	unsigned int count = 0, same = 0;

	if (sections == NULL) {
		printf("sections %s: (null)\n", name);
		return;
	}
	printf("sections %s:", name);
	kmod_list_foreach(l, sections) {
		printf(" %s", kmod_module_section_get_name(l));
		count++;
	}
	printf("\n");
	kmod_list_foreach(l, sections) {
		const char *section = kmod_module_section_get_name(l);
		unsigned long address;

		if (sysfs_address(name, section, &address) == 0 &&
		    address == kmod_module_section_get_address(l))
			same++;
		else
			printf("  address of %s differs from sysfs\n", section);
	}
	printf("section addresses %s: %u of %u equal sysfs, which has %d\n", name, same, count,
	       sysfs_sections(name));
	kmod_module_section_free_list(sections);
}

static void print_holders(const char *name, struct kmod_module *mod)
{
	struct kmod_list *holders = kmod_module_get_holders(mod), *l;

	printf("holders %s:", name);
	if (holders == NULL)
		printf(" (null)");
	kmod_list_foreach(l, holders) {
		struct kmod_module *holder = kmod_module_get_module(l);

		printf(" %s", kmod_module_get_name(holder));
		kmod_module_unref(holder);
	}
	printf("\n");
	kmod_module_unref_list(holders);
}

/* kmod_module_new_from_loaded against the names of /proc/modules, in order. */
static void print_loaded(struct kmod_ctx *ctx)
{
	struct kmod_list *list = NULL, *l;
	struct kmod_module *mod;
	unsigned int count = 0, mismatches = 0;
	char line[4096];
	FILE *proc;
	int err;

	err = kmod_module_new_from_loaded(ctx, &list);
	printf("loaded: %s\n", result(err));
	proc = fopen("/proc/modules", "re");
	if (proc == NULL) {
		printf("  /proc/modules: %s\n", strerror(errno));
		kmod_module_unref_list(list);
		return;
	}
	l = list;
	while (fgets(line, sizeof(line), proc) != NULL) {
		line[strcspn(line, " \n")] = '\0';
		count++;
		if (l == NULL) {
			mismatches++;
			continue;
		}
		mod = kmod_module_get_module(l);
		if (strcmp(kmod_module_get_name(mod), line) != 0)
			mismatches++;
		kmod_module_unref(mod);
		l = kmod_list_next(list, l);
	}
	fclose(proc);
	for (; l != NULL; l = kmod_list_next(list, l))
		mismatches++;
	printf("loaded list: %s /proc/modules\n",
	       mismatches == 0 && count > 0 ? "equals" : "differs from");
	kmod_module_unref_list(list);
}

static void run(struct kmod_ctx *ctx, char *op, char *name, char *arg)
{
	struct kmod_module *mod = NULL;
	int err;

	if (strcmp(op, "loaded") == 0) {
		print_loaded(ctx);
		return;
	}
	if (name == NULL) {
		printf("%s: no module named\n", op);
		return;
	}
	err = kmod_module_new_from_name(ctx, name, &mod);
	if (err < 0) {
		printf("%s %s: kmod_module_new_from_name %s\n", op, name, result(err));
		return;
	}
	if (strcmp(op, "insert") == 0) {
		err = kmod_module_insert_module(mod, 0, arg);
		printf("insert %s: %s\n", name, result(err));
	} else if (strcmp(op, "probe") == 0) {
		printf("probe %s %s:\n", name, arg == NULL ? "none" : arg);
		err = kmod_module_probe_insert_module(mod, arg == NULL ? 0 : probe_flags(arg), NULL,
						      NULL, NULL, print_action);
		printf("  = %s\n", result(err));
	} else if (strcmp(op, "remove") == 0) {
		unsigned int flags = arg != NULL && strcmp(arg, "nolog") == 0 ? KMOD_REMOVE_NOLOG : 0;

		err = kmod_module_remove_module(mod, flags);
		printf("remove %s%s: %s\n", name, flags ? " nolog" : "", result(err));
	} else if (strcmp(op, "initstate") == 0) {
		const char *state;

		err = kmod_module_get_initstate(mod);
		state = err < 0 ? NULL : kmod_module_initstate_str(err);
		printf("initstate %s: %s %s\n", name, result(err), state == NULL ? "(null)" : state);
	} else if (strcmp(op, "refcnt") == 0) {
		printf("refcnt %s: %s\n", name, result(kmod_module_get_refcnt(mod)));
	} else if (strcmp(op, "holders") == 0) {
		print_holders(name, mod);
	} else if (strcmp(op, "sections") == 0) {
		print_sections(name, mod);
	} else {
		printf("%s: unknown operation\n", op);
	}
	kmod_module_unref(mod);
}

int main(int argc, char *argv[])
{
	struct kmod_ctx *ctx;
	char line[4096];

	if (argc > 2) {
		fprintf(stderr, "usage: %s [MODULE_DIR] < SCRIPT\n", argv[0]);
		return 2;
	}
	ctx = kmod_new(argc == 2 ? argv[1] : NULL, NULL);
	if (ctx == NULL) {
		fprintf(stderr, "kmod_new failed\n");
		return 1;
	}
	kmod_set_log_fn(ctx, log_to_stdout, NULL);
	kmod_set_log_priority(ctx, LOG_INFO);
	printf("load %s\n", result(kmod_load_resources(ctx)));
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *saveptr, *op, *name, *arg;

		line[strcspn(line, "\n")] = '\0';
		op = strtok_r(line, " ", &saveptr);
		if (op == NULL || op[0] == '#')
			continue;
		name = strtok_r(NULL, " ", &saveptr);
		arg = strtok_r(NULL, "", &saveptr);
		run(ctx, op, name, arg);
		fflush(stdout);
	}
	/* kmod logs the context's release at LOG_INFO with its address, which differs. */
	kmod_set_log_priority(ctx, LOG_ERR);
	kmod_unref(ctx);
	return 0;
}
