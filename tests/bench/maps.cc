// Benchmark workload: a C++ program using std::map and std::string heavily.
#include <cstdio>
#include <map>
#include <string>

int main(int argc, char **argv)
{
	long n = argc > 1 ? std::atol(argv[1]) : 300000;
	std::map<std::string, std::string> m;
	for (long i = 0; i < n; i++)
		m["key-" + std::to_string(i * 7919 % n) + "-with-a-longer-suffix"] = std::string(40 + i % 50, 'x');
	size_t total = 0;
	for (auto &kv : m)
		total += kv.first.size() + kv.second.size();
	for (long i = 0; i < n; i += 2)
		m.erase("key-" + std::to_string(i) + "-with-a-longer-suffix");
	std::printf("%zu %zu\n", total, m.size());
	return 0;
}
