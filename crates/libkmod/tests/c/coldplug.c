// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What systemd-udevd does with libkmod at boot, timed: one context with its resources
 * loaded, then for every modalias a lookup and a probe of each module found (dry run, with
 * udev's blacklist flag).
 *
 *   coldplug MODULE_DIR MODALIAS_FILE
 *
 * Prints "init SECONDS", "lookups SECONDS", "hwm KIB" (the peak resident memory, VmHWM, of
 * this process image: a parent's rusage would also count the pre-exec image) and the numbers
 * of requests, modules and actions seen (the same for any two libraries that agree).
 * With COLDPLUG_SMAPS=FILE in the environment it also copies /proc/self/smaps to FILE
 * before the context goes, for a breakdown of where the resident memory is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libkmod.h>

static unsigned long actions;

static void count_action(struct kmod_module *m, bool install, const char *options)
{
	(void)m;
	(void)install;
	(void)options;
	actions++;
}

static long peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *status = fopen("/proc/self/status", "re");

	if (status == NULL)
		return -1;
	while (fgets(line, sizeof(line), status) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(status);
	return kib;
}

static void copy_smaps(const char *path)
{
	char buf[8192];
	size_t n;
	FILE *in = fopen("/proc/self/smaps", "re");
	FILE *out = fopen(path, "we");

	while (in != NULL && out != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		fclose(out);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
	unsigned long modules = 0, requests = 0;
	struct kmod_ctx *ctx;
	char line[4096];
	double start, ready, done;
	FILE *aliases;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MODULE_DIR MODALIAS_FILE\n", argv[0]);
		return 2;
	}
	aliases = fopen(argv[2], "re");
	if (aliases == NULL) {
		perror(argv[2]);
		return 1;
	}
	start = now();
	ctx = kmod_new(argv[1], NULL);
	if (ctx == NULL || kmod_load_resources(ctx) < 0) {
		fprintf(stderr, "could not set up the context\n");
		return 1;
	}
	ready = now();
	while (fgets(line, sizeof(line), aliases) != NULL) {
		struct kmod_list *list = NULL, *l;

		line[strcspn(line, "\n")] = '\0';
		requests++;
		if (kmod_module_new_from_lookup(ctx, line, &list) < 0)
			continue;
		kmod_list_foreach(l, list) {
			struct kmod_module *m = kmod_module_get_module(l);

			modules++;
			kmod_module_probe_insert_module(m,
							KMOD_PROBE_DRY_RUN |
								KMOD_PROBE_APPLY_BLACKLIST,
							NULL, NULL, NULL, count_action);
			kmod_module_unref(m);
		}
		kmod_module_unref_list(list);
	}
	if (getenv("COLDPLUG_SMAPS") != NULL)
		copy_smaps(getenv("COLDPLUG_SMAPS"));
	kmod_unref(ctx);
	done = now();
	fclose(aliases);
	printf("init %.6f\nlookups %.6f\nhwm %ld\nrequests %lu modules %lu actions %lu\n",
	       ready - start, done - ready, peak_rss_kib(), requests, modules, actions);
	return 0;
}
