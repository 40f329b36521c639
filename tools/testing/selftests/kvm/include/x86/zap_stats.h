/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The counters the shadow MMU zap tests read, per phase: from the VM's
 * binary stats fd, cross-checked against the per-VM debugfs files
 * (/sys/kernel/debug/kvm/<pid>-<vmfd>/) wherever those can be read.
 */
#ifndef SELFTEST_KVM_ZAP_STATS_H
#define SELFTEST_KVM_ZAP_STATS_H

#include <stdint.h>
#include <time.h>

#include "kvm_util.h"

/*
 * vm_get_stat() takes the stat's name as a string up to 6.14 and as a bare
 * token (a macro) since 6.15.  One of three switches on what libkvm's API
 * looks like, each keyed on the change itself (user_mode.h: the page-table
 * API of 7.1; nested_npt.c: the VMCB's nested paging bit).
 */
#ifdef vm_get_stat
#define zap_vm_stat(vm, name) vm_get_stat(vm, name)
#else
#define zap_vm_stat(vm, name) vm_get_stat(vm, #name)
#endif

struct zap_stats {
	uint64_t mmu_unsync;
	uint64_t mmu_cache_miss;
	uint64_t mmu_shadow_zapped;
	uint64_t mmu_recycled;
	uint64_t pages_4k;
	uint64_t remote_tlb_flush;
	uint64_t remote_tlb_flush_requests;
	uint64_t mmu_pte_write;
	uint64_t mmu_flooded;
};

/*
 * Read every counter of struct zap_stats, with @phase naming the moment in
 * an assertion message.  The first call says once, as a KTAP diagnostic,
 * which counters debugfs cross-checked and why the others were not.
 */
void zap_stats_read(struct kvm_vm *vm, struct zap_stats *s, const char *phase);

/*
 * Shadow pages in use (KVM's n_used_mmu_pages): every created page counts
 * one mmu_cache_miss, every freed one an mmu_shadow_zapped.  Exact as long
 * as no active root was zapped: an active root is counted as zapped but
 * stays in use, and is counted again when its last user drops it.
 */
static inline uint64_t zap_stats_in_use(const struct zap_stats *s)
{
	return s->mmu_cache_miss - s->mmu_shadow_zapped;
}

/*
 * One operation between two snapshots of the counters, and its wall time:
 * zap_phase_begin() reads the counters and starts the clock, the caller
 * runs the operation, zap_phase_end() stops the clock, reads them again
 * and takes @delta, after - before.  @name labels both snapshots ("before
 * shrink", "after shrink") and the assertions on them.
 */
struct zap_phase {
	const char *name;
	struct zap_stats before;
	struct zap_stats after;
	struct zap_stats delta;
	struct timespec start;
	double ms;
};

void zap_phase_begin(struct kvm_vm *vm, struct zap_phase *p, const char *name);
void zap_phase_end(struct kvm_vm *vm, struct zap_phase *p);

#endif /* SELFTEST_KVM_ZAP_STATS_H */
