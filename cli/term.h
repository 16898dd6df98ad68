/* Drawing in the terminal: whether to use Unicode block characters, and
 * horizontal bars. Shared by the charts of the query commands. */
#ifndef MP_TERM_H
#define MP_TERM_H

#include <stdio.h>

/* 1 when charts may use Unicode block characters: the locale's character
   set (LC_ALL, else LC_CTYPE, else LANG) is UTF-8 and ascii is 0. */
int mp_term_utf8(int ascii);

/* Writes a bar of frac (clamped to [0, 1]) of width cells: eighths of a
   cell with Unicode blocks, '#' otherwise. A frac above 0 always shows at
   least the smallest mark. Returns the cells written. */
int mp_term_bar(FILE *out, double frac, int width, int utf8);

#endif
