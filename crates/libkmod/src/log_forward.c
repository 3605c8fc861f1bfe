// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A libkmod log function takes its message as a printf format and a va_list. Stable Rust
 * cannot build a va_list, so the Rust side hands the finished message to this variadic
 * function, which passes it on as the format "%s" with the message as its one argument.
 */
#include <stdarg.h>

typedef void (*rkmod_log_fn)(void *data, int priority, const char *file, int line,
                             const char *fn, const char *format, va_list args);

void rkmod_log_forward(rkmod_log_fn log_fn, void *data, int priority, const char *file,
                       int line, const char *fn, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	log_fn(data, priority, file, line, fn, format, args);
	va_end(args);
}
