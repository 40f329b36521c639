/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * For the library's parts that make named kernel objects a killed test
 * leaves behind (the memory cgroup of zap_memcg.c; later the trace
 * layer's tracefs instance and kprobes): a tag that tells a later run
 * whose they are, and a file write that signal handlers may use.
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
