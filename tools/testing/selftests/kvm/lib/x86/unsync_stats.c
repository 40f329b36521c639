// SPDX-License-Identifier: GPL-2.0-only
/*
 * The counters of the shadow MMU, as the unsync_vm tests read them
 * (unsync_stats.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kvm_util.h"
#include "unsync_stats.h"

static bool vm_has_stat(struct kvm_vm *vm, const char *name)
{
	struct kvm_binary_stats *stats = &vm->stats;
	struct kvm_stats_desc *desc;
	int i;

	/* The first read loads the descriptors. */
	vm_get_stat(vm, mmu_unsync);
	for (i = 0; i < stats->header.num_desc; i++) {
		desc = (void *)stats->desc + i * get_stats_descriptor_size(&stats->header);
		if (!strcmp(desc->name, name))
			return true;
	}
	return false;
}

/*
 * The per-VM debugfs file of counter @name must say what the binary stats
 * fd said.  Returns -errno for a file that cannot be read (a locked-down
 * kernel refuses KVM's writable counters; the gauges stay readable).
 */
static int debugfs_check(struct kvm_vm *vm, const char *name, u64 val)
{
	char path[128];
	struct stat st;
	u64 dval;
	FILE *f;
	int n;

	/*
	 * KVM names the directory by the pid of the initial pid namespace
	 * (PROC_PID_INIT_INO is its inode); elsewhere getpid() is another.
	 */
	if (stat("/proc/self/ns/pid", &st) || st.st_ino != 0xeffffffcU)
		return -ESRCH;
	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d/%s", getpid(),
		 vm->fd, name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%lu", &dval);
	fclose(f);
	TEST_ASSERT(n == 1, "Cannot parse %s", path);
	TEST_ASSERT(dval == val, "%s: debugfs says %lu, the binary stats fd %lu",
		    name, dval, val);
	return 0;
}

#define COUNTER(name, mm) { #name, offsetof(struct unsync_stats, name), mm }

/*
 * @host_mm: the host's mm may move the counter at any time, also while no
 * vCPU runs (an MMU notifier drops SPTEs and flushes TLBs), so a second
 * read from debugfs need not agree with the first.
 */
static const struct {
	const char *name;
	size_t offset;
	bool host_mm;
} counters[] = {
	COUNTER(mmu_unsync, false),
	COUNTER(mmu_cache_miss, false),
	COUNTER(mmu_shadow_zapped, false),
	COUNTER(mmu_recycled, false),
	COUNTER(mmu_pte_write, false),
	COUNTER(mmu_flooded, false),
	COUNTER(pages_4k, true),
	COUNTER(remote_tlb_flush_requests, true),
};

void unsync_stats_read(struct kvm_vm *vm, struct unsync_stats *s)
{
	static int has_shadow_pages = -1;
	int i, err, checked = 0, checkable = 0, why = 0;
	static bool told;
	u64 val;

	for (i = 0; i < ARRAY_SIZE(counters); i++) {
		kvm_get_stat(&vm->stats, counters[i].name, &val, 1);
		*(u64 *)((void *)s + counters[i].offset) = val;
		if (counters[i].host_mm)
			continue;
		checkable++;
		err = debugfs_check(vm, counters[i].name, val);
		if (err)
			why = -err;
		else
			checked++;
	}

	if (has_shadow_pages < 0)
		has_shadow_pages = vm_has_stat(vm, "mmu_shadow_pages");
	s->in_use_exact = has_shadow_pages;
	if (has_shadow_pages) {
		kvm_get_stat(&vm->stats, "mmu_shadow_pages", &val, 1);
		s->in_use = val;
	} else {
		s->in_use = s->mmu_cache_miss - s->mmu_shadow_zapped;
	}

	if (!told) {
		ksft_print_msg("pages in use: %s; debugfs cross-checked %d of %d counters%s%s\n",
			       has_shadow_pages ? "mmu_shadow_pages" :
						  "mmu_cache_miss - mmu_shadow_zapped",
			       checked, checkable, why ? ": " : "",
			       why ? strerror(why) : "");
		told = true;
	}
}
