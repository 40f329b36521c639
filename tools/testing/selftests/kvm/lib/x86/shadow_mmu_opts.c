// SPDX-License-Identifier: GPL-2.0-only
/*
 * A test's command line as a table of options: see shadow_mmu_opts.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kselftest.h"
#include "shadow_mmu_opts.h"
#include "test_util.h"

static void print_usage(const char *name, const struct shadow_mmu_opt *opts)
{
	const struct shadow_mmu_opt *o;

	printf("usage: %s", name);
	for (o = opts; o->flag; o++)
		printf(o->arg ? " [-%c %s]" : " [-%c]", o->flag, o->arg);
	printf(" [-h]\n");
	for (o = opts; o->flag; o++) {
		printf(" -%c: %s", o->flag, o->help);
		if (o->num)
			printf(" (%lu..%lu, default %lu)", o->min, o->max,
			       *o->num);
		else if (o->text && *o->text)
			printf(" (default %s)", *o->text);
		printf("\n");
	}
}

void shadow_mmu_parse_args(int argc, char *argv[],
			   const struct shadow_mmu_opt *opts)
{
	const struct shadow_mmu_opt *o;
	char flags[32] = "h";
	int opt, n = 1;

	for (o = opts; o->flag; o++) {
		TEST_ASSERT(n + 2 < sizeof(flags), "Too many options");
		flags[n++] = o->flag;
		if (o->arg)
			flags[n++] = ':';
	}
	while ((opt = getopt(argc, argv, flags)) != -1) {
		for (o = opts; o->flag && o->flag != opt; o++)
			;
		if (!o->flag) {
			print_usage(argv[0], opts);
			exit(opt == 'h' ? KSFT_PASS : KSFT_FAIL);
		}
		if (o->num)
			*o->num = atoi_in_range((char[]){ '-', opt, 0 }, optarg,
						o->min, o->max);
		else if (o->text)
			*o->text = optarg;
		else if (o->parse)
			o->parse(optarg);
		else
			*o->on = true;
	}
	if (optind < argc) {
		print_usage(argv[0], opts);
		exit(KSFT_FAIL);
	}
}

uint32_t atoi_in_range(const char *flag, const char *arg, uint32_t min,
		       uint32_t max)
{
	uint32_t val = atoi_positive(flag, arg);

	TEST_ASSERT(val >= min && val <= max,
		    "%s must be from %u to %u, got '%s'", flag, min, max, arg);
	return val;
}
