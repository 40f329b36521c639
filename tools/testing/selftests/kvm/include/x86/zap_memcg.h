/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A memory cgroup of the test's own, a child of the one it runs in, to see
 * what KVM frees: cgroup v2's memory.current where the v2 hierarchy has the
 * memory controller, else v1's memory.usage_in_bytes.  Both count the pages
 * charged to it, user and kernel (shadow pages and their headers are
 * allocated with __GFP_ACCOUNT), to within what each CPU keeps precharged
 * (MEMCG_CHARGE_BATCH pages).
 */
#ifndef SELFTEST_KVM_ZAP_MEMCG_H
#define SELFTEST_KVM_ZAP_MEMCG_H

#include <stdint.h>

struct zap_memcg {
	char parent[512];
	char dir[576];
	const char *usage; /* memory.current or memory.usage_in_bytes */
	uint64_t slack; /* bytes the charge may be off by */
};

/*
 * Move the test into a memory cgroup of its own, removed again at exit or
 * by zap_memcg_leave(); NULL, or why there is none.  Removes the cgroups
 * that killed runs left behind.
 */
const char *zap_memcg_enter(struct zap_memcg *m);
void zap_memcg_leave(void);

/* Bytes charged to the cgroup now. */
uint64_t zap_memcg_usage(struct zap_memcg *m);

#endif /* SELFTEST_KVM_ZAP_MEMCG_H */
