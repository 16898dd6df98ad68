/* Each unit-test file adds its CUnit suite with one function listed in
   tests/unit/unit-main.c. Returns 0, or -1 if CUnit failed. */
#ifndef MP_UNIT_H
#define MP_UNIT_H

#include <CUnit/CUnit.h>

int mp_suite_wire(void);
int mp_suite_store(void);
int mp_suite_symbolize(void);
int mp_suite_finish(void);
int mp_suite_output(void);
int mp_suite_check(void);
int mp_suite_svg(void);
int mp_suite_calltree(void);
int mp_suite_fold(void);
int mp_suite_env(void);
int mp_suite_reach(void);

#endif
