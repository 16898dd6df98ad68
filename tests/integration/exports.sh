#!/bin/sh
# libmemprof.so exports exactly the interposed functions of lib/exports.map,
# carries neither SQLite nor a public jemalloc, and needs libc alone.
. "${top_srcdir:-.}/tests/integration/lib.sh"
want=$(sed -n '/global:/,/local:/p' "$top_srcdir/lib/exports.map" | grep -v 'global:\|local:' | tr ';' '\n' | tr -d ' ' | grep -v '^$' | sort)
have=$(nm -D --defined-only "$MEMPROF_LIB" | awk '{print $3}' | sed 's/@.*//' | sort)
check "exported symbols" "$have" "$want"
check "no sqlite inside" "$(nm -D "$MEMPROF_LIB" | grep -c sqlite3_)" 0
check "no sqlite dependency" "$(objdump -p "$MEMPROF_LIB" | grep NEEDED | grep -c sqlite)" 0
check "libunwind not linked (opened RTLD_LOCAL)" "$(objdump -p "$MEMPROF_LIB" | grep NEEDED | grep -c unwind)" 0
# Every traced process loads what it needs: the C library alone (jemalloc's
# profiling finds libm and libgcc_s only if it is ever on, lib/preload.c).
check "needs libc alone" "$(objdump -p "$MEMPROF_LIB" | awk '$1 == "NEEDED" {print $2}' | tr '\n' ' ')" "libc.so.6 "
check "nothing left undefined but libc's" \
	"$(nm -D --undefined-only "$MEMPROF_LIB" | awk '$1 == "U" && $2 !~ /@GLIBC_/' | wc -l)" 0
finish
