/* Unit tests of folding (cli/fold.c): pattern lists and name matching. */
#include <CUnit/CUnit.h>

#include "fold.h"
#include "unit.h"

static void test_lists(void)
{
	struct mp_fold f;
	const char *lists[] = {MP_FOLD_DEFAULT, NULL, " xmalloc ;; g_malloc*;std::*;"};
	CU_ASSERT_EQUAL(mp_fold_init(&f, lists, 3), 0);
	CU_ASSERT_EQUAL(f.n, 7);
	CU_ASSERT_STRING_EQUAL(f.joined,
	                       "operator new*;operator delete*;std::*;__gnu_cxx::*;__cxa_*;xmalloc;g_malloc*");
	mp_fold_free(&f);
	CU_ASSERT_EQUAL(mp_fold_init(&f, lists, 0), 0);
	CU_ASSERT_EQUAL(f.n, 0);
	CU_ASSERT_STRING_EQUAL(f.joined, "");
	CU_ASSERT_EQUAL(mp_fold_match(&f, "operator new(unsigned long)"), 0);
	mp_fold_free(&f);
}

static void test_match(void)
{
	struct mp_fold f;
	const char *lists[] = {MP_FOLD_DEFAULT, "xmalloc"};
	CU_ASSERT_EQUAL(mp_fold_init(&f, lists, 2), 0);
	static const char *const folded[] = {
	        "operator new(unsigned long)",
	        "operator new[](unsigned long, std::nothrow_t const&)",
	        "operator delete(void*, unsigned long)",
	        "std::__new_allocator<int>::allocate(unsigned long, void const*)",
	        "__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)",
	        "std::allocator_traits<std::allocator<int> >::allocate(std::allocator<int>&, unsigned long)",
	        /* template functions demangle with their return type first */
	        "void std::vector<int, std::allocator<int> >::_M_realloc_insert<int "
	        "const&>(__gnu_cxx::__normal_iterator"
	        "<int*, std::vector<int, std::allocator<int> > >, int const&)",
	        "std::_Rb_tree_node<std::pair<int const, int> >* std::_Rb_tree<int, std::pair<int const, int>, "
	        "std::_Select1st<std::pair<int const, int> >, std::less<int>, std::allocator<std::pair<int const, int> "
	        "> "
	        ">::_M_create_node<std::piecewise_construct_t const&>(std::piecewise_construct_t const&)",
	        "__cxa_allocate_exception",
	        "xmalloc",
	};
	for (size_t i = 0; i < sizeof(folded) / sizeof(folded[0]); i++)
		CU_ASSERT(mp_fold_match(&f, folded[i]));
	static const char *const kept[] = {
	        "main",
	        "containers()",
	        "user_fn(std::string const&)",
	        "void run<std::vector<int> >(std::vector<int>&)",
	        "Widget::operator new(unsigned long)",
	        "(anonymous namespace)::make(std::map<int, int>&)",
	        "xmalloc_wrapper",
	        NULL,
	};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		CU_ASSERT(!mp_fold_match(&f, kept[i]));
	mp_fold_free(&f);
}

int mp_suite_fold(void)
{
	CU_pSuite s = CU_add_suite("fold", NULL, NULL);
	if (!s || !CU_add_test(s, "pattern lists", test_lists) || !CU_add_test(s, "names", test_match))
		return -1;
	return 0;
}
