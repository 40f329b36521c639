/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Capture of the shadow MMU's zaps in a private tracefs instance: the
 * kvmmmu/kvm_mmu_prepare_zap_page tracepoint (start of every zap)
 * everywhere, and where kprobe events exist, return probes on
 * __kvm_mmu_prepare_zap_page() ("list unstable") and on
 * kvm_mmu_zap_oldest_mmu_pages() (entry: nr_to_zap, return: total
 * zapped), which make the zap call tree and the walk's restarts exact.
 *
 * The capture is lib/x86/zap_trace.c; the parser of the captured text,
 * lib/x86/zap_trace_parse.c, is a pure function of that text (no tracefs,
 * no KVM), so this header needs the C library only.
 */
#ifndef SELFTEST_KVM_ZAP_TRACE_H
#define SELFTEST_KVM_ZAP_TRACE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The instance is ZAP_TRACE_PREFIX<tag>, the probes ZAP_TRACE_GROUP/<kind>_<tag>,
 * where the tag, "ns<pid namespace inode>_pid<pid>", names this process in
 * a tracefs that other pid namespaces may share.
 */
#define ZAP_TRACE_PREFIX "kvm_zap_selftest_"
#define ZAP_TRACE_GROUP "kvm_zap_selftest"
#define ZAP_TRACE_TAG_LEN 48

struct zap_trace {
	char instance[128];
	bool exact; /* the probes are in place */
	char why_not_exact[128];
	char tag[ZAP_TRACE_TAG_LEN];
	/* The probed functions as this kernel names them (.isra.0, ...). */
	char walk_sym[80];
	char zap_sym[80];
};

struct zap_counts {
	uint64_t zaps; /* kvm_mmu_prepare_zap_page events */
	uint64_t unsync_zaps; /* ... of unsync pages */
	uint64_t lost; /* events lost to a full buffer */
	/* The rest needs the probes (zap_trace.exact). */
	uint64_t top_level; /* zaps made by a walk or caller itself */
	uint64_t nested; /* zaps made inside another (unsync children) */
	uint64_t parents; /* top-level zaps that took children */
	uint64_t unstable; /* top-level zaps that returned "unstable" */
	uint64_t unstable_no_children; /* zaps that returned it wrongly */
	uint64_t children_not_unstable; /* zaps that failed to return it */
	uint64_t walks; /* kvm_mmu_zap_oldest_mmu_pages() calls */
	uint64_t walk_nr_to_zap; /* their nr_to_zap, summed */
	uint64_t walk_total; /* their return values, summed */
	uint64_t walk_counted; /* nr_zapped of their top-level zaps, summed */
	uint64_t restarts; /* unstable zaps that did not end the walk */
	uint64_t past_budget; /* top-level zaps after the walk had enough */
};

/* A tracefs with the kvmmmu events is there (root, tracefs mounted). */
bool zap_trace_available(void);
/* Skips the test (exit 4) without a tracefs that has the kvmmmu events. */
void zap_trace_open(struct zap_trace *t);
void zap_trace_clear(struct zap_trace *t);
/* Summarise the zaps captured since zap_trace_clear(), then clear. */
void zap_trace_collect(struct zap_trace *t, struct zap_counts *c);
void zap_trace_close(struct zap_trace *t);
/*
 * The instance's trace text, for a reader of its own (a -v printer): the
 * fatal signals wait until it is closed again (the cleanup cannot remove
 * an instance whose trace file is open).
 */
FILE *zap_trace_text_open(struct zap_trace *t, sigset_t *old);
void zap_trace_text_close(FILE *f, const sigset_t *old);

/*
 * The checks of zap_trace.exact counts.  __kvm_mmu_prepare_zap_page(),
 * whoever calls it, reports the list unstable exactly when the zap took
 * children with it: one child as much as many (that child may be the
 * walk's next page), none never.  A
 * budgeted walk (kvm_mmu_zap_oldest_mmu_pages()) over phase @p was called
 * once with @nr_to_zap, added each zap's nr_zapped (children, plus the page
 * itself) to the total it returns and to mmu_recycled, and zapped nothing
 * once it had enough.
 */
struct zap_phase;
void zap_check_unstable(const char *what, const struct zap_counts *c);
void zap_check_walk(const struct zap_counts *c, uint64_t nr_to_zap,
		    const struct zap_phase *p);

/*
 * The kernel function @func as /proc/kallsyms names it, in @sym: itself or
 * a .isra/.constprop clone; empty if inlined or kallsyms is unreadable.
 */
void zap_find_symbol(const char *func, char *sym, size_t size);

/* lib/x86/zap_trace_stale.c: the leftovers of killed runs. */
void zap_trace_remove_stale(const char *tracefs);

/*
 * The parser.  Feed it the lines of an instance's "trace" file in order;
 * it fills the zap_counts given to zap_parser_init().  Events are read by
 * the field names of their "format" files ("fields" trace option), or
 * from the tracepoint's printed text where that option is missing.
 * zap_parse_line() and zap_parse_end() return 0, or -1 with the reason
 * in p->error.
 */
#define ZAP_MAX_DEPTH 8

struct zap_parser {
	struct zap_counts *c;
	bool exact; /* the probes' events are in the text */
	char walk[64], walk_ret[64], zap_ret[64]; /* " <event>: " */
	struct {
		bool freed; /* not an active root: counts in nr_zapped */
		uint64_t children;
	} stack[ZAP_MAX_DEPTH];
	int depth;
	bool in_walk;
	uint64_t walk_budget, walk_sum;
	char error[256];
};

/* The probes' event names are "walk_<tag>", "walk_ret_<tag>", "zap_ret_<tag>". */
void zap_parser_init(struct zap_parser *p, struct zap_counts *c,
		     const char *tag, bool exact);
int zap_parse_line(struct zap_parser *p, const char *line);
/* The field @name of an event's text, as the "fields" option prints it. */
bool zap_event_field(const char *text, const char *name, uint64_t *val);
int zap_parse_end(struct zap_parser *p);

#endif /* SELFTEST_KVM_ZAP_TRACE_H */
