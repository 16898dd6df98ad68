/* The file a command writes with -o FILE (outfile.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "outfile.h"
#include "util.h"

static int is_stdout(const char *path)
{
	return !path || !strcmp(path, "-");
}

FILE *mp_outfile_open(const char *path)
{
	if (is_stdout(path))
		return stdout;
	FILE *out = fopen(path, "w");
	if (!out)
		mp_error("cannot write '%s': %s", path, mp_strerror(errno));
	return out;
}

int mp_outfile_close(FILE *out, const char *path)
{
	if (is_stdout(path))
		return mp_finish_output();
	errno = 0;
	int failed = fflush(out) != 0 || ferror(out);
	int e = errno;
	if (fclose(out) && !failed) {
		failed = 1;
		e = errno;
	}
	if (!failed)
		return MP_EXIT_OK;
	mp_error("cannot write '%s': %s", path, mp_strerror(e ? e : EIO));
	unlink(path);
	return MP_EXIT_TRACE;
}
