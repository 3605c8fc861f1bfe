// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Drives libkmod the way udev and modprobe do and prints everything it learns, so that two
 * libraries can be compared by their output: rkmod's and kmod's.
 *
 *   lookup MODULE_DIR CONFIG_DIR REQUESTS_FILE
 *
 * For every line of REQUESTS_FILE: "lookup REQUEST" resolves it with
 * kmod_module_new_from_lookup, "name NAME" creates a module with kmod_module_new_from_name and
 * "namelookup NAME" with kmod_module_new_from_name_lookup. For each module found it prints
 * its name, path, options, install and remove commands, dependencies and softdeps, then a
 * dry-run probe (as udev's, and as modprobe -D's) with every print_action, the return value,
 * and the messages the library logged. kmod_module_new_from_name_lookup (kmod 31) is looked
 * up with dlsym, so that the program runs against Debian 12's kmod 30 library too, where
 * "namelookup" lines print "unsupported". "probe REQUEST" looks REQUEST up and dry-runs a
 * probe of each module found straight away, with a print_action that asks the library about
 * the module it is handed (its path, options, commands, dependencies, state) and makes a
 * handle of its own, as a client may do from inside the callback.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <libkmod.h>

#include "log_stdout.h"

static const char *text(const char *s)
{
	return s == NULL ? "(null)" : s;
}

static void print_action(struct kmod_module *m, bool install, const char *options)
{
	printf("  action %s %s path=%s options=[%s]\n", install ? "install" : "insmod",
	       kmod_module_get_name(m), text(kmod_module_get_path(m)), text(options));
}

static void print_names(const char *label, struct kmod_list *list)
{
	struct kmod_list *l;

	printf("  %s:", label);
	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l);

		printf(" %s", kmod_module_get_name(m));
		kmod_module_unref(m);
	}
	printf("\n");
}

/* The context, for the callbacks to make handles of their own. */
static struct kmod_ctx *the_ctx;

/* A print_action that calls back into the library about the module it is handed. */
static void print_action_asking(struct kmod_module *m, bool install, const char *options)
{
	struct kmod_module *other = NULL;
	struct kmod_list *deps;
	int err;

	print_action(m, install, options);
	printf("   own options=[%s] install=[%s] remove=[%s]\n",
	       text(kmod_module_get_options(m)), text(kmod_module_get_install_commands(m)),
	       text(kmod_module_get_remove_commands(m)));
	deps = kmod_module_get_dependencies(m);
	print_names(" deps", deps);
	kmod_module_unref_list(deps);
	printf("   initstate %d\n", kmod_module_get_initstate(m) >= 0 ? 0 : -1);
	err = kmod_module_new_from_name(the_ctx, "usb-storage", &other);
	printf("   other %d %s\n", err, err < 0 ? "-" : text(kmod_module_get_path(other)));
	kmod_module_unref(other);
}

static void dump_config(const char *kind, struct kmod_config_iter *iter)
{
	int passes;

	/* Twice: an iterator that reached its end starts again. */
	for (passes = 0; passes < 2; passes++) {
		while (kmod_config_iter_next(iter))
			printf("config %s %s %s\n", kind, text(kmod_config_iter_get_key(iter)),
			       text(kmod_config_iter_get_value(iter)));
	}
	kmod_config_iter_free_iter(iter);
}

static void describe(struct kmod_module *mod)
{
	struct kmod_list *deps, *pre = NULL, *post = NULL;
	int err;

	printf(" module %s\n", kmod_module_get_name(mod));
	printf("  path %s\n", text(kmod_module_get_path(mod)));
	printf("  options %s\n", text(kmod_module_get_options(mod)));
	printf("  install %s\n", text(kmod_module_get_install_commands(mod)));
	printf("  remove %s\n", text(kmod_module_get_remove_commands(mod)));
	deps = kmod_module_get_dependencies(mod);
	print_names("deps", deps);
	kmod_module_unref_list(deps);
	err = kmod_module_get_softdeps(mod, &pre, &post);
	printf("  softdeps %d\n", err);
	print_names("pre", pre);
	print_names("post", post);
	kmod_module_unref_list(pre);
	kmod_module_unref_list(post);

	/* udev: the blacklist for aliases only. */
	err = kmod_module_probe_insert_module(mod,
					      KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED |
						      KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY,
					      NULL, NULL, NULL, print_action);
	printf("  probe-udev %d\n", err);
	/* modprobe -D -b with extra options. */
	err = kmod_module_probe_insert_module(mod,
					      KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED |
						      KMOD_PROBE_APPLY_BLACKLIST,
					      "extra=1", NULL, NULL, print_action);
	printf("  probe-b %d\n", err);
	/* The whole list filtered. */
	err = kmod_module_probe_insert_module(mod,
					      KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED |
						      KMOD_PROBE_APPLY_BLACKLIST_ALL,
					      NULL, NULL, NULL, print_action);
	printf("  probe-all %d\n", err);
	/* -i: no install command, no softdeps for the module itself. */
	err = kmod_module_probe_insert_module(mod,
					      KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED |
						      KMOD_PROBE_IGNORE_COMMAND,
					      NULL, NULL, NULL, print_action);
	printf("  probe-i %d\n", err);
}

int main(int argc, char *argv[])
{
	const char *config[2] = { NULL, NULL };
	struct kmod_ctx *ctx;
	char line[8192];
	FILE *requests;

	if (argc != 4) {
		fprintf(stderr, "usage: %s MODULE_DIR CONFIG_DIR REQUESTS_FILE\n", argv[0]);
		return 2;
	}
	config[0] = argv[2];
	ctx = kmod_new(argv[1], config);
	if (ctx == NULL) {
		fprintf(stderr, "kmod_new failed\n");
		return 1;
	}
	the_ctx = ctx;
	kmod_set_log_fn(ctx, log_to_stdout, NULL);
	kmod_set_log_priority(ctx, LOG_ERR);
	printf("dirname %s\n", kmod_get_dirname(ctx));
	printf("load %d\n", kmod_load_resources(ctx));
	dump_config("blacklist", kmod_config_get_blacklists(ctx));
	dump_config("install", kmod_config_get_install_commands(ctx));
	dump_config("remove", kmod_config_get_remove_commands(ctx));
	dump_config("alias", kmod_config_get_aliases(ctx));
	dump_config("options", kmod_config_get_options(ctx));
	dump_config("softdep", kmod_config_get_softdeps(ctx));

	requests = fopen(argv[3], "re");
	if (requests == NULL) {
		perror(argv[3]);
		return 1;
	}
	while (fgets(line, sizeof(line), requests) != NULL) {
		char *arg = strchr(line, ' ');
		int err;

		line[strcspn(line, "\n")] = '\0';
		if (arg == NULL)
			continue;
		*arg++ = '\0';
		printf("%s %s\n", line, arg);
		if (strcmp(line, "lookup") == 0) {
			struct kmod_list *list = NULL, *l;

			err = kmod_module_new_from_lookup(ctx, arg, &list);
			printf(" = %d\n", err);
			kmod_list_foreach(l, list) {
				struct kmod_module *m = kmod_module_get_module(l);

				describe(m);
				kmod_module_unref(m);
			}
			kmod_module_unref_list(list);
		} else if (strcmp(line, "probe") == 0) {
			struct kmod_list *list = NULL, *l;

			err = kmod_module_new_from_lookup(ctx, arg, &list);
			printf(" = %d\n", err);
			kmod_list_foreach(l, list) {
				struct kmod_module *m = kmod_module_get_module(l);

				err = kmod_module_probe_insert_module(
					m, KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED, NULL, NULL,
					NULL, print_action_asking);
				printf("  probe-asking %d\n", err);
				kmod_module_unref(m);
			}
			kmod_module_unref_list(list);
		} else {
			struct kmod_module *mod = NULL;

			if (strcmp(line, "name") == 0) {
				err = kmod_module_new_from_name(ctx, arg, &mod);
			} else {
				int (*name_lookup)(struct kmod_ctx *, const char *,
						   struct kmod_module **) =
					(int (*)(struct kmod_ctx *, const char *,
						 struct kmod_module **))
						dlsym(RTLD_DEFAULT,
						      "kmod_module_new_from_name_lookup");

				if (name_lookup == NULL || getenv("LOOKUP_NO_NAME_LOOKUP")) {
					printf(" unsupported\n");
					continue;
				}
				err = name_lookup(ctx, arg, &mod);
			}
			printf(" = %d %s\n", err, mod == NULL ? "none" : "found");
			if (mod != NULL) {
				describe(mod);
				kmod_module_unref(mod);
			}
		}
	}
	fclose(requests);
	kmod_unref(ctx);
	return 0;
}
