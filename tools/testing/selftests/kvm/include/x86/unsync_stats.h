/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The counters of the shadow MMU that the unsync_vm tests read: from the
 * VM's binary stats fd, cross-checked against the per-VM debugfs files
 * (/sys/kernel/debug/kvm/<pid>-<vmfd>/) where those can be read.
 */
#ifndef SELFTEST_KVM_UNSYNC_STATS_H
#define SELFTEST_KVM_UNSYNC_STATS_H

#include "kvm_util.h"

struct unsync_stats {
	/*
	 * Shadow pages in use: KVM's mmu_shadow_pages where it has that stat.
	 * Else every page created is a cache miss and every page freed a zap,
	 * which is exact as long as no root in use was zapped (such a root
	 * counts as zapped, and stays in use until its vCPU drops it; then it
	 * is zapped again): @in_use_exact says which.
	 */
	u64 in_use;
	bool in_use_exact;
	u64 mmu_unsync;
	u64 mmu_cache_miss;
	u64 mmu_shadow_zapped;
	u64 mmu_recycled;
	u64 mmu_pte_write;
	u64 mmu_flooded;
	u64 pages_4k;
	u64 remote_tlb_flush_requests;
};

/* The first read says once, as a KTAP diagnostic, what debugfs checked. */
void unsync_stats_read(struct kvm_vm *vm, struct unsync_stats *s);

#endif /* SELFTEST_KVM_UNSYNC_STATS_H */
