// SPDX-License-Identifier: GPL-2.0-only
/*
 * A memory cgroup of the test's own: see zap_memcg.h.  A test that is
 * killed leaves its cgroup behind (named for its pid); the next run removes
 * those of pids that are gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "zap_memcg.h"

#define MEMCG_CHARGE_BATCH 64

static struct zap_memcg *entered_memcg;

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), r;

	if (fd < 0)
		return -errno;
	r = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -errno;
	close(fd);
	return r;
}

uint64_t zap_memcg_usage(struct zap_memcg *m)
{
	char path[640], buf[32];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->dir, m->usage);
	fd = open_path_or_exit(path, O_RDONLY);
	r = read(fd, buf, sizeof(buf) - 1);
	TEST_ASSERT(r > 0, "read(%s) failed, errno %d", path, errno);
	close(fd);
	buf[r] = '\0';
	return strtoull(buf, NULL, 10);
}

/* Where the cgroup line of @v2 (or of v1's memory controller) points. */
static bool own_cgroup(bool v2, char *path, size_t size)
{
	char *line = NULL, *ctrl, *rest;
	bool found = false;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");

	while (f && !found && getline(&line, &cap, f) > 0) {
		/* "id:controllers:path"; v2's is "0::path". */
		ctrl = strchr(line, ':');
		if (!ctrl)
			continue;
		*ctrl++ = '\0';
		rest = strchr(ctrl, ':');
		if (!rest)
			continue;
		*rest++ = '\0';
		rest[strcspn(rest, "\n")] = '\0';
		if (v2 ? !strcmp(line, "0") && !*ctrl :
			 !!strstr(ctrl, "memory")) {
			snprintf(path, size, "%s", rest);
			found = true;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* The mount point of cgroup2, or of the v1 hierarchy with "memory". */
static bool cgroup_mount(bool v2, char *path, size_t size)
{
	char *line = NULL, dir[256], type[32], opts[256];
	bool found = false;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mounts", "r");

	while (f && !found && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %255s %31s %255s", dir, type, opts) != 3)
			continue;
		if (v2 ? !strcmp(type, "cgroup2") :
			 !strcmp(type, "cgroup") && strstr(opts, "memory")) {
			snprintf(path, size, "%s", dir);
			found = true;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* Whether the (short) file at @path names @word. */
static bool file_has_word(const char *path, const char *word)
{
	char buf[256];
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	return strstr(buf, word);
}

static bool memcg_find_parent(struct zap_memcg *m, bool v2)
{
	char mnt[256], own[256], path[576];

	if (!cgroup_mount(v2, mnt, sizeof(mnt)) ||
	    !own_cgroup(v2, own, sizeof(own)))
		return false;
	snprintf(m->parent, sizeof(m->parent), "%s%s", mnt,
		 strcmp(own, "/") ? own : "");
	if (!v2)
		return true;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", m->parent);
	if (!file_has_word(path, "memory"))
		return false;
	/* A v2 child has the controller only if its parent passes it on. */
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", m->parent);
	write_file(path, "+memory");
	return true;
}

void zap_memcg_leave(void)
{
	struct zap_memcg *m = entered_memcg;
	char path[640], pid[16];

	if (!m)
		return;
	entered_memcg = NULL;
	snprintf(path, sizeof(path), "%s/cgroup.procs", m->parent);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(path, pid);
	rmdir(m->dir);
}

/* A killed test leaves its cgroup behind: remove those of dead pids. */
static void memcg_remove_stale(struct zap_memcg *m)
{
	static const char prefix[] = "kvm_zap_selftest_";
	char path[1024];
	struct dirent *de;
	DIR *d = opendir(m->parent);
	int pid;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		pid = atoi(de->d_name + strlen(prefix));
		if (pid <= 0 || !kill(pid, 0) || errno == EPERM)
			continue;
		snprintf(path, sizeof(path), "%s/%s", m->parent, de->d_name);
		if (!rmdir(path))
			ksft_print_msg("removed cgroup %s of dead pid %d\n",
				       de->d_name, pid);
	}
	if (d)
		closedir(d);
}

/* Move the test into a memory cgroup of its own; NULL and why if none. */
const char *zap_memcg_enter(struct zap_memcg *m)
{
	char path[640], pid[16];
	bool v2;
	int r;

	v2 = memcg_find_parent(m, true);
	if (!v2 && !memcg_find_parent(m, false))
		return "no memory cgroup mounted (v2 memory controller or v1 memory)";
	m->usage = v2 ? "memory.current" : "memory.usage_in_bytes";
	m->slack = 2ULL * MEMCG_CHARGE_BATCH * PAGE_SIZE *
		   sysconf(_SC_NPROCESSORS_ONLN);
	memcg_remove_stale(m);
	snprintf(m->dir, sizeof(m->dir), "%s/kvm_zap_selftest_%d", m->parent,
		 getpid());
	if (mkdir(m->dir, 0755))
		return "cannot create a memory cgroup (mkdir failed)";
	snprintf(path, sizeof(path), "%s/%s", m->dir, m->usage);
	if (access(path, R_OK)) {
		rmdir(m->dir);
		return "the new cgroup has no memory controller";
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", m->dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	r = write_file(path, pid);
	if (r) {
		rmdir(m->dir);
		return "cannot move the test into its memory cgroup";
	}
	entered_memcg = m;
	atexit(zap_memcg_leave);
	return NULL;
}
