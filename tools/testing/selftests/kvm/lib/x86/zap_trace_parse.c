// SPDX-License-Identifier: GPL-2.0-only
/*
 * The zap call tree and the walk's restarts, rebuilt from the text of a
 * tracefs "trace" file: a pure function of that text, so that it can be
 * tested on captured traces without KVM (see zap_trace.h).
 *
 * The kvm_mmu_prepare_zap_page tracepoint fires at the start of each zap,
 * so a parent's event comes before those of the unsync children it zaps;
 * the return probe on __kvm_mmu_prepare_zap_page() closes each zap, and
 * the entry and return probes on kvm_mmu_zap_oldest_mmu_pages() bracket a
 * walk.  Restarts leave no event of their own: a walk restarts when a zap
 * of its own reports the list unstable before the walk has zapped enough.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zap_trace.h"

#define ZAP_EVENT " kvm_mmu_prepare_zap_page: "

static int fail(struct zap_parser *p, const char *line, const char *fmt, ...)
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
 * The value of the field @name in an event's text: " name=value", where
 * the "fields" trace option prints a 1-byte field as "(1)" or "'A'(65)"
 * and wider ones as "0x2a (42)", and a kprobe event prints its arguments
 * as "42" (u64, u8) in the default format.
 */
bool zap_event_field(const char *text, const char *name, uint64_t *val)
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
	if (*v < '0' || *v > '9')
		return false;
	errno = 0;
	*val = strtoull(v, &end, 0);
	return !errno && end != v;
}

/*
 * The tracepoint's printed text (without the "fields" option), as
 * mmutrace.h's KVM_MMU_PAGE_PRINTK() writes it: "sp gen %u gfn %llx ...
 * root %u %s" with "unsync" or "sync" last.
 */
static bool printed_zap(const char *text, uint64_t *root_count,
			uint64_t *unsync)
{
	const char *v = strstr(text, " root ");
	char *end;

	if (!v)
		return false;
	v += strlen(" root ");
	if (*v < '0' || *v > '9')
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

static int parse_zap(struct zap_parser *p, const char *line, const char *ev)
{
	uint64_t root_count, unsync;
	bool fields;

	fields = zap_event_field(ev, "root_count", &root_count);
	if (fields ? !zap_event_field(ev, "unsync", &unsync) :
		     !printed_zap(ev, &root_count, &unsync))
		return fail(p, line, "No root_count and unsync in zap event");
	p->c->zaps++;
	p->c->unsync_zaps += !!unsync;
	/* Without the return probes there is no call tree to follow. */
	if (!p->exact)
		return 0;
	if (p->depth == ZAP_MAX_DEPTH)
		return fail(p, line, "Zaps nested deeper than %d",
			    ZAP_MAX_DEPTH);
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
	p->depth++;
	return 0;
}

/*
 * A zap's return: "list unstable" must be reported exactly when the zap
 * took children with it.  For a walk's own zaps, follow the walk: it adds
 * nr_zapped (children, plus the page unless it is an active root), stops
 * once that reaches nr_to_zap, and otherwise restarts if unstable.
 */
static int parse_zap_return(struct zap_parser *p, const char *line,
			    const char *ev)
{
	uint64_t unstable, children;
	bool freed;

	if (!zap_event_field(ev, "unstable", &unstable))
		return fail(p, line, "No unstable field in zap return");
	if (!p->depth)
		return fail(p, line, "A zap returned that never started");
	p->depth--;
	children = p->stack[p->depth].children;
	freed = p->stack[p->depth].freed;
	p->c->unstable_no_children += unstable && !children;
	p->c->children_not_unstable += !unstable && children;
	if (p->depth)
		return 0;
	p->c->parents += !!children;
	p->c->unstable += !!unstable;
	if (!p->in_walk)
		return 0;
	p->walk_sum += children + freed;
	if (unstable && p->walk_sum < p->walk_budget)
		p->c->restarts++;
	return 0;
}

static int parse_walk(struct zap_parser *p, const char *line, const char *ev)
{
	if (!zap_event_field(ev, "nr_to_zap", &p->walk_budget))
		return fail(p, line, "No nr_to_zap field in walk start");
	if (p->in_walk)
		return fail(p, line, "A walk started inside a walk");
	p->in_walk = true;
	p->walk_sum = 0;
	p->c->walks++;
	p->c->walk_nr_to_zap += p->walk_budget;
	return 0;
}

static int parse_walk_return(struct zap_parser *p, const char *line,
			     const char *ev)
{
	uint64_t total;

	if (!zap_event_field(ev, "total", &total))
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

void zap_parser_init(struct zap_parser *p, struct zap_counts *c,
		     const char *tag, bool exact)
{
	memset(p, 0, sizeof(*p));
	memset(c, 0, sizeof(*c));
	p->c = c;
	p->exact = exact;
	snprintf(p->walk, sizeof(p->walk), " walk_%s: ", tag);
	snprintf(p->walk_ret, sizeof(p->walk_ret), " walk_ret_%s: ", tag);
	snprintf(p->zap_ret, sizeof(p->zap_ret), " zap_ret_%s: ", tag);
}

int zap_parse_line(struct zap_parser *p, const char *line)
{
	const char *ev;

	if (line[0] == '#' || line[0] == '\n' || !line[0])
		return 0;
	ev = strstr(line, ZAP_EVENT);
	if (ev)
		return parse_zap(p, line, ev + strlen(ZAP_EVENT) - 1);
	ev = strstr(line, p->zap_ret);
	if (ev)
		return parse_zap_return(p, line, ev + strlen(p->zap_ret) - 1);
	ev = strstr(line, p->walk);
	if (ev)
		return parse_walk(p, line, ev + strlen(p->walk) - 1);
	ev = strstr(line, p->walk_ret);
	if (ev)
		return parse_walk_return(p, line, ev + strlen(p->walk_ret) - 1);
	/* The ring buffer says where it dropped events: "[LOST 3 EVENTS]". */
	ev = strstr(line, "[LOST ");
	if (ev)
		p->c->lost += strtoull(ev + strlen("[LOST "), NULL, 10) ?: 1;
	return 0;
}

int zap_parse_end(struct zap_parser *p)
{
	if (p->depth || p->in_walk)
		return fail(p, "", "Trace ended inside a %s (lost events?)",
			    p->depth ? "zap" : "walk");
	return 0;
}
