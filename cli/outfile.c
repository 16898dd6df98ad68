/* The file a command writes with -o FILE (outfile.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

/* Whether out is a regular file: only such a file is removed after a
   failure (never a device such as /dev/null, or a pipe). */
static int is_regular(FILE *out)
{
	struct stat st;
	return fstat(fileno(out), &st) == 0 && S_ISREG(st.st_mode);
}

int mp_outfile_close(FILE *out, const char *path)
{
	if (is_stdout(path))
		return mp_finish_output();
	errno = 0;
	int failed = fflush(out) != 0 || ferror(out);
	int e = errno;
	int regular = is_regular(out);
	if (fclose(out) && !failed) {
		failed = 1;
		e = errno;
	}
	if (!failed)
		return MP_EXIT_OK;
	mp_error("cannot write '%s': %s", path, mp_strerror(e ? e : EIO));
	if (regular)
		unlink(path);
	return MP_EXIT_TRACE;
}

void mp_outfile_discard(FILE *out, const char *path)
{
	if (is_stdout(path)) {
		fflush(out);
		return;
	}
	int regular = is_regular(out);
	fclose(out);
	if (regular)
		unlink(path);
}
