// envoy-pyext: Apache-2.0
//
// The store behind envoy_pyext.shared (cpp/include/pyext_shared.h): two maps under one mutex,
// one such store per space (the users' one, and the runtime's own: PYEXT_SPACE_*).
#include "pyext_shared.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>

namespace {

struct Store {
  std::mutex mu;
  std::map<std::string, std::string> values;
  std::map<std::string, int64_t> counters;
};

// Never freed: Envoy never unloads us.
template <int N>
Store& store() {
  static Store* s = new Store();
  return *s;
}

char* copy_out(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.data(), s.size());
  return p;
}

template <int N>
int op_get(const char* key, size_t key_len, char** out, size_t* out_len) {
  Store& st = store<N>();
  std::lock_guard<std::mutex> lock(st.mu);
  auto it = st.values.find(std::string(key, key_len));
  if (it == st.values.end()) return 0;
  *out = copy_out(it->second);
  *out_len = it->second.size();
  return *out == nullptr ? -1 : 1;
}

template <int N>
int op_set(const char* key, size_t key_len, const char* value, size_t value_len,
           int expected_state, const char* expected, size_t expected_len) {
  try {
    Store& st = store<N>();
    std::lock_guard<std::mutex> lock(st.mu);
    std::string k(key, key_len);
    auto it = st.values.find(k);
    if (expected_state == 0 && it != st.values.end()) return 0;
    if (expected_state == 1 &&
        (it == st.values.end() || it->second != std::string(expected, expected_len))) {
      return 0;
    }
    st.values[k].assign(value, value_len);
    return 1;
  } catch (const std::bad_alloc&) {
    return -1;
  }
}

template <int N>
int op_erase(const char* key, size_t key_len) {
  Store& st = store<N>();
  std::lock_guard<std::mutex> lock(st.mu);
  return st.values.erase(std::string(key, key_len)) ? 1 : 0;
}

template <int N>
int64_t op_add(const char* key, size_t key_len, int64_t delta, int* ok) {
  try {
    Store& st = store<N>();
    std::lock_guard<std::mutex> lock(st.mu);
    int64_t& v = st.counters[std::string(key, key_len)];
    v = static_cast<int64_t>(static_cast<uint64_t>(v) + static_cast<uint64_t>(delta));
    *ok = 1;
    return v;
  } catch (const std::bad_alloc&) {
    *ok = 0;
    return 0;
  }
}

template <int N>
int op_keys(int counters, char** out, size_t* out_len) {
  try {
    Store& st = store<N>();
    std::lock_guard<std::mutex> lock(st.mu);
    std::string all;
    if (counters) {
      for (const auto& kv : st.counters) all.append(kv.first).push_back('\0');
    } else {
      for (const auto& kv : st.values) all.append(kv.first).push_back('\0');
    }
    *out = copy_out(all);
    *out_len = all.size();
    return *out == nullptr ? -1 : 0;
  } catch (const std::bad_alloc&) {
    return -1;
  }
}

template <int N>
void op_clear() {
  Store& st = store<N>();
  std::lock_guard<std::mutex> lock(st.mu);
  st.values.clear();
  st.counters.clear();
}

const pyext_shared_ops* op_space(int which);

template <int N>
constexpr pyext_shared_ops ops_of() {
  return {op_get<N>, op_set<N>, op_erase<N>, op_add<N>, op_keys<N>, op_clear<N>, op_space};
}

const pyext_shared_ops kSpaces[PYEXT_SPACES] = {ops_of<PYEXT_SPACE_SHARED>(),
                                                ops_of<PYEXT_SPACE_RUNTIME>(),
                                                ops_of<PYEXT_SPACE_ROUTE_CONFIGS>()};

const pyext_shared_ops* op_space(int which) {
  return which >= 0 && which < PYEXT_SPACES ? &kSpaces[which] : nullptr;
}

const pyext_shared_ops* g_ops = &kSpaces[PYEXT_SPACE_SHARED];

}  // namespace

extern "C" const pyext_shared_ops* pyext_shared(void) { return g_ops; }

extern "C" void pyext_shared_use(const pyext_shared_ops* ops) { g_ops = ops; }
