// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the memory cgroup and the trace layer share: see zap_util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zap_util.h"

unsigned long pid_ns_inode(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) ? 0 : st.st_ino;
}

int zap_write_file(const char *path, const char *val, bool append)
{
	ssize_t len = strlen(val), r;
	int fd;

	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	r = write(fd, val, len);
	if (r < 0)
		r = -errno;
	close(fd);
	return r == len ? 0 : r < 0 ? r : -EIO;
}
