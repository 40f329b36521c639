// SPDX-License-Identifier: GPL-2.0-only
/*
 * qexit STATUS: end QEMU through its isa-debug-exit device (port 0xf4);
 * QEMU then exits with (STATUS << 1) | 1.  Used by scripts/vm-init.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char **argv)
{
	unsigned int status = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;

	if (ioperm(0xf4, 4, 1)) {
		perror("ioperm");
		return 1;
	}
	outl(status, 0xf4);
	return 1;
}
