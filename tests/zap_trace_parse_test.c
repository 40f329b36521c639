// SPDX-License-Identifier: GPL-2.0-only
/*
 * The zap trace parser (the parser half of lib/x86/zap_trace.c) on captured
 * trace text: no KVM, no tracefs, no libkvm.  Each fixture is the text of an instance's "trace"
 * file, preceded by comment lines that the parser skips like the file's
 * own header and that say what to expect:
 *
 *   # tag: <the probes' tag>    # probes: 0 or 1 (kprobe events present)
 *   # expect: zaps=3 walks=1 ...  (every count not named must be 0)
 *   # error: <the start of the parser's error message>
 *
 * Usage: zap_trace_parse_test FIXTURE...; prints KTAP, exits 1 on failure.
 * Built with the parser half of zap_trace.c only, no libkvm: with K the
 * kvm selftests folder, gcc -DZAP_TRACE_PARSER_ONLY -I$K/include/x86
 * <this file> $K/lib/x86/zap_trace.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zap_trace.h"

#define OFF(field) offsetof(struct zap_trace_counts, field)

/* Every count of struct zap_trace_counts, by name. */
static const struct {
	const char *name;
	size_t offset;
} counts[] = {
	{ "zaps", OFF(zaps) },
	{ "unsync_zaps", OFF(unsync_zaps) },
	{ "lost", OFF(lost) },
	{ "top_level", OFF(top_level) },
	{ "nested", OFF(nested) },
	{ "parents", OFF(parents) },
	{ "unstable", OFF(unstable) },
	{ "unstable_no_children", OFF(unstable_no_children) },
	{ "children_not_unstable", OFF(children_not_unstable) },
	{ "walks", OFF(walks) },
	{ "walk_nr_to_zap", OFF(walk_nr_to_zap) },
	{ "walk_total", OFF(walk_total) },
	{ "walk_counted", OFF(walk_counted) },
	{ "restarts", OFF(restarts) },
	{ "past_budget", OFF(past_budget) },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NR_COUNTS ARRAY_SIZE(counts)

struct fixture {
	char tag[ZAP_TRACE_TAG_LEN];
	int probes;
	unsigned long long expect[NR_COUNTS];
	char error[128];
};

static uint64_t *count_of(struct zap_trace_counts *c, int i)
{
	return (uint64_t *)((char *)c + counts[i].offset);
}

/* "name=value" pairs of an "# expect:" line. */
static int parse_expect(struct fixture *fx, char *list)
{
	char *tok, *save, *eq;
	int i;

	for (tok = strtok_r(list, "\t\n ", &save); tok;
	     tok = strtok_r(NULL, "\t\n ", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq = '\0';
		for (i = 0; i < NR_COUNTS; i++)
			if (!strcmp(tok, counts[i].name))
				break;
		if (i == NR_COUNTS)
			return -1;
		fx->expect[i] = strtoull(eq + 1, NULL, 10);
	}
	return 0;
}

static int parse_meta(struct fixture *fx, char *line)
{
	if (sscanf(line, "# tag: %47s", fx->tag) == 1 ||
	    sscanf(line, "# probes: %d", &fx->probes) == 1)
		return 0;
	if (!strncmp(line, "# expect:", 9))
		return parse_expect(fx, line + 9);
	if (!strncmp(line, "# error: ", 9))
		snprintf(fx->error, sizeof(fx->error), "%.*s",
			 (int)strcspn(line + 9, "\n"), line + 9);
	return 0;
}

/* Parse the fixture at @path; 0 if it came out as its comments say. */
static int run_fixture(const char *path)
{
	char *line = NULL;
	struct fixture fx = { .probes = -1 };
	struct zap_trace_parser p;
	struct zap_trace_counts c;
	size_t cap = 0;
	FILE *f = fopen(path, "r");
	int i, r = 0, bad = 0;

	if (!f) {
		printf("# %s: cannot open\n", path);
		return -1;
	}
	/* The meta lines come first; read them all before parsing. */
	while (getline(&line, &cap, f) > 0) {
		if (parse_meta(&fx, line)) {
			printf("# %s: bad expectation '%s'\n", path, line);
			bad = 1;
		}
	}
	if (!fx.tag[0] || fx.probes < 0) {
		printf("# %s: no tag or probes line\n", path);
		bad = 1;
	}
	rewind(f);
	zap_trace_parser_init(&p, &c, fx.tag, fx.probes);
	while (!r && getline(&line, &cap, f) > 0)
		r = zap_trace_parse_line(&p, line);
	if (!r)
		r = zap_trace_parse_end(&p);
	free(line);
	fclose(f);

	if (fx.error[0]) {
		if (!r || strncmp(p.error, fx.error, strlen(fx.error))) {
			printf("# %s: expected error '%s', got '%s'\n", path,
			       fx.error, r ? p.error : "none");
			bad = 1;
		}
		return bad;
	}
	if (r) {
		printf("# %s: %s\n", path, p.error);
		return 1;
	}
	for (i = 0; i < NR_COUNTS; i++) {
		if (*count_of(&c, i) == fx.expect[i])
			continue;
		printf("# %s: %s is %lu, expected %lu\n", path, counts[i].name,
		       (unsigned long)*count_of(&c, i),
		       (unsigned long)fx.expect[i]);
		bad = 1;
	}
	return bad;
}

int main(int argc, char *argv[])
{
	int i, failed = 0;

	printf("TAP version 13\n1..%d\n", argc - 1);
	for (i = 1; i < argc; i++) {
		const char *name = strrchr(argv[i], '/');

		name = name ? name + 1 : argv[i];
		if (run_fixture(argv[i])) {
			printf("not ok %d %s\n", i, name);
			failed++;
		} else {
			printf("ok %d %s\n", i, name);
		}
	}
	printf("# Totals: pass:%d fail:%d\n", argc - 1 - failed, failed);
	return failed || argc < 2;
}
