// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: its init fails with -ENODEV. */
#include <linux/module.h>

static int __init rk_initfail_init(void)
{
	return -ENODEV;
}

module_init(rk_initfail_init);
MODULE_DESCRIPTION("rkmod test: init fails with ENODEV");
MODULE_LICENSE("GPL");
