// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shadow MMU's counters, read from the VM's binary stats fd.  The
 * per-VM debugfs files show the same kvm->stat fields; each counter is
 * cross-checked there where its file can be read.  Often it cannot: debugfs
 * is root's and may not be mounted, and a locked-down kernel (Secure Boot,
 * lockdown=integrity) refuses to open any debugfs file with a write bit,
 * even for reading, which are KVM's cumulative counters (0644); its gauges
 * (0444) stay readable.  That is never a failure: the test says which
 * counters were cross-checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "zap_stats.h"

#define DEBUGFS_KVM "/sys/kernel/debug/kvm"

/* The counters of struct zap_stats, in its order. */
static const char *const stat_names[] = {
	"mmu_unsync",
	"mmu_cache_miss",
	"mmu_shadow_zapped",
	"mmu_recycled",
	"pages_4k",
	"remote_tlb_flush",
	"remote_tlb_flush_requests",
	"mmu_pte_write",
	"mmu_flooded",
};

#define NR_STATS ARRAY_SIZE(stat_names)

/* Per counter: 0 until the first read, then the errno of its open(). */
static int debugfs_errno[NR_STATS];
static bool reported;

/* The debugfs value of @name in @val, or the errno that kept it back. */
static int debugfs_vm_stat(struct kvm_vm *vm, const char *name, uint64_t *val)
{
	char path[128], buf[32];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), DEBUGFS_KVM "/%d-%d/%s", getpid(), vm->fd,
		 name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return errno;
	r = read(fd, buf, sizeof(buf) - 1);
	TEST_ASSERT(r > 0, "read(%s) failed, errno %d", path, errno);
	close(fd);
	buf[r] = '\0';
	*val = strtoull(buf, NULL, 10);
	return 0;
}

static const char *why_not(int err)
{
	switch (err) {
	case EPERM:
		return "EPERM: a locked-down kernel hides writable debugfs files";
	case EACCES:
		return "EACCES: debugfs is root's";
	case ENOENT:
		return "ENOENT: no per-VM debugfs folder";
	default:
		return strerror(err);
	}
}

/* Say once which counters debugfs cross-checked, and why not the others. */
static void report_cross_check(void)
{
	char checked[256] = "", line[256];
	int i, j;

	for (i = 0; i < NR_STATS; i++)
		if (!debugfs_errno[i])
			snprintf(checked + strlen(checked),
				 sizeof(checked) - strlen(checked), " %s",
				 stat_names[i]);
	ksft_print_msg("stats: binary stats fd; debugfs cross-checked:%s\n",
		       checked[0] ? checked : " none");
	for (i = 0; i < NR_STATS; i++) {
		if (!debugfs_errno[i])
			continue;
		for (j = 0; j < i; j++)
			if (debugfs_errno[j] == debugfs_errno[i])
				break;
		if (j < i)
			continue;
		line[0] = '\0';
		for (j = i; j < NR_STATS; j++)
			if (debugfs_errno[j] == debugfs_errno[i])
				snprintf(line + strlen(line),
					 sizeof(line) - strlen(line), " %s",
					 stat_names[j]);
		ksft_print_msg("stats: not cross-checked (%s):%s\n",
			       why_not(debugfs_errno[i]), line);
	}
}

/*
 * Both interfaces read the same kvm->stat fields, and nothing runs in the
 * VM while its vCPUs are stopped, so a counter that debugfs shows must
 * have the binary stats' value.
 */
static uint64_t cross_check(struct kvm_vm *vm, const char *name, uint64_t val,
			    const char *phase)
{
	uint64_t from_debugfs = 0;
	int i, err;

	for (i = 0; strcmp(stat_names[i], name); i++)
		;

	if (debugfs_errno[i] > 0)
		return val;
	err = debugfs_vm_stat(vm, stat_names[i], &from_debugfs);
	if (err) {
		debugfs_errno[i] = err;
		return val;
	}
	TEST_ASSERT(val == from_debugfs,
		    "%s: %s is %lu in the binary stats but %lu in debugfs",
		    phase, stat_names[i], val, from_debugfs);
	return val;
}

/* The counters of @s, in the order of stat_names[]. */
static void stat_fields(struct zap_stats *s, uint64_t *fields[NR_STATS])
{
	uint64_t *f[] = {
		&s->mmu_unsync,
		&s->mmu_cache_miss,
		&s->mmu_shadow_zapped,
		&s->mmu_recycled,
		&s->pages_4k,
		&s->remote_tlb_flush,
		&s->remote_tlb_flush_requests,
		&s->mmu_pte_write,
		&s->mmu_flooded,
	};

	memcpy(fields, f, sizeof(f));
}

void zap_stats_read(struct kvm_vm *vm, struct zap_stats *s, const char *phase)
{
	uint64_t *fields[NR_STATS];
	uint64_t binary[] = {
		zap_vm_stat(vm, mmu_unsync),
		zap_vm_stat(vm, mmu_cache_miss),
		zap_vm_stat(vm, mmu_shadow_zapped),
		zap_vm_stat(vm, mmu_recycled),
		zap_vm_stat(vm, pages_4k),
		zap_vm_stat(vm, remote_tlb_flush),
		zap_vm_stat(vm, remote_tlb_flush_requests),
		zap_vm_stat(vm, mmu_pte_write),
		zap_vm_stat(vm, mmu_flooded),
	};
	int i;

	stat_fields(s, fields);
	for (i = 0; i < NR_STATS; i++)
		*fields[i] = cross_check(vm, stat_names[i], binary[i], phase);
	if (!reported) {
		reported = true;
		report_cross_check();
	}
}

void zap_phase_begin(struct kvm_vm *vm, struct zap_phase *p, const char *name)
{
	char label[128];

	p->name = name;
	snprintf(label, sizeof(label), "before %s", name);
	zap_stats_read(vm, &p->before, label);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

void zap_phase_end(struct kvm_vm *vm, struct zap_phase *p)
{
	uint64_t *before[NR_STATS], *after[NR_STATS], *delta[NR_STATS];
	char label[128];
	int i;

	p->ms = timespec_to_ns(timespec_elapsed(p->start)) / 1e6;
	snprintf(label, sizeof(label), "after %s", p->name);
	zap_stats_read(vm, &p->after, label);

	stat_fields(&p->before, before);
	stat_fields(&p->after, after);
	stat_fields(&p->delta, delta);
	for (i = 0; i < NR_STATS; i++)
		*delta[i] = *after[i] - *before[i];
}
