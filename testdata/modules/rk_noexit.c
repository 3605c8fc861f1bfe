// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: no exit function, so only a forced unload (rmmod -f) removes it. */
#include <linux/module.h>

static int __init rk_noexit_init(void)
{
	return 0;
}

module_init(rk_noexit_init);
MODULE_DESCRIPTION("rkmod test: no exit function");
MODULE_LICENSE("GPL");
