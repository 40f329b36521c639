/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef SELFTEST_KVM_SHADOW_MMU_OPTS_H
#define SELFTEST_KVM_SHADOW_MMU_OPTS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A test's command line is a table of options, ended by an empty entry:
 * -@flag N sets *@num to N, which must lie in [@min, @max]; -@flag S sets
 * *@text to S, or calls @parse(S), which exits on a bad S; -@flag alone
 * sets *@on.  The library adds -h, which prints
 * the usage and exits 0; an unknown option, a bad value or a stray argument
 * fails the test before it opens /dev/kvm.
 */
struct shadow_mmu_opt {
	char flag;
	const char *arg; /* what follows the flag in the usage: "pages" */
	const char *help; /* "unsync shadow pages to build" */
	uint64_t *num;
	uint64_t min, max;
	const char **text;
	void (*parse)(const char *arg);
	bool *on;
};

void shadow_mmu_parse_args(int argc, char *argv[],
			   const struct shadow_mmu_opt *opts);

/* atoi_positive() for a flag that must also lie in [@min, @max]. */
uint32_t atoi_in_range(const char *flag, const char *arg, uint32_t min,
		       uint32_t max);

#endif /* SELFTEST_KVM_SHADOW_MMU_OPTS_H */
