/* The CUnit runner for every unit-test suite. */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "unit.h"

int main(void)
{
	int (*suites[])(void) = {mp_suite_wire,   mp_suite_store, mp_suite_symbolize, mp_suite_finish,
	                         mp_suite_output, mp_suite_check, mp_suite_svg,       mp_suite_calltree,
	                         mp_suite_fold,   mp_suite_env,   mp_suite_reach};
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		if (suites[i]()) {
			fprintf(stderr, "unit-tests: cannot register suite %zu: %s\n", i, CU_get_error_msg());
			CU_cleanup_registry();
			return 1;
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
