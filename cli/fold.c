/* Folding allocator wrappers out of stacks; see cli/fold.h. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"

void mp_fold_free(struct mp_fold *fold)
{
	for (size_t i = 0; i < fold->n; i++)
		free(fold->v[i]);
	free(fold->v);
	free(fold->joined);
	memset(fold, 0, sizeof(*fold));
}

static int add(struct mp_fold *fold, const char *p, size_t len)
{
	for (size_t i = 0; i < fold->n; i++)
		if (strlen(fold->v[i]) == len && !memcmp(fold->v[i], p, len))
			return 0; /* already there */
	char **nv = realloc(fold->v, (fold->n + 1) * sizeof(*nv));
	if (!nv)
		return -1;
	fold->v = nv;
	if (!(fold->v[fold->n] = strndup(p, len)))
		return -1;
	fold->n++;
	return 0;
}

int mp_fold_init(struct mp_fold *fold, const char *const *lists, size_t nlists)
{
	memset(fold, 0, sizeof(*fold));
	size_t total = 1;
	for (size_t k = 0; k < nlists; k++) {
		const char *s = lists[k];
		while (s && *s) {
			size_t len = strcspn(s, ";");
			size_t lead = strspn(s, " \t"); /* patterns are trimmed of blanks */
			size_t end = len;
			while (end > lead && (s[end - 1] == ' ' || s[end - 1] == '\t'))
				end--;
			if (end > lead && add(fold, s + lead, end - lead)) {
				mp_fold_free(fold);
				return -1;
			}
			total += end - lead + 1;
			s += len + (s[len] == ';');
		}
	}
	if (!(fold->joined = malloc(total))) {
		mp_fold_free(fold);
		return -1;
	}
	size_t at = 0;
	for (size_t i = 0; i < fold->n; i++) {
		size_t len = strlen(fold->v[i]);
		if (i)
			fold->joined[at++] = ';';
		memcpy(fold->joined + at, fold->v[i], len);
		at += len;
	}
	fold->joined[at] = 0;
	return 0;
}

/* Where the qualified name starts in a demangled name: past a return type
   ("void ", "char const* "), which only template functions have. Brackets
   of templates, lambdas and arrays hide their blanks; an operator's name
   ("operator new", "operator()") ends the search. */
static const char *past_return_type(const char *s)
{
	const char *start = s;
	int depth = 0;
	for (const char *p = s; *p; p++) {
		if (depth == 0 && !strncmp(p, "(anonymous namespace)", 21)) {
			p += 20;
			continue;
		}
		if (depth == 0 && !strncmp(p, "operator", 8) && (p == s || p[-1] == ':' || p[-1] == ' '))
			return start;
		char c = *p;
		if (c == '<' || c == '{' || c == '[')
			depth++;
		else if ((c == '>' || c == '}' || c == ']') && depth > 0)
			depth--;
		else if (c == '(' && depth == 0)
			return start;
		else if (c == ' ' && depth == 0)
			start = p + 1;
	}
	return start;
}

int mp_fold_match(const struct mp_fold *fold, const char *function)
{
	if (!function || !fold->n)
		return 0;
	const char *bare = past_return_type(function);
	for (size_t i = 0; i < fold->n; i++)
		if (fnmatch(fold->v[i], function, 0) == 0 || (bare != function && fnmatch(fold->v[i], bare, 0) == 0))
			return 1;
	return 0;
}
