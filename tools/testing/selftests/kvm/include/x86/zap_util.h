/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the memory cgroup (zap_memcg.c) and the trace layer (zap_trace*.c)
 * share: both make named kernel objects (a cgroup, a tracefs instance and
 * kprobes) that a killed test leaves behind, write them from signal
 * handlers, and name them so that a later run can tell whose they are.
 */
#ifndef SELFTEST_KVM_ZAP_UTIL_H
#define SELFTEST_KVM_ZAP_UTIL_H

#include <stdbool.h>

/*
 * The inode of our pid namespace, 0 if unknown.  Live namespaces have
 * distinct inodes, so a name carrying the inode and a pid (what a killed
 * test leaves in tracefs or the cgroup tree) says in which namespace the
 * pid means something.
 */
unsigned long pid_ns_inode(void);

/*
 * Write @val to the file at @path, appending or truncating; 0 or -errno.
 * Async-signal-safe (open, write, close).
 */
int zap_write_file(const char *path, const char *val, bool append);

#endif /* SELFTEST_KVM_ZAP_UTIL_H */
