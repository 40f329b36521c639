// SPDX-License-Identifier: GPL-2.0-only
/*
 * qexit STATUS: end QEMU through its isa-debug-exit device (port 0xf4);
 * QEMU then exits with (STATUS << 1) | 1.
 * qexit /FIFO: take the port now, then make FIFO and end QEMU with the
 * status written to it later.  A locked-down kernel refuses ioperm(), so
 * scripts/vm-init.sh starts this before it locks the kernel down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : "0";
	unsigned int status = 0;
	FILE *f;

	if (ioperm(0xf4, 4, 1)) {
		perror("ioperm");
		return 1;
	}
	if (arg[0] == '/') {
		if (mkfifo(arg, 0600)) {
			perror("mkfifo");
			return 1;
		}
		f = fopen(arg, "r");
		if (!f || fscanf(f, "%u", &status) != 1)
			status = 3;
	} else {
		status = strtoul(arg, NULL, 0);
	}
	outl(status, 0xf4);
	return 1;
}
