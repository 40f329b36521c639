// SPDX-License-Identifier: GPL-2.0-only
/*
 * tracefs capture of the shadow MMU's zaps (see zap_trace.h): a private
 * instance with the kvm_mmu_prepare_zap_page event, kprobe events on the
 * zap functions where the kernel has them, and their removal at exit and
 * on a fatal signal.  What a run killed outright leaves, the next run
 * removes (zap_trace_stale.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_util.h"
#include "zap_stats.h"
#include "zap_trace.h"
#include "zap_util.h"

#define TRACE_BUFFER_KB "16384"
#define ZAP_FORMAT "events/kvmmmu/kvm_mmu_prepare_zap_page/format"
#define WALK_FUNC "kvm_mmu_zap_oldest_mmu_pages"
#define ZAP_FUNC "__kvm_mmu_prepare_zap_page"

static const char *const probe_kinds[] = { "walk", "walk_ret", "zap_ret" };

static const char *tracefs;

/*
 * What the cleanup needs, written out at open time: it runs from signal
 * handlers, where only async-signal-safe calls (open(), write(), rmdir())
 * may be made, so it formats nothing.
 */
static struct {
	sig_atomic_t armed;
	char instance[128];
	char events_enable[160];
	char kprobe_events[64];
	char unprobe[ARRAY_SIZE(probe_kinds)][128]; /* "-:group/event\n" */
} cleanup;

/*
 * A file of the instance that is open keeps it busy: rmdir() of the
 * instance fails with EBUSY.  So tracefs files are only open with the
 * asynchronous fatal signals blocked (their handler runs after the close),
 * and zap_trace_cleanup() closes the one a failed assertion left open
 * (it runs in a signal handler, hence READ_ONCE()/WRITE_ONCE()).
 */
static const int async_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static sig_atomic_t busy_fd = -1;

/*
 * A descriptor kept for the cleanup, which needs one even when the test
 * died of "Too many open files".
 */
static int spare_fd = -1;

static void block_async_signals(sigset_t *old)
{
	sigset_t set;
	int i;

	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(async_signals); i++)
		sigaddset(&set, async_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

static FILE *tracefs_fopen(const char *path, sigset_t *old)
{
	FILE *f;

	block_async_signals(old);
	f = fopen(path, "r");
	if (f)
		WRITE_ONCE(busy_fd, fileno(f));
	else
		sigprocmask(SIG_SETMASK, old, NULL);
	return f;
}

static void tracefs_fclose(FILE *f, const sigset_t *old)
{
	WRITE_ONCE(busy_fd, -1);
	fclose(f);
	sigprocmask(SIG_SETMASK, old, NULL);
}

FILE *zap_trace_text_open(struct zap_trace *t, sigset_t *old)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", t->instance);
	f = tracefs_fopen(path, old);
	TEST_ASSERT(f, "fopen(%s) failed, errno %d", path, errno);
	return f;
}

void zap_trace_text_close(FILE *f, const sigset_t *old)
{
	tracefs_fclose(f, old);
}

static int tracefs_write(const char *path, const char *val, bool append)
{
	sigset_t old;
	int r;

	block_async_signals(&old);
	r = zap_write_file(path, val, append);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

static void trace_write(struct zap_trace *t, const char *file, const char *val)
{
	char path[256];
	int r;

	snprintf(path, sizeof(path), "%s/%s", t->instance, file);
	r = tracefs_write(path, val, false);
	TEST_ASSERT(!r, "Writing '%s' to %s failed, errno %d", val, path, -r);
}

static const char *find_tracefs(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing",
					     "/sys/kernel/debug/tracing" };
	char path[128];
	int i;

	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(path, sizeof(path), "%s/%s", roots[i], ZAP_FORMAT);
		if (!access(path, R_OK))
			return roots[i];
	}
	return NULL;
}

static void say(const char *a, const char *b, const char *c)
{
	if (write(STDERR_FILENO, a, strlen(a)) < 0 ||
	    write(STDERR_FILENO, b, strlen(b)) < 0 ||
	    write(STDERR_FILENO, c, strlen(c)) < 0)
		return;
}

/*
 * Best effort: runs at exit and from signal handlers, so it never asserts,
 * makes async-signal-safe calls only, and runs with the asynchronous
 * signals blocked, so that none cuts it short.
 */
static void zap_trace_cleanup(void)
{
	sigset_t old;
	int i;

	block_async_signals(&old);
	if (cleanup.armed) {
		cleanup.armed = 0;
		if (READ_ONCE(busy_fd) >= 0)
			close(READ_ONCE(busy_fd));
		WRITE_ONCE(busy_fd, -1);
		if (spare_fd >= 0)
			close(spare_fd);
		spare_fd = -1;
		zap_write_file(cleanup.events_enable, "0", false);
		if (rmdir(cleanup.instance))
			say("zap_trace: rmdir(", cleanup.instance,
			    ") failed\n");
		/* Even if not exact yet: a signal may come mid add_probes(). */
		for (i = 0; i < ARRAY_SIZE(cleanup.unprobe); i++)
			if (cleanup.unprobe[i][0])
				zap_write_file(cleanup.kprobe_events,
					       cleanup.unprobe[i], true);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void zap_trace_signal(int sig)
{
	zap_trace_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * The function as the running kernel names it: @func itself, or a clone
 * the compiler made of it ("func.isra.0", "func.constprop.0").  Empty if
 * neither is in /proc/kallsyms: inlined into its callers, or kallsyms not
 * readable.  Not "func.part.0": partial inlining leaves only the function's
 * tail out of line, whose entry and return are not the function's, so a
 * probe there would count some calls and miss others.
 */
void zap_find_symbol(const char *func, char *sym, size_t size)
{
	static const char *const clones[] = { ".isra.", ".constprop." };
	char *line = NULL, name[80];
	size_t cap = 0, len = strlen(func);
	FILE *f = fopen("/proc/kallsyms", "r");
	int i;

	sym[0] = '\0';
	while (f && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %*s %79s", name) != 1 ||
		    strncmp(name, func, len))
			continue;
		if (!name[len]) {
			snprintf(sym, size, "%s", name);
			break;
		}
		for (i = 0; i < ARRAY_SIZE(clones) && !sym[0]; i++)
			if (!strncmp(name + len, clones[i], strlen(clones[i])))
				snprintf(sym, size, "%s", name);
	}
	free(line);
	if (f)
		fclose(f);
}

/*
 * Define a probe and enable it in our instance only.  For kvm built as a
 * module the symbol is "kvm:sym", for a built-in kvm plain "sym".
 */
static int add_probe(struct zap_trace *t, int kind, char type, const char *sym,
		     const char *fetch)
{
	char path[256], cmd[256];
	int r;

	snprintf(path, sizeof(path), "%s/kprobe_events", tracefs);
	snprintf(cmd, sizeof(cmd), "%c:%s/%s_%s kvm:%s %s\n", type,
		 ZAP_TRACE_GROUP, probe_kinds[kind], t->tag, sym, fetch);
	r = tracefs_write(path, cmd, true);
	if (r) {
		snprintf(cmd, sizeof(cmd), "%c:%s/%s_%s %s %s\n", type,
			 ZAP_TRACE_GROUP, probe_kinds[kind], t->tag, sym,
			 fetch);
		r = tracefs_write(path, cmd, true);
	}
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/events/%s/%s_%s/enable", t->instance,
		 ZAP_TRACE_GROUP, probe_kinds[kind], t->tag);
	return tracefs_write(path, "1", false);
}

static void add_probes(struct zap_trace *t)
{
	char path[256];
	int r, i;

	snprintf(path, sizeof(path), "%s/kprobe_events", tracefs);
	if (access(path, W_OK)) {
		snprintf(t->why_not_exact, sizeof(t->why_not_exact),
			 "no kprobe events in tracefs (CONFIG_KPROBE_EVENTS)");
		return;
	}
	zap_find_symbol(WALK_FUNC, t->walk_sym, sizeof(t->walk_sym));
	zap_find_symbol(ZAP_FUNC, t->zap_sym, sizeof(t->zap_sym));
	if (!t->walk_sym[0] || !t->zap_sym[0]) {
		snprintf(t->why_not_exact, sizeof(t->why_not_exact),
			 "%s is not in /proc/kallsyms (inlined, or partly)",
			 t->walk_sym[0] ? ZAP_FUNC : WALK_FUNC);
		return;
	}
	/*
	 * A clone has the function's entry and return, which is what the
	 * probes mark, but IPA-SRA (.isra) may have moved or dropped an
	 * argument or the return value: the test checks what the probes
	 * fetch against the stats (nr_to_zap against the pages in use, the
	 * total against mmu_recycled), so such a clone fails loudly rather
	 * than passing on wrong numbers.
	 */
	r = add_probe(t, 0, 'p', t->walk_sym, "nr_to_zap=$arg2:u64");
	if (!r)
		r = add_probe(t, 1, 'r', t->walk_sym, "total=$retval:u64");
	if (!r)
		r = add_probe(t, 2, 'r', t->zap_sym, "unstable=$retval:u8");
	if (r) {
		snprintf(t->why_not_exact, sizeof(t->why_not_exact),
			 "kprobes on the zap functions failed, errno %d", -r);
		/*
		 * Disable the probes that were made (their group only: the
		 * zap tracepoint stays on) so that they can be removed.
		 */
		snprintf(path, sizeof(path), "%s/events/%s/enable", t->instance,
			 ZAP_TRACE_GROUP);
		tracefs_write(path, "0", false);
		for (i = 0; i < ARRAY_SIZE(cleanup.unprobe); i++)
			tracefs_write(cleanup.kprobe_events, cleanup.unprobe[i],
				      true);
		return;
	}
	t->exact = true;
}

/* Whether an event's format file lists the field @name. */
static bool event_has_field(const char *format, const char *name)
{
	char *line = NULL, *f;
	size_t cap = 0, len = strlen(name);
	bool found = false;
	FILE *file = fopen(format, "r");

	while (file && !found && getline(&line, &cap, file) > 0) {
		f = strstr(line, "field:");
		f = f ? strchr(f, ';') : NULL;
		found = f && f - line > len && f[-len - 1] == ' ' &&
			!strncmp(f - len, name, len);
	}
	free(line);
	if (file)
		fclose(file);
	return found;
}

/*
 * Have the instance print each event as "name: field=value ..." (the
 * "fields" trace option, 6.5 and later), so the parser reads the zap
 * event's fields by the names its format file gives them; older kernels
 * print the tracepoint's own text, which the parser reads too.
 */
static void print_fields_by_name(struct zap_trace *t)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tracefs, ZAP_FORMAT);
	TEST_ASSERT(event_has_field(path, "root_count"),
		    "%s has no root_count field", path);
	TEST_ASSERT(event_has_field(path, "unsync"), "%s has no unsync field",
		    path);
	snprintf(path, sizeof(path), "%s/options/fields", t->instance);
	if (!access(path, W_OK))
		trace_write(t, "options/fields", "1");
}

/*
 * The pid that set_event_pid filters on is the one of the initial pid
 * namespace, which getpid() is not inside a container: learn it from the
 * context of a line we write to the instance's trace_marker.
 */
static int traced_pid(struct zap_trace *t)
{
	char path[256], *line = NULL, *mark, *p;
	int pid = getpid();
	size_t cap = 0;
	sigset_t old;
	FILE *f;

	trace_write(t, "trace_marker", t->tag);
	snprintf(path, sizeof(path), "%s/trace", t->instance);
	f = tracefs_fopen(path, &old);
	while (f && getline(&line, &cap, f) > 0) {
		/* "<comm>-<pid> [<cpu>] <flags> <time>: <event>: <tag>" */
		mark = strstr(line, t->tag);
		p = mark ? strstr(line, " [") : NULL;
		if (!p || p > mark)
			continue;
		while (p > line && p[-1] == ' ')
			p--;
		while (p > line && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p > line && p[-1] == '-')
			pid = atoi(p);
		break;
	}
	free(line);
	if (f)
		tracefs_fclose(f, &old);
	zap_trace_clear(t);
	return pid;
}

static void arm_cleanup(struct zap_trace *t)
{
	int i;

	snprintf(cleanup.instance, sizeof(cleanup.instance), "%s", t->instance);
	snprintf(cleanup.events_enable, sizeof(cleanup.events_enable),
		 "%s/events/enable", t->instance);
	snprintf(cleanup.kprobe_events, sizeof(cleanup.kprobe_events),
		 "%s/kprobe_events", tracefs);
	for (i = 0; i < ARRAY_SIZE(probe_kinds); i++)
		snprintf(cleanup.unprobe[i], sizeof(cleanup.unprobe[i]),
			 "-:%s/%s_%s\n", ZAP_TRACE_GROUP, probe_kinds[i],
			 t->tag);
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY);
	cleanup.armed = 1;
}

bool zap_trace_available(void)
{
	return find_tracefs();
}

void zap_trace_open(struct zap_trace *t)
{
	static const int fatal_signals[] = { SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
					     SIGABRT, SIGSEGV, SIGBUS, SIGFPE };
	char pid[16];
	sigset_t old;
	int i;

	tracefs = find_tracefs();
	__TEST_REQUIRE(tracefs,
		       "No tracefs with kvmmmu events (root, tracefs)");
	zap_trace_remove_stale(tracefs);

	memset(t, 0, sizeof(*t));
	snprintf(t->tag, sizeof(t->tag), "ns%lu_pid%d", pid_ns_inode(),
		 getpid());
	snprintf(t->instance, sizeof(t->instance), "%s/instances/%s%s", tracefs,
		 ZAP_TRACE_PREFIX, t->tag);
	/* TEST_ASSERT() exits; libkvm's allocators abort(). */
	atexit(zap_trace_cleanup);
	for (i = 0; i < ARRAY_SIZE(fatal_signals); i++)
		signal(fatal_signals[i], zap_trace_signal);
	/* No signal between the mkdir() and the cleanup knowing of it. */
	block_async_signals(&old);
	TEST_ASSERT(!mkdir(t->instance, 0700), "mkdir(%s) failed, errno %d",
		    t->instance, errno);
	arm_cleanup(t);
	sigprocmask(SIG_SETMASK, &old, NULL);

	trace_write(t, "buffer_size_kb", TRACE_BUFFER_KB);
	snprintf(pid, sizeof(pid), "%d", traced_pid(t));
	trace_write(t, "set_event_pid", pid);
	print_fields_by_name(t);
	trace_write(t, "events/kvmmmu/kvm_mmu_prepare_zap_page/enable", "1");
	add_probes(t);
}

void zap_trace_clear(struct zap_trace *t)
{
	trace_write(t, "trace", "");
}

void zap_trace_close(struct zap_trace *t)
{
	zap_trace_cleanup();
}

/* Probe hits the kprobes missed (the probe's "nmissed" in kprobe_profile). */
static uint64_t probes_missed(struct zap_trace *t)
{
	char path[256], *line = NULL, name[128];
	uint64_t lost = 0, hits, misses;
	size_t cap = 0;
	sigset_t old;
	FILE *f;

	snprintf(path, sizeof(path), "%s/kprobe_profile", tracefs);
	f = t->exact ? tracefs_fopen(path, &old) : NULL;
	while (f && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%127s %lu %lu", name, &hits, &misses) == 3 &&
		    !strncmp(name, ZAP_TRACE_GROUP "/",
			     strlen(ZAP_TRACE_GROUP "/")) &&
		    strstr(name, t->tag))
			lost += misses;
	}
	if (f)
		tracefs_fclose(f, &old);
	free(line);
	return lost;
}

/* Events the ring buffer dropped ("overrun" in per_cpu/cpuN/stats). */
static uint64_t buffer_overruns(struct zap_trace *t)
{
	char path[256], *line = NULL;
	uint64_t lost = 0;
	size_t cap = 0;
	sigset_t old;
	FILE *f;
	int cpu;

	for (cpu = 0;; cpu++) {
		snprintf(path, sizeof(path), "%s/per_cpu/cpu%d/stats",
			 t->instance, cpu);
		f = tracefs_fopen(path, &old);
		if (!f)
			break;
		while (getline(&line, &cap, f) > 0)
			if (!strncmp(line, "overrun:", 8))
				lost += strtoull(line + 8, NULL, 10);
		tracefs_fclose(f, &old);
	}
	free(line);
	return lost;
}

void zap_trace_collect(struct zap_trace *t, struct zap_counts *c)
{
	struct zap_parser p;
	char *line = NULL;
	size_t cap = 0;
	sigset_t old;
	FILE *f;
	int r = 0;

	zap_parser_init(&p, c, t->tag, t->exact);
	f = zap_trace_text_open(t, &old);
	while (!r && getline(&line, &cap, f) > 0)
		r = zap_parse_line(&p, line);
	free(line);
	zap_trace_text_close(f, &old);
	TEST_ASSERT(!r && !zap_parse_end(&p), "%s", p.error);
	c->lost += buffer_overruns(t) + probes_missed(t);
	zap_trace_clear(t);
}

void zap_check_unstable(const char *what, const struct zap_counts *c)
{
	TEST_ASSERT(!c->unstable_no_children,
		    "%s: %lu zaps reported the list unstable but took no child",
		    what, c->unstable_no_children);
	TEST_ASSERT(!c->children_not_unstable,
		    "%s: %lu zaps took children but reported the list stable",
		    what, c->children_not_unstable);
}

void zap_check_walk(const struct zap_counts *c, uint64_t nr_to_zap,
		    const struct zap_phase *p)
{
	uint64_t recycled = p->delta.mmu_recycled;
	uint64_t total = c->walk_total;
	const char *what = p->name;

	zap_check_unstable(what, c);
	TEST_ASSERT(c->walks == 1, "%s: %lu walks, expected 1", what, c->walks);
	TEST_ASSERT(c->walk_nr_to_zap == nr_to_zap,
		    "%s: walk asked for %lu, expected in use - goal, %lu", what,
		    c->walk_nr_to_zap, nr_to_zap);
	TEST_ASSERT(c->walk_total == c->walk_counted && total == recycled,
		    "%s: walk returned %lu, zaps freed %lu, mmu_recycled +%lu",
		    what, total, c->walk_counted, recycled);
	TEST_ASSERT(!c->past_budget, "%s: %lu zaps after the budget was met",
		    what, c->past_budget);
}
