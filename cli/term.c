/* Drawing in the terminal; see cli/term.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "term.h"

int mp_term_utf8(int ascii)
{
	if (ascii)
		return 0;
	const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (!v || !*v)
			continue;
		const char *dot = strchr(v, '.');
		if (!dot)
			return 0;
		dot++;
		return !strncasecmp(dot, "utf-8", 5) || !strncasecmp(dot, "utf8", 4);
	}
	return 0;
}

int mp_term_bar(FILE *out, double frac, int width, int utf8)
{
	static const char *const eighths[] = {"", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589"};
	if (width <= 0)
		return 0;
	if (!(frac > 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	int steps = utf8 ? 8 : 1;
	long units = (long)(frac * width * steps + 0.5);
	if (units == 0 && frac > 0)
		units = 1;
	int cells = 0;
	for (; units >= steps; units -= steps, cells++)
		fputs(utf8 ? "\u2588" : "#", out);
	if (units > 0) {
		fputs(eighths[units], out);
		cells++;
	}
	return cells;
}
