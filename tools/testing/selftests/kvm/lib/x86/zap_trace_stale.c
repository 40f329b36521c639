// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a killed run left in tracefs (its instance and kprobe events, named
 * with its tag, "ns<pid namespace inode>_pid<pid>"), removed by a later
 * run, but only once the owner is provably gone: tracefs may be shared
 * with other pid namespaces (containers), where a live run's pid means
 * nothing to us or names another process.
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
#include "zap_trace.h"
#include "zap_util.h"

/* include/linux/proc_ns.h: the inode of the initial pid namespace. */
#define PROC_PID_INIT_INO 0xEFFFFFFCUL

/*
 * The "NSpid:" line of /proc/<pid>/status lists a process's pid in each
 * pid namespace from the one of /proc down to its own: its pid in its own
 * namespace, and how many namespaces deep it is from ours.  0: no process.
 */
static int own_nspid(const char *pid, int *levels)
{
	char path[300], *line = NULL, *tok, *save;
	size_t cap = 0;
	int nspid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "r");
	*levels = 0;
	while (f && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (tok = strtok_r(line + 6, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save)) {
			nspid = atoi(tok);
			(*levels)++;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return nspid;
}

/*
 * Seen from the initial pid namespace, every process is in /proc: whether
 * one of them is @pid in the pid namespace of inode @ns, or -1 if /proc
 * cannot tell (the namespace of a process in a child namespace unknown).
 */
static int pid_lives_in(unsigned long ns, int pid)
{
	int found = 0, levels, nspid;
	struct dirent *de;
	char path[300];
	struct stat st;
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return -1;
	while (found == 0 && (de = readdir(proc))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		nspid = own_nspid(de->d_name, &levels);
		if (!nspid || levels == 1) /* gone, or in our namespace */
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		if (stat(path, &st))
			found = errno == ENOENT ? 0 : -1;
		else if (st.st_ino == ns && nspid == pid)
			found = 1;
	}
	closedir(proc);
	return found;
}

/*
 * Whether the owner of a tag ("ns<inode>_pid<pid>", at the end of an
 * instance or event name) is provably gone.  In our own pid namespace,
 * kill() fails with ESRCH for a pid no process has.  From the initial
 * namespace, which sees every process, /proc says whether any process is
 * that pid of that namespace.  Anywhere else (a container sharing this
 * tracefs) nothing proves an owner of another namespace dead.  Inodes of
 * live namespaces are distinct; if the owner's namespace died and its
 * inode was reused, the owner died with it, so the checks stay sound.
 */
static bool owner_gone(const char *name, unsigned long our_ns, int *pid,
		       bool *foreign)
{
	const char *tag = strstr(name, "_ns");
	unsigned long ns;
	int end = 0;

	*foreign = false;
	if (!tag || sscanf(tag, "_ns%lu_pid%d%n", &ns, pid, &end) != 2 ||
	    tag[end] || *pid <= 0 || !our_ns)
		return false;
	if (ns == our_ns)
		return kill(*pid, 0) && errno == ESRCH;
	if (our_ns == PROC_PID_INIT_INO)
		return pid_lives_in(ns, *pid) == 0;
	*foreign = true;
	return false;
}

/* Remove the instance @name if its owner is provably gone. */
static void remove_stale_instance(const char *tracefs, const char *name,
				  unsigned long our_ns)
{
	char path[512];
	bool foreign;
	int pid;

	if (!owner_gone(name, our_ns, &pid, &foreign)) {
		if (foreign)
			ksft_print_msg("kept %s: not our pid namespace\n",
				       name);
		return;
	}
	snprintf(path, sizeof(path), "%s/instances/%s", tracefs, name);
	if (!rmdir(path))
		ksft_print_msg("removed instance %s of dead pid %d\n", name,
			       pid);
}

static void remove_stale_instances(const char *tracefs, unsigned long our_ns)
{
	struct dirent *de;
	char path[256];
	DIR *d;

	snprintf(path, sizeof(path), "%s/instances", tracefs);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, ZAP_TRACE_PREFIX,
			     strlen(ZAP_TRACE_PREFIX)))
			remove_stale_instance(tracefs, de->d_name, our_ns);
	if (d)
		closedir(d);
}

/* Probe definitions look like "p:kvm_zap_selftest/walk_<tag> kvm:...". */
static void remove_stale_probes(const char *tracefs, unsigned long our_ns)
{
	char path[256], cmd[192], *line = NULL, *name, *end;
	size_t cap = 0;
	bool foreign;
	int pid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/kprobe_events", tracefs);
	f = fopen(path, "r");
	while (f && getline(&line, &cap, f) > 0) {
		name = strstr(line, ":" ZAP_TRACE_GROUP "/");
		if (!name)
			continue;
		name += strlen(":" ZAP_TRACE_GROUP "/");
		end = strchr(name, ' ');
		if (!end)
			continue;
		*end = '\0';
		if (!owner_gone(name, our_ns, &pid, &foreign))
			continue;
		snprintf(cmd, sizeof(cmd), "-:%s/%s\n", ZAP_TRACE_GROUP, name);
		if (!zap_write_file(path, cmd, true))
			ksft_print_msg("removed kprobe %s of dead pid %d\n",
				       name, pid);
	}
	free(line);
	if (f)
		fclose(f);
}

/*
 * A killed test (SIGKILL) leaves its instance and probes behind: remove
 * those whose owner is provably gone, instances first (that disables the
 * probes).
 */
void zap_trace_remove_stale(const char *tracefs)
{
	unsigned long our_ns = pid_ns_inode();

	remove_stale_instances(tracefs, our_ns);
	remove_stale_probes(tracefs, our_ns);
}
