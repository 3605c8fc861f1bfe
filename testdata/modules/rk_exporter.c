// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: exports a symbol that rk_user needs. */
#include <linux/module.h>

int rk_exporter_value(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(rk_exporter_value);

static int __init rk_exporter_init(void)
{
	return 0;
}

static void __exit rk_exporter_exit(void)
{
}

module_init(rk_exporter_init);
module_exit(rk_exporter_exit);
MODULE_DESCRIPTION("rkmod test: exports rk_exporter_value");
MODULE_LICENSE("GPL");
