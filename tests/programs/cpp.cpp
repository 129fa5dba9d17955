// C++ allocations through operator new/delete, arrays, a container and a string.
#include <map>
#include <memory>
#include <string>
#include <vector>

struct Node { long a[4]; };

// Keeps the compiler from eliding the allocations it could prove unused.
Node *volatile sink;

int main() {
    for (int i = 0; i < 100; i++) { sink = new Node(); delete sink; }
    int *arr = new int[1000];
    delete[] arr;
    std::vector<int> v;
    for (int i = 0; i < 1000; i++) v.push_back(i);
    std::map<int, std::string> m;
    for (int i = 0; i < 50; i++) m[i] = std::string(40, 'x');
    auto kept = std::make_unique<Node>();
    sink = new Node(); // leaked
    return v.size() == 1000 && m.size() == 50 && kept ? 0 : 1;
}
