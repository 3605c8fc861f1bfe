// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: uses rk_exporter's symbol, so it depends on (and holds) rk_exporter. */
#include <linux/module.h>

int rk_exporter_value(void);

static int __init rk_user_init(void)
{
	return rk_exporter_value() == 42 ? 0 : -EINVAL;
}

static void __exit rk_user_exit(void)
{
}

module_init(rk_user_init);
module_exit(rk_user_exit);
MODULE_DESCRIPTION("rkmod test: uses rk_exporter");
MODULE_LICENSE("GPL");
