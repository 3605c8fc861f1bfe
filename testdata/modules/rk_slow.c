// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: takes two seconds to initialise (for concurrent loads). */
#include <linux/delay.h>
#include <linux/module.h>

static int __init rk_slow_init(void)
{
	msleep(2000);
	return 0;
}

static void __exit rk_slow_exit(void)
{
}

module_init(rk_slow_init);
module_exit(rk_slow_exit);
MODULE_DESCRIPTION("rkmod test: slow init");
MODULE_LICENSE("GPL");
