// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shadow MMU's zaps in tracefs (zap_trace.h): first the parser, a pure
 * function of the trace text (built alone with -DZAP_TRACE_PARSER_ONLY),
 * then the capture: a private instance, kprobe events on the zap
 * functions, their removal at exit and on a fatal signal, and the removal
 * of what killed runs left behind.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zap_trace.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/*
 * The parser.  The kvm_mmu_prepare_zap_page tracepoint fires at the start
 * of each zap, so a parent's event comes before those of the pages it takes
 * along; the return probe on __kvm_mmu_prepare_zap_page() closes each zap,
 * and the entry and return probes on kvm_mmu_zap_oldest_mmu_pages()
 * bracket a walk.  Restarts leave no event of their own: a walk restarts
 * when a zap of its own reports the list unstable before the walk has
 * zapped enough.
 */
#define ZAP_EVENT " kvm_mmu_prepare_zap_page: "

static int fail(struct zap_trace_parser *p, const char *line,
		const char *fmt, ...)
{
	int len = strcspn(line, "\n");
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	if (*line && n >= 0 && n < sizeof(p->error))
		snprintf(p->error + n, sizeof(p->error) - n, ": '%.*s'", len,
			 line);
	return -1;
}

/*
 * " name=value", where the "fields" trace option prints a 1-byte field as
 * "(1)" or "'A'(65)" and wider ones as "0x2a (42)", and a kprobe event
 * prints its arguments as "42" in the default format.
 */
bool zap_trace_event_field(const char *text, const char *name, uint64_t *val)
{
	size_t len = strlen(name);
	const char *v = text;
	char *end;

	for (;;) {
		v = strstr(v, name);
		if (!v)
			return false;
		if (v > text && v[-1] == ' ' && v[len] == '=')
			break;
		v += len;
	}
	v += len + 1;
	if (*v == '\'') {
		v = strstr(v + 1, "'(");
		if (!v)
			return false;
		v++;
	}
	if (*v == '(')
		v++;
	if (!isdigit((unsigned char)*v))
		return false;
	errno = 0;
	*val = strtoull(v, &end, 0);
	return !errno && end != v;
}

/*
 * The tracepoint's printed text (no "fields" option), as mmutrace.h's
 * KVM_MMU_PAGE_PRINTK() writes it: "sp gen %u gfn %llx ... root %u %s"
 * with "unsync" or "sync" last.
 */
static bool printed_zap(const char *text, uint64_t *root_count,
			uint64_t *unsync)
{
	const char *v = strstr(text, " root ");
	char *end;

	if (!v)
		return false;
	v += strlen(" root ");
	if (!isdigit((unsigned char)*v))
		return false;
	*root_count = strtoull(v, &end, 10);
	if (!strncmp(end, " unsync", 7))
		*unsync = 1;
	else if (!strncmp(end, " sync", 5))
		*unsync = 0;
	else
		return false;
	return true;
}

static int parse_zap(struct zap_trace_parser *p, const char *line,
		     const char *ev)
{
	uint64_t root_count, unsync;
	bool fields;

	fields = zap_trace_event_field(ev, "root_count", &root_count);
	if (fields ? !zap_trace_event_field(ev, "unsync", &unsync) :
		     !printed_zap(ev, &root_count, &unsync))
		return fail(p, line, "No root_count and unsync in zap event");
	p->c->zaps++;
	p->c->unsync_zaps += !!unsync;
	/* Without the return probes there is no call tree to follow. */
	if (!p->probes)
		return 0;
	if (p->depth == ZAP_TRACE_MAX_DEPTH)
		return fail(p, line, "Zaps nested deeper than %d",
			    ZAP_TRACE_MAX_DEPTH);
	if (p->depth) {
		p->stack[p->depth - 1].children++;
		p->c->nested++;
	} else {
		p->c->top_level++;
		p->c->past_budget += p->in_walk &&
				     p->walk_sum >= p->walk_budget;
	}
	p->stack[p->depth].freed = !root_count;
	p->stack[p->depth].children = 0;
	p->stack[p->depth].below = 0;
	p->depth++;
	return 0;
}

/*
 * A zap's return.  "List unstable" must be reported exactly when the zap
 * took pages along, at any depth.  What it freed is its own page (unless
 * a root in use, which stays until its vCPU lets go) and every page freed
 * below it, down the whole subtree: a nested TDP child's zap takes its own
 * children along, and its parent counts them all.  For a walk's own zaps:
 * the walk adds that up, stops once it reaches nr_to_zap, and otherwise
 * restarts if the list is unstable.
 */
static int parse_zap_return(struct zap_trace_parser *p, const char *line,
			    const char *ev)
{
	uint64_t unstable, children, freed;

	if (!zap_trace_event_field(ev, "unstable", &unstable))
		return fail(p, line, "No unstable field in zap return");
	if (!p->depth)
		return fail(p, line, "A zap returned that never started");
	p->depth--;
	children = p->stack[p->depth].children;
	freed = p->stack[p->depth].below + p->stack[p->depth].freed;
	p->c->unstable_no_children += unstable && !children;
	p->c->children_not_unstable += !unstable && children;
	if (p->depth) {
		p->stack[p->depth - 1].below += freed;
		return 0;
	}
	p->c->parents += !!children;
	p->c->unstable += !!unstable;
	if (!p->in_walk)
		return 0;
	p->walk_sum += freed;
	if (unstable && p->walk_sum < p->walk_budget)
		p->c->restarts++;
	return 0;
}

static int parse_walk(struct zap_trace_parser *p, const char *line,
		      const char *ev)
{
	if (!zap_trace_event_field(ev, "nr_to_zap", &p->walk_budget))
		return fail(p, line, "No nr_to_zap field in walk start");
	if (p->in_walk)
		return fail(p, line, "A walk started inside a walk");
	p->in_walk = true;
	p->walk_sum = 0;
	p->c->walks++;
	p->c->walk_nr_to_zap += p->walk_budget;
	return 0;
}

static int parse_walk_return(struct zap_trace_parser *p, const char *line,
			     const char *ev)
{
	uint64_t total;

	if (!zap_trace_event_field(ev, "total", &total))
		return fail(p, line, "No total field in walk return");
	if (!p->in_walk)
		return fail(p, line, "A walk returned that never started");
	if (p->depth)
		return fail(p, line, "A walk returned inside a zap");
	p->in_walk = false;
	p->c->walk_total += total;
	p->c->walk_counted += p->walk_sum;
	return 0;
}

void zap_trace_parser_init(struct zap_trace_parser *p,
			   struct zap_trace_counts *c, const char *tag,
			   bool probes)
{
	memset(p, 0, sizeof(*p));
	memset(c, 0, sizeof(*c));
	p->c = c;
	p->probes = probes;
	snprintf(p->tag, sizeof(p->tag), "_%s: ", tag);
}

/* @name (@len chars, its clone number stripped) is probe kind @kind. */
static bool is_kind(const char *name, size_t len, const char *kind)
{
	return len == strlen(kind) && !strncmp(name, kind, len);
}

/*
 * A probe's event is "<kind><n>_<tag>" (n: which clone; none in older
 * captures): kind walk, walk_ret or zap_ret.
 */
static int parse_probe(struct zap_trace_parser *p, const char *line,
		       const char *tag)
{
	const char *name = tag, *text = tag + strlen(p->tag) - 1;
	size_t len;

	while (name > line && name[-1] != ' ')
		name--;
	for (len = tag - name; len && isdigit((unsigned char)name[len - 1]);)
		len--;
	if (is_kind(name, len, "walk"))
		return parse_walk(p, line, text);
	if (is_kind(name, len, "walk_ret"))
		return parse_walk_return(p, line, text);
	if (is_kind(name, len, "zap_ret"))
		return parse_zap_return(p, line, text);
	return fail(p, line, "Unknown probe event");
}

int zap_trace_parse_line(struct zap_trace_parser *p, const char *line)
{
	const char *ev;

	if (line[0] == '#' || line[0] == '\n' || !line[0])
		return 0;
	ev = strstr(line, ZAP_EVENT);
	if (ev)
		return parse_zap(p, line, ev + strlen(ZAP_EVENT) - 1);
	ev = strstr(line, p->tag);
	if (ev)
		return parse_probe(p, line, ev);
	/* The ring buffer says where it dropped events: "[LOST 3 EVENTS]". */
	ev = strstr(line, "[LOST ");
	if (ev)
		p->c->lost += strtoull(ev + strlen("[LOST "), NULL, 10) ?: 1;
	return 0;
}

int zap_trace_parse_end(struct zap_trace_parser *p)
{
	if (p->depth || p->in_walk)
		return fail(p, "", "Trace ended inside a %s (lost events?)",
			    p->depth ? "zap" : "walk");
	return 0;
}

/* Only clones that keep the function's entry and return. */
bool zap_trace_sym_is_clone(const char *sym)
{
	static const char *const kinds[] = { ".isra.", ".constprop." };
	const char *s = strchr(sym, '.');
	size_t len = 0;
	int i;

	if (!s)
		return false;
	while (*s) {
		for (i = 0; i < ARRAY_SIZE(kinds); i++) {
			len = strlen(kinds[i]);
			if (!strncmp(s, kinds[i], len) &&
			    isdigit((unsigned char)s[len]))
				break;
		}
		if (i == ARRAY_SIZE(kinds))
			return false;
		for (s += len; isdigit((unsigned char)*s);)
			s++;
	}
	return true;
}

#ifndef ZAP_TRACE_PARSER_ONLY
/* The capture. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_util.h"

#define ZAP_FORMAT	"events/kvmmmu/kvm_mmu_prepare_zap_page/format"
#define WALK_FUNC	"kvm_mmu_zap_oldest_mmu_pages"
#define ZAP_FUNC	"__kvm_mmu_prepare_zap_page"

/*
 * The buffer: every CPU's is small but the one the capture runs on, which
 * holds the events of a zap (~40 bytes each with its return probe's) with
 * room to spare.
 */
#define IDLE_BUFFER_KB	"16"
#define BYTES_PER_ZAP	256

/* include/linux/proc_ns.h: the inode of the initial pid namespace. */
#define PROC_PID_INIT_INO 0xEFFFFFFCUL

enum { PROBE_WALK, PROBE_WALK_RET, PROBE_ZAP_RET, NR_PROBE_KINDS };
static const char *const probe_kinds[] = { "walk", "walk_ret", "zap_ret" };
#define MAX_PROBES (NR_PROBE_KINDS * ZAP_TRACE_MAX_SYMS)

static const char *tracefs;
static cpu_set_t saved_cpus;
static uint64_t missed_at_start;

/*
 * What the cleanup needs, formatted when the objects are made: it runs in
 * signal handlers, where only async-signal-safe calls (open(), write(),
 * close(), rmdir()) may be made.
 */
static struct {
	sig_atomic_t armed;
	char instance[192];
	char events_enable[224];
	char kprobe_events[96];
	char unprobe[MAX_PROBES][128];	/* "-:group/event\n" */
	sig_atomic_t nr_unprobe;
} cleanup;

/*
 * An open file of the instance keeps it busy (rmdir() fails with EBUSY),
 * so tracefs files are open only with the asynchronous fatal signals
 * blocked (their handler runs after the close), and the cleanup closes the
 * one a synchronous signal left open.
 */
static const int async_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static sig_atomic_t busy_fd = -1;

static void block_async_signals(sigset_t *old)
{
	sigset_t set;
	int i;

	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(async_signals); i++)
		sigaddset(&set, async_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* 0 or -errno; async-signal-safe. */
static int write_file(const char *path, const char *val, bool append)
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

static int tracefs_write(const char *path, const char *val, bool append)
{
	sigset_t old;
	int r;

	block_async_signals(&old);
	r = write_file(path, val, append);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int instance_write(struct zap_trace *t, const char *file,
			  const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", t->instance, file);
	return tracefs_write(path, val, false);
}

static void instance_write_ok(struct zap_trace *t, const char *file,
			      const char *val)
{
	int r = instance_write(t, file, val);

	TEST_ASSERT(!r, "Writing '%s' to %s/%s: errno %d, expected success",
		    val, t->instance, file, -r);
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

static void say(const char *a, const char *b, const char *c)
{
	if (write(STDERR_FILENO, a, strlen(a)) < 0 ||
	    write(STDERR_FILENO, b, strlen(b)) < 0 ||
	    write(STDERR_FILENO, c, strlen(c)) < 0)
		return;
}

/*
 * Best effort, at exit and in signal handlers: it never asserts, makes
 * async-signal-safe calls only, and runs with the asynchronous signals
 * blocked, so that none cuts it short.  The instance goes first: that
 * disables the probes in it, which can then be removed.
 */
static void zap_trace_cleanup(void)
{
	sigset_t old;
	int i;

	block_async_signals(&old);
	if (READ_ONCE(cleanup.armed)) {
		WRITE_ONCE(cleanup.armed, 0);
		if (READ_ONCE(busy_fd) >= 0)
			close(READ_ONCE(busy_fd));
		WRITE_ONCE(busy_fd, -1);
		write_file(cleanup.events_enable, "0", false);
		if (rmdir(cleanup.instance))
			say("zap_trace: rmdir(", cleanup.instance, ") failed\n");
		for (i = 0; i < READ_ONCE(cleanup.nr_unprobe); i++)
			write_file(cleanup.kprobe_events, cleanup.unprobe[i], true);
		WRITE_ONCE(cleanup.nr_unprobe, 0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void zap_trace_signal(int sig)
{
	zap_trace_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The inode of our pid namespace, 0 if unknown. */
static unsigned long pid_ns_inode(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) ? 0 : st.st_ino;
}

/* The pid, in its own namespace, of the process /proc/@dir; 0: none. */
static int own_nspid(const char *dir)
{
	char path[300], *line = NULL, *tok, *save;
	size_t cap = 0;
	int nspid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", dir);
	f = fopen(path, "r");
	while (f && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (tok = strtok_r(line + 6, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			nspid = atoi(tok);
	}
	free(line);
	if (f)
		fclose(f);
	return nspid;
}

/*
 * Whether the process that made @name ("..._ns<inode>_pid<pid>") is
 * provably gone.  In our own pid namespace, kill() fails with ESRCH for a
 * pid no process has.  The initial namespace sees every process: the owner
 * is gone if no process in /proc lives in namespace <inode> as <pid>.
 * Anywhere else (a container sharing this tracefs) nothing proves an owner
 * of another namespace dead.  Live namespaces have distinct inodes; if the
 * owner's namespace died and its inode was reused, the owner died with it.
 */
static bool owner_gone(const char *name, unsigned long our_ns)
{
	const char *tag = strstr(name, "_ns");
	char path[300];
	struct dirent *de;
	unsigned long ns;
	bool gone = true;
	struct stat st;
	int pid, end = 0;
	DIR *proc;

	if (!tag || sscanf(tag, "_ns%lu_pid%d%n", &ns, &pid, &end) != 2 ||
	    tag[end] || pid <= 0 || !our_ns)
		return false;
	if (ns == our_ns)
		return kill(pid, 0) && errno == ESRCH;
	if (our_ns != PROC_PID_INIT_INO)
		return false;
	proc = opendir("/proc");
	if (!proc)
		return false;
	while (gone && (de = readdir(proc))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		if (stat(path, &st))
			gone = errno == ENOENT;	/* exited meanwhile */
		else if (st.st_ino == ns)
			gone = own_nspid(de->d_name) != pid;
	}
	closedir(proc);
	return gone;
}

/*
 * A run killed outright (SIGKILL) leaves its instance and probes behind:
 * remove those whose owner is provably gone, instances first.
 */
static void remove_stale(void)
{
	char path[PATH_MAX], cmd[192], *line = NULL, *name, *end;
	unsigned long our_ns = pid_ns_inode();
	struct dirent *de;
	size_t cap = 0;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/instances", tracefs);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, ZAP_TRACE_PREFIX, strlen(ZAP_TRACE_PREFIX)) ||
		    !owner_gone(de->d_name, our_ns))
			continue;
		snprintf(path, sizeof(path), "%s/instances/%s", tracefs, de->d_name);
		if (!rmdir(path))
			ksft_print_msg("removed %s, left by a killed run\n", path);
	}
	if (d)
		closedir(d);

	/* Probe definitions read "p:kvm_zap_selftest/walk0_<tag> kvm:...". */
	snprintf(path, sizeof(path), "%s/kprobe_events", tracefs);
	f = fopen(path, "r");
	while (f && getline(&line, &cap, f) > 0) {
		name = strstr(line, ":" ZAP_TRACE_GROUP "/");
		end = name ? strchr(name, ' ') : NULL;
		if (!end)
			continue;
		name += strlen(":" ZAP_TRACE_GROUP "/");
		*end = '\0';
		if (!owner_gone(name, our_ns))
			continue;
		snprintf(cmd, sizeof(cmd), "-:%s/%s\n", ZAP_TRACE_GROUP, name);
		if (!write_file(path, cmd, true))
			ksft_print_msg("removed kprobe %s, left by a killed run\n",
				       name);
	}
	free(line);
	if (f)
		fclose(f);
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
 * @func as the running kernel names it, as kprobe targets ("kvm:sym" in
 * the kvm module): itself and every clone the compiler made of it
 * (.isra.N, .constprop.N), each of which some callers call.  Not
 * ".part.N" or ".cold": those are pieces whose entry or return is not the
 * function's.  Returns how many, 0 if inlined or kallsyms is unreadable.
 */
static int find_syms(const char *func, char syms[][ZAP_TRACE_SYM_LEN])
{
	char *line = NULL, name[80], mod[15], target[ZAP_TRACE_SYM_LEN];
	size_t cap = 0, len = strlen(func);
	FILE *f = fopen("/proc/kallsyms", "r");
	int n = 0, i, fields;

	while (f && getline(&line, &cap, f) > 0) {
		mod[0] = '\0';
		fields = sscanf(line, "%*s %*s %79s [%14[^]]]", name, mod);
		if (fields < 1 || strncmp(name, func, len) ||
		    (name[len] && !zap_trace_sym_is_clone(name + len)))
			continue;
		snprintf(target, sizeof(target), "%s%s%s", mod, mod[0] ? ":" : "",
			 name);
		for (i = 0; i < n && strcmp(syms[i], target); i++)
			;
		if (i == n && n < ZAP_TRACE_MAX_SYMS)
			snprintf(syms[n++], ZAP_TRACE_SYM_LEN, "%s", target);
	}
	free(line);
	if (f)
		fclose(f);
	return n;
}

/* Define a probe on @target and enable it in our instance only. */
static int add_probe(struct zap_trace *t, int kind, int nr, char type,
		     const char *target, const char *fetch)
{
	char path[320], cmd[256], event[96];
	int r;

	snprintf(event, sizeof(event), "%s%d_%s", probe_kinds[kind], nr, t->tag);
	/* Known to the cleanup before it exists. */
	snprintf(cleanup.unprobe[cleanup.nr_unprobe], sizeof(cleanup.unprobe[0]),
		 "-:%s/%s\n", ZAP_TRACE_GROUP, event);
	WRITE_ONCE(cleanup.nr_unprobe, cleanup.nr_unprobe + 1);
	snprintf(cmd, sizeof(cmd), "%c:%s/%s %s %s\n", type, ZAP_TRACE_GROUP,
		 event, target, fetch);
	r = tracefs_write(cleanup.kprobe_events, cmd, true);
	if (r) {
		ksft_print_msg("kprobe '%.*s' refused: %s\n",
			       (int)strcspn(cmd, "\n"), cmd, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "events/%s/%s/enable", ZAP_TRACE_GROUP, event);
	return instance_write(t, path, "1");
}

static const char *add_probes(struct zap_trace *t)
{
	int i, r = 0;

	if (access(cleanup.kprobe_events, W_OK))
		return "no kprobe events in tracefs";
	t->nr_walk_syms = find_syms(WALK_FUNC, t->walk_syms);
	t->nr_zap_syms = find_syms(ZAP_FUNC, t->zap_syms);
	if (!t->nr_walk_syms || !t->nr_zap_syms)
		return "a zap function is not in /proc/kallsyms (inlined?)";

	/*
	 * A clone has the function's entry and return, which the probes mark,
	 * but IPA-SRA may have moved an argument or dropped the return value:
	 * the test checks what the probes read against the stats.
	 */
	for (i = 0; !r && i < t->nr_walk_syms; i++) {
		r = add_probe(t, PROBE_WALK, i, 'p', t->walk_syms[i],
			      "nr_to_zap=$arg2:u64");
		if (!r)
			r = add_probe(t, PROBE_WALK_RET, i, 'r', t->walk_syms[i],
				      "total=$retval:u64");
	}
	for (i = 0; !r && i < t->nr_zap_syms; i++)
		r = add_probe(t, PROBE_ZAP_RET, i, 'r', t->zap_syms[i],
			      "unstable=$retval:u8");
	if (!r)
		return NULL;

	/* Disable what was made (the tracepoint stays on), and remove it. */
	instance_write(t, "events/" ZAP_TRACE_GROUP "/enable", "0");
	for (i = 0; i < cleanup.nr_unprobe; i++)
		tracefs_write(cleanup.kprobe_events, cleanup.unprobe[i], true);
	cleanup.nr_unprobe = 0;
	return "the kernel refused a kprobe on a zap function";
}

/*
 * set_event_pid takes the pid of the initial pid namespace, which getpid()
 * is not inside a container: learn it from the context of a line we write
 * to the instance's trace_marker.
 */
static int traced_pid(struct zap_trace *t)
{
	char path[320], *line = NULL, *mark, *p;
	int pid = getpid();
	size_t cap = 0;
	sigset_t old;
	FILE *f;

	instance_write_ok(t, "trace_marker", t->tag);
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
		while (p > line && isdigit((unsigned char)p[-1]))
			p--;
		if (p > line && p[-1] == '-')
			pid = atoi(p);
		break;
	}
	free(line);
	if (f)
		tracefs_fclose(f, &old);
	instance_write_ok(t, "trace", "");
	return pid;
}

const char *zap_trace_open(struct zap_trace *t, uint64_t nr_zaps)
{
	static const int fatal_signals[] = { SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
					     SIGABRT, SIGSEGV, SIGBUS, SIGFPE };
	static bool at_exit;
	char path[320], val[32];
	const char *why;
	sigset_t old;
	int i, r;

	memset(t, 0, sizeof(*t));
	tracefs = find_tracefs();
	if (!tracefs)
		return "no tracefs with the kvmmmu events (needs root)";
	snprintf(path, sizeof(path), "%s/%s", tracefs, ZAP_FORMAT);
	if (!event_has_field(path, "root_count") || !event_has_field(path, "unsync"))
		return "kvm_mmu_prepare_zap_page has no root_count or unsync field";
	remove_stale();

	snprintf(t->tag, sizeof(t->tag), "ns%lu_pid%d", pid_ns_inode(), getpid());
	snprintf(t->instance, sizeof(t->instance), "%s/instances/%s%s", tracefs,
		 ZAP_TRACE_PREFIX, t->tag);
	snprintf(cleanup.instance, sizeof(cleanup.instance), "%s", t->instance);
	snprintf(cleanup.events_enable, sizeof(cleanup.events_enable),
		 "%s/events/enable", t->instance);
	snprintf(cleanup.kprobe_events, sizeof(cleanup.kprobe_events),
		 "%s/kprobe_events", tracefs);
	cleanup.nr_unprobe = 0;
	/* TEST_ASSERT() exits; libkvm's allocators abort(). */
	if (!at_exit)
		atexit(zap_trace_cleanup);
	at_exit = true;
	for (i = 0; i < ARRAY_SIZE(fatal_signals); i++)
		signal(fatal_signals[i], zap_trace_signal);
	/* No signal between the mkdir() and the cleanup knowing of it. */
	block_async_signals(&old);
	r = mkdir(t->instance, 0700) ? errno : 0;
	WRITE_ONCE(cleanup.armed, !r);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r) {
		ksft_print_msg("mkdir(%s): %s\n", t->instance, strerror(r));
		return "cannot make a tracefs instance";
	}

	t->cpu = sched_getcpu();
	TEST_ASSERT(t->cpu >= 0, "sched_getcpu() failed, errno %d", errno);
	instance_write_ok(t, "buffer_size_kb", IDLE_BUFFER_KB);
	snprintf(path, sizeof(path), "per_cpu/cpu%d/buffer_size_kb", t->cpu);
	snprintf(val, sizeof(val), "%lu", nr_zaps * BYTES_PER_ZAP / 1024 + 64);
	r = instance_write(t, path, val);
	if (r) {
		ksft_print_msg("%s KiB of trace buffer on CPU %d: %s\n", val,
			       t->cpu, strerror(-r));
		zap_trace_cleanup();
		return "no trace buffer big enough";
	}
	snprintf(val, sizeof(val), "%d", traced_pid(t));
	instance_write_ok(t, "set_event_pid", val);
	/*
	 * Print each event as "name: field=value ..." (the "fields" option,
	 * 6.5 and later), so the parser reads the fields by the names of the
	 * format file; older kernels print the tracepoint's own text.
	 */
	snprintf(path, sizeof(path), "%s/options/fields", t->instance);
	if (!access(path, W_OK))
		instance_write_ok(t, "options/fields", "1");
	instance_write_ok(t, "events/kvmmmu/kvm_mmu_prepare_zap_page/enable", "1");

	why = add_probes(t);
	t->probes = !why;
	snprintf(t->why_no_probes, sizeof(t->why_no_probes), "%s", why ?: "");
	return NULL;
}

/* Probe hits our kprobes missed ("nmissed" of kprobe_profile). */
static uint64_t probes_missed(struct zap_trace *t)
{
	char path[256], *line = NULL, name[160];
	uint64_t missed = 0, hits, misses;
	size_t cap = 0;
	sigset_t old;
	FILE *f;

	snprintf(path, sizeof(path), "%s/kprobe_profile", tracefs);
	f = t->probes ? tracefs_fopen(path, &old) : NULL;
	while (f && getline(&line, &cap, f) > 0)
		if (sscanf(line, "%159s %lu %lu", name, &hits, &misses) == 3 &&
		    strstr(name, t->tag))
			missed += misses;
	if (f)
		tracefs_fclose(f, &old);
	free(line);
	return missed;
}

/* Events the ring buffer of t->cpu dropped ("overrun" of its stats). */
static uint64_t buffer_overruns(struct zap_trace *t)
{
	char path[320], *line = NULL;
	uint64_t lost = 0;
	size_t cap = 0;
	sigset_t old;
	FILE *f;

	snprintf(path, sizeof(path), "%s/per_cpu/cpu%d/stats", t->instance,
		 t->cpu);
	f = tracefs_fopen(path, &old);
	while (f && getline(&line, &cap, f) > 0)
		if (!strncmp(line, "overrun:", 8))
			lost += strtoull(line + 8, NULL, 10);
	if (f)
		tracefs_fclose(f, &old);
	free(line);
	return lost;
}

void zap_trace_start(struct zap_trace *t)
{
	cpu_set_t one;

	TEST_ASSERT(!sched_getaffinity(0, sizeof(saved_cpus), &saved_cpus),
		    "sched_getaffinity() failed, errno %d", errno);
	CPU_ZERO(&one);
	CPU_SET(t->cpu, &one);
	TEST_ASSERT(!sched_setaffinity(0, sizeof(one), &one),
		    "Pinning to CPU %d (its trace buffer): errno %d", t->cpu,
		    errno);
	instance_write_ok(t, "trace", "");
	missed_at_start = probes_missed(t);
}

void zap_trace_stop(struct zap_trace *t, struct zap_trace_counts *c)
{
	struct zap_trace_parser p;
	char path[320], *line = NULL;
	size_t cap = 0;
	sigset_t old;
	FILE *f;
	int r = 0;

	zap_trace_parser_init(&p, c, t->tag, t->probes);
	snprintf(path, sizeof(path), "%s/trace", t->instance);
	f = tracefs_fopen(path, &old);
	TEST_ASSERT(f, "fopen(%s) failed, errno %d", path, errno);
	while (!r && getline(&line, &cap, f) > 0)
		r = zap_trace_parse_line(&p, line);
	free(line);
	tracefs_fclose(f, &old);
	c->lost += buffer_overruns(t) + probes_missed(t) - missed_at_start;
	/* A trace cut short by lost events cannot be parsed whole. */
	TEST_ASSERT(c->lost || (!r && !zap_trace_parse_end(&p)),
		    "Parsing the zap trace: %s", p.error);
	instance_write_ok(t, "trace", "");
	TEST_ASSERT(!sched_setaffinity(0, sizeof(saved_cpus), &saved_cpus),
		    "sched_setaffinity() failed, errno %d", errno);
}

void zap_trace_close(struct zap_trace *t)
{
	zap_trace_cleanup();
}
#endif /* ZAP_TRACE_PARSER_ONLY */
