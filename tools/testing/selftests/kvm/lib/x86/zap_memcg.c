// SPDX-License-Identifier: GPL-2.0-only
/*
 * A memory cgroup of the test's own: see zap_memcg.h.  The test leaves it
 * at exit and on SIGINT, SIGTERM, SIGHUP and SIGQUIT; one killed outright
 * leaves it behind, and a later run removes it.
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
#include "zap_util.h"

#define MEMCG_CHARGE_BATCH 64
#define MEMCG_PREFIX "kvm_zap_selftest_"

static const int async_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static struct sigaction old_actions[ARRAY_SIZE(async_signals)];

/* What leaving takes, written out before, for the signal handler. */
static struct {
	struct zap_memcg *m;
	char parent_procs[640];
	char pid[16];
} entered;

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

/*
 * Read @file line by line until @match() finds in a line what it copies to
 * @path; whether one did.
 */
static bool find_line(const char *file, bool v2, char *path, size_t size,
		      bool (*match)(char *line, bool v2, char *path,
				    size_t size))
{
	char *line = NULL;
	bool found = false;
	size_t cap = 0;
	FILE *f = fopen(file, "r");

	while (f && !found && getline(&line, &cap, f) > 0)
		found = match(line, v2, path, size);
	free(line);
	if (f)
		fclose(f);
	return found;
}

/*
 * A /proc/self/cgroup line, "id:controllers:path" (v2's is "0::path"): the
 * path, if it is v2's line (or v1's of the memory controller).
 */
static bool cgroup_line(char *line, bool v2, char *path, size_t size)
{
	char *ctrl = strchr(line, ':');
	char *rest = ctrl ? strchr(ctrl + 1, ':') : NULL;

	if (!rest)
		return false;
	*ctrl++ = '\0';
	*rest++ = '\0';
	rest[strcspn(rest, "\n")] = '\0';
	if (v2 ? strcmp(line, "0") || *ctrl : !strstr(ctrl, "memory"))
		return false;
	snprintf(path, size, "%s", rest);
	return true;
}

/*
 * A /proc/self/mounts line: the mount point, if it mounts cgroup2 (or the
 * v1 hierarchy with "memory").
 */
static bool mount_line(char *line, bool v2, char *path, size_t size)
{
	char dir[256], type[32], opts[256];

	if (sscanf(line, "%*s %255s %31s %255s", dir, type, opts) != 3)
		return false;
	if (v2 ? strcmp(type, "cgroup2") :
		 strcmp(type, "cgroup") || !strstr(opts, "memory"))
		return false;
	snprintf(path, size, "%s", dir);
	return true;
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

	if (!find_line("/proc/self/mounts", v2, mnt, sizeof(mnt), mount_line) ||
	    !find_line("/proc/self/cgroup", v2, own, sizeof(own), cgroup_line))
		return false;
	snprintf(m->parent, sizeof(m->parent), "%s%s", mnt,
		 strcmp(own, "/") ? own : "");
	if (!v2)
		return true;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", m->parent);
	if (!file_has_word(path, "memory"))
		return false;
	/*
	 * A v2 child has the controller only if its parent passes it on.  This
	 * stays on after the test: undoing it would take the controller from
	 * every other child, the test's other instances among them.
	 */
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", m->parent);
	zap_write_file(path, "+memory", false);
	return true;
}

/* Back into the parent, and remove the cgroup.  Async-signal-safe. */
void zap_memcg_leave(void)
{
	struct zap_memcg *m = entered.m;

	if (!m)
		return;
	entered.m = NULL;
	zap_write_file(entered.parent_procs, entered.pid, false);
	rmdir(m->dir);
}

static void memcg_signal(int sig)
{
	int i;

	zap_memcg_leave();
	for (i = 0; i < ARRAY_SIZE(async_signals); i++)
		if (async_signals[i] == sig)
			sigaction(sig, &old_actions[i], NULL);
	raise(sig);
}

/*
 * A test killed outright leaves its cgroup behind, named for its pid and
 * pid namespace.  One of our namespace whose pid no process has (ESRCH) is
 * gone; in another namespace the pid proves nothing, so its cgroup stays.
 * Besides, the kernel refuses to remove a cgroup that has a task (EBUSY).
 */
static void memcg_remove_stale(struct zap_memcg *m)
{
	unsigned long ns, our_ns = pid_ns_inode();
	char path[1024];
	struct dirent *de;
	DIR *d = opendir(m->parent);
	int n, pid;

	while (d && (de = readdir(d))) {
		n = sscanf(de->d_name, MEMCG_PREFIX "ns%lu_pid%d", &ns, &pid);
		if (n != 2 || ns != our_ns || !kill(pid, 0) || errno != ESRCH)
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
	struct sigaction sa = { .sa_handler = memcg_signal };
	char path[640];
	bool v2;
	int i, r;

	v2 = memcg_find_parent(m, true);
	if (!v2 && !memcg_find_parent(m, false))
		return "no memory cgroup mounted (v2 memory controller or v1 memory)";
	m->usage = v2 ? "memory.current" : "memory.usage_in_bytes";
	m->slack = 2ULL * MEMCG_CHARGE_BATCH * PAGE_SIZE *
		   sysconf(_SC_NPROCESSORS_ONLN);
	memcg_remove_stale(m);
	/* The pid and its namespace make the name unique. */
	snprintf(m->dir, sizeof(m->dir), "%s/" MEMCG_PREFIX "ns%lu_pid%d",
		 m->parent, pid_ns_inode(), getpid());
	if (mkdir(m->dir, 0755))
		return "cannot create a memory cgroup (mkdir failed)";
	snprintf(path, sizeof(path), "%s/%s", m->dir, m->usage);
	if (access(path, R_OK)) {
		rmdir(m->dir);
		return "the new cgroup has no memory controller";
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", m->dir);
	snprintf(entered.pid, sizeof(entered.pid), "%d", getpid());
	snprintf(entered.parent_procs, sizeof(entered.parent_procs),
		 "%s/cgroup.procs", m->parent);
	r = zap_write_file(path, entered.pid, false);
	if (r) {
		rmdir(m->dir);
		return "cannot move the test into its memory cgroup";
	}
	entered.m = m;
	atexit(zap_memcg_leave);
	/* A signal the test was started to ignore stays ignored. */
	for (i = 0; i < ARRAY_SIZE(async_signals); i++) {
		sigaction(async_signals[i], NULL, &old_actions[i]);
		if (old_actions[i].sa_handler != SIG_IGN)
			sigaction(async_signals[i], &sa, NULL);
	}
	return NULL;
}
