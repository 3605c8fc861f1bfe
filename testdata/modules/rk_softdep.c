// SPDX-License-Identifier: GPL-2.0-or-later
/* rkmod VM test module: a softdep (rk_params before, rk_slow after). */
#include <linux/module.h>

static int __init rk_softdep_init(void)
{
	return 0;
}

static void __exit rk_softdep_exit(void)
{
}

module_init(rk_softdep_init);
module_exit(rk_softdep_exit);
MODULE_DESCRIPTION("rkmod test: softdep");
MODULE_SOFTDEP("pre: rk_params post: rk_slow");
MODULE_LICENSE("GPL");
