/* The file a command writes with -o FILE (standard output without one). */
#ifndef MP_OUTFILE_H
#define MP_OUTFILE_H

#include <stdio.h>

/* Opens path for writing, replacing it (stdout when path is NULL or "-").
   Returns the stream, or NULL after "memprof: cannot write 'path': ...". */
FILE *mp_outfile_open(const char *path);
/* Closes what mp_outfile_open returned, checking that everything was
   written; a regular file that could not be written is removed (a device
   or a pipe never is). Returns 0, or MP_EXIT_TRACE after the message
   (stdout: mp_finish_output's code). */
int mp_outfile_close(FILE *out, const char *path);
/* Closes it after a failure of the command; a regular file is removed. */
void mp_outfile_discard(FILE *out, const char *path);

#endif
