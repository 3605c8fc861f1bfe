// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: parameters, readable in /sys/module/rk_params/parameters. */
#include <linux/module.h>

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "a number");

static char *name = "default";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "a string");

static bool flag;
module_param(flag, bool, 0444);
MODULE_PARM_DESC(flag, "a boolean");

static int __init rk_params_init(void)
{
	return 0;
}

static void __exit rk_params_exit(void)
{
}

module_init(rk_params_init);
module_exit(rk_params_exit);
MODULE_DESCRIPTION("rkmod test: parameters");
MODULE_ALIAS("rk-params-alias");
MODULE_LICENSE("GPL");
