// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A diagnostic for scripts/kmod-testsuite --diagnostic-trap, never part of the verdict that
 * scripts/check takes: an LD_PRELOAD trap that redirects into $TESTSUITE_ROOTFS the path calls
 * kmod's testsuite/path.c does not wrap (statx, openat, fstatat, lstat, access, readlink,
 * realpath, mkdirat, unlinkat, renameat, symlink, chmod, ...), with path.c's rule: an absolute
 * path outside the build directory (KTS_BUILDDIR) gets the rootfs in front. With it, a case
 * that still fails does so for a reason other than calls kmod's trap cannot see. Calls made
 * with raw syscalls (rustix's linux_raw backend) pass it by as they pass path.c by.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRAP_BUF (PATH_MAX * 2)

static const char *trap(const char *path, char *buf)
{
	const char *root = getenv("TESTSUITE_ROOTFS");

	if (root == NULL || path == NULL || path[0] != '/' ||
	    strncmp(path, KTS_BUILDDIR, strlen(KTS_BUILDDIR)) == 0)
		return path;
	if (snprintf(buf, TRAP_BUF, "%s%s", root, path) >= TRAP_BUF)
		return path;
	return buf;
}

#define NEXT(name)                    \
	static typeof(name) *next;    \
	if (next == NULL)             \
		next = dlsym(RTLD_NEXT, #name)

int statx(int dfd, const char *p, int fl, unsigned int mask, struct statx *st)
{
	char b[TRAP_BUF];
	NEXT(statx);
	return next(dfd, trap(p, b), fl, mask, st);
}

#define WRAP_OPENAT(name)                                \
	int name(int dfd, const char *p, int fl, ...)    \
	{                                                \
		char b[TRAP_BUF];                        \
		va_list ap;                              \
		mode_t m;                                \
		va_start(ap, fl);                        \
		m = va_arg(ap, int);                     \
		va_end(ap);                              \
		NEXT(name);                              \
		return next(dfd, trap(p, b), fl, m);     \
	}
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)

int fstatat(int dfd, const char *p, struct stat *st, int fl)
{
	char b[TRAP_BUF];
	NEXT(fstatat);
	return next(dfd, trap(p, b), st, fl);
}
int fstatat64(int dfd, const char *p, struct stat64 *st, int fl)
{
	char b[TRAP_BUF];
	NEXT(fstatat64);
	return next(dfd, trap(p, b), st, fl);
}
int lstat(const char *p, struct stat *st)
{
	char b[TRAP_BUF];
	NEXT(lstat);
	return next(trap(p, b), st);
}
int lstat64(const char *p, struct stat64 *st)
{
	char b[TRAP_BUF];
	NEXT(lstat64);
	return next(trap(p, b), st);
}
int access(const char *p, int m)
{
	char b[TRAP_BUF];
	NEXT(access);
	return next(trap(p, b), m);
}
int faccessat(int d, const char *p, int m, int f)
{
	char b[TRAP_BUF];
	NEXT(faccessat);
	return next(d, trap(p, b), m, f);
}
ssize_t readlink(const char *p, char *o, size_t n)
{
	char b[TRAP_BUF];
	NEXT(readlink);
	return next(trap(p, b), o, n);
}
ssize_t readlinkat(int d, const char *p, char *o, size_t n)
{
	char b[TRAP_BUF];
	NEXT(readlinkat);
	return next(d, trap(p, b), o, n);
}
int mkdirat(int d, const char *p, mode_t m)
{
	char b[TRAP_BUF];
	NEXT(mkdirat);
	return next(d, trap(p, b), m);
}
int unlinkat(int d, const char *p, int f)
{
	char b[TRAP_BUF];
	NEXT(unlinkat);
	return next(d, trap(p, b), f);
}
int unlink(const char *p)
{
	char b[TRAP_BUF];
	NEXT(unlink);
	return next(trap(p, b));
}
int renameat(int d, const char *p, int e, const char *q)
{
	char b[TRAP_BUF], c[TRAP_BUF];
	NEXT(renameat);
	return next(d, trap(p, b), e, trap(q, c));
}
int renameat2(int d, const char *p, int e, const char *q, unsigned int f)
{
	char b[TRAP_BUF], c[TRAP_BUF];
	NEXT(renameat2);
	return next(d, trap(p, b), e, trap(q, c), f);
}
int rename(const char *p, const char *q)
{
	char b[TRAP_BUF], c[TRAP_BUF];
	NEXT(rename);
	return next(trap(p, b), trap(q, c));
}
int symlink(const char *t, const char *p)
{
	char b[TRAP_BUF];
	NEXT(symlink);
	return next(t, trap(p, b));
}
int symlinkat(const char *t, int d, const char *p)
{
	char b[TRAP_BUF];
	NEXT(symlinkat);
	return next(t, d, trap(p, b));
}
int chmod(const char *p, mode_t m)
{
	char b[TRAP_BUF];
	NEXT(chmod);
	return next(trap(p, b), m);
}

/* realpath resolves inside the rootfs and answers without it, as the path would read there. */
char *realpath(const char *p, char *out)
{
	char b[TRAP_BUF];
	const char *t = trap(p, b);
	const char *root = getenv("TESTSUITE_ROOTFS");
	char *r;
	NEXT(realpath);

	r = next(t, out);
	if (r != NULL && t != p && root != NULL) {
		size_t n = strlen(root);
		if (n > 0 && root[n - 1] == '/')
			n--;
		if (strncmp(r, root, n) == 0)
			memmove(r, r + n, strlen(r + n) + 1);
	}
	return r;
}
