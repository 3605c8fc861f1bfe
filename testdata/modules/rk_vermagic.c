// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: build.sh rewrites its vermagic so the kernel refuses it unless forced. */
#include <linux/module.h>

static int __init rk_vermagic_init(void)
{
	return 0;
}

static void __exit rk_vermagic_exit(void)
{
}

module_init(rk_vermagic_init);
module_exit(rk_vermagic_exit);
MODULE_DESCRIPTION("rkmod test: foreign vermagic");
MODULE_LICENSE("GPL");
