/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The log function of the C test programs: each library log line goes to stdout as
 * "  log PRIORITY FUNCTION: MESSAGE", between the program's own lines, so that a run with
 * kmod's library and a run with ours can be compared as one text.
 */
#ifndef RKMOD_TEST_LOG_STDOUT_H
#define RKMOD_TEST_LOG_STDOUT_H

#include <stdarg.h>
#include <stdio.h>

static void log_to_stdout(void *data, int priority, const char *file, int line,
			  const char *fn, const char *format, va_list args)
{
	(void)data;
	(void)file;
	(void)line;
	printf("  log %d %s: ", priority, fn);
	vprintf(format, args);
}

#endif
