/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shadow MMU's zaps, captured in a private tracefs instance: the
 * kvmmmu/kvm_mmu_prepare_zap_page tracepoint (the start of every zap), and
 * where the kernel has kprobe events, return probes on
 * __kvm_mmu_prepare_zap_page() ("list unstable") and entry and return
 * probes on kvm_mmu_zap_oldest_mmu_pages() (nr_to_zap, the total it
 * zapped), on the function and on every clone the compiler made of it.
 * With the probes the trace is a call tree: which zap took which pages
 * along, and when the walk had enough.
 *
 * lib/x86/zap_trace.c holds both halves.  The parser is a pure function of
 * the trace text and needs the C library only: with
 * -DZAP_TRACE_PARSER_ONLY that file builds it alone, without libkvm, for
 * the offline test of tests/zap_trace_parse_test.c.  The capture needs
 * libkvm, root and tracefs.
 */
#ifndef SELFTEST_KVM_ZAP_TRACE_H
#define SELFTEST_KVM_ZAP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The instance is ZAP_TRACE_PREFIX<tag>, the probes ZAP_TRACE_GROUP/<kind><n>_<tag>
 * (kind walk, walk_ret or zap_ret; n the clone), where the tag
 * "ns<pid namespace inode>_pid<pid>" names this process in a tracefs that
 * other pid namespaces may share.
 */
#define ZAP_TRACE_PREFIX	"kvm_zap_selftest_"
#define ZAP_TRACE_GROUP		"kvm_zap_selftest"
#define ZAP_TRACE_TAG_LEN	48
#define ZAP_TRACE_MAX_DEPTH	8
/* The clones of one function that get a probe each. */
#define ZAP_TRACE_MAX_SYMS	4
#define ZAP_TRACE_SYM_LEN	96

struct zap_trace_counts {
	uint64_t zaps;			/* kvm_mmu_prepare_zap_page events */
	uint64_t unsync_zaps;		/* ... of unsync pages */
	uint64_t lost;			/* events the buffer or the probes missed */
	/* The rest needs the probes. */
	uint64_t top_level;		/* zaps made by a walk or caller itself */
	uint64_t nested;		/* zaps made inside another zap */
	uint64_t parents;		/* top-level zaps that took pages along */
	uint64_t unstable;		/* top-level zaps that said "unstable" */
	uint64_t unstable_no_children;	/* zaps that said it and took none */
	uint64_t children_not_unstable;	/* zaps that took some and did not */
	uint64_t walks;			/* kvm_mmu_zap_oldest_mmu_pages() calls */
	uint64_t walk_nr_to_zap;	/* their nr_to_zap, summed */
	uint64_t walk_total;		/* what they returned, summed */
	uint64_t walk_counted;		/* what their zaps freed, summed */
	uint64_t restarts;		/* unstable zaps that did not end a walk */
	uint64_t past_budget;		/* walk zaps made after it had enough */
};

/*
 * The parser.  Feed it the lines of an instance's "trace" file in order.
 * Events are read by the field names of their "format" files (the "fields"
 * trace option), or from the tracepoint's printed text where that option
 * is missing.  With @probes, each zap's event opens a node of the call
 * tree and its return probe closes it.  A zap frees its own page unless
 * it is a root in use, and every page zapped below it: that is the
 * nr_zapped it reports to the walk, which adds it up, stops once the sum
 * reaches nr_to_zap and otherwise starts over after an unstable zap.
 * zap_trace_parse_line() and zap_trace_parse_end() return 0, or -1 with
 * the reason in p->error.
 */
struct zap_trace_parser {
	struct zap_trace_counts *c;
	bool probes;
	char tag[ZAP_TRACE_TAG_LEN + 4];	/* "_<tag>: " */
	struct {
		bool freed;		/* not a root in use */
		uint64_t children;	/* zaps made directly inside it */
		uint64_t below;		/* pages freed by those, recursively */
	} stack[ZAP_TRACE_MAX_DEPTH];
	int depth;
	bool in_walk;
	uint64_t walk_budget, walk_sum;
	char error[256];
};

void zap_trace_parser_init(struct zap_trace_parser *p,
			   struct zap_trace_counts *c, const char *tag,
			   bool probes);
int zap_trace_parse_line(struct zap_trace_parser *p, const char *line);
int zap_trace_parse_end(struct zap_trace_parser *p);
/* The field @name of an event's text ("name=value" in its forms). */
bool zap_trace_event_field(const char *text, const char *name, uint64_t *val);
/* @sym is a compiler clone of a function: "<func>.isra.0", ".constprop.1". */
bool zap_trace_sym_is_clone(const char *sym);

/* The capture. */
struct zap_trace {
	char instance[192];
	char tag[ZAP_TRACE_TAG_LEN];
	int cpu;			/* the CPU whose buffer holds a capture */
	bool probes;			/* the kprobe events are in place */
	char why_no_probes[192];
	/* The probed functions as this kernel names them. */
	int nr_walk_syms, nr_zap_syms;
	char walk_syms[ZAP_TRACE_MAX_SYMS][ZAP_TRACE_SYM_LEN];
	char zap_syms[ZAP_TRACE_MAX_SYMS][ZAP_TRACE_SYM_LEN];
};

/*
 * Make the instance, its buffer big enough for the events of @nr_zaps
 * zaps, and the probes where the kernel has kprobe events.  NULL, or why
 * there can be no capture here (the caller skips); t->why_no_probes says
 * why there are no probes.  Whatever a killed earlier run left in tracefs
 * is removed first, if its owner is provably gone.  The instance and the
 * probes go at exit and on a fatal signal.
 */
const char *zap_trace_open(struct zap_trace *t, uint64_t nr_zaps);
/* Capture from here, in this thread, pinned to t->cpu until the stop. */
void zap_trace_start(struct zap_trace *t);
/* Parse what was captured since the start into @c; clear the buffer. */
void zap_trace_stop(struct zap_trace *t, struct zap_trace_counts *c);
void zap_trace_close(struct zap_trace *t);

#endif /* SELFTEST_KVM_ZAP_TRACE_H */
