// envoy-pyext: Apache-2.0
//
// The store behind envoy_pyext.shared (cpp/include/pyext_shared.h): two maps under one mutex.
#include "pyext_shared.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>

namespace {

std::mutex g_mu;
std::map<std::string, std::string>* g_values = nullptr;   // never freed: Envoy never unloads us
std::map<std::string, int64_t>* g_counters = nullptr;

void ensure() {
  if (g_values == nullptr) g_values = new std::map<std::string, std::string>();
  if (g_counters == nullptr) g_counters = new std::map<std::string, int64_t>();
}

char* copy_out(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.data(), s.size());
  return p;
}

int op_get(const char* key, size_t key_len, char** out, size_t* out_len) {
  std::lock_guard<std::mutex> lock(g_mu);
  ensure();
  auto it = g_values->find(std::string(key, key_len));
  if (it == g_values->end()) return 0;
  *out = copy_out(it->second);
  *out_len = it->second.size();
  return *out == nullptr ? -1 : 1;
}

int op_set(const char* key, size_t key_len, const char* value, size_t value_len,
           int expected_state, const char* expected, size_t expected_len) {
  try {
    std::lock_guard<std::mutex> lock(g_mu);
    ensure();
    std::string k(key, key_len);
    auto it = g_values->find(k);
    if (expected_state == 0 && it != g_values->end()) return 0;
    if (expected_state == 1 &&
        (it == g_values->end() || it->second != std::string(expected, expected_len))) {
      return 0;
    }
    (*g_values)[k].assign(value, value_len);
    return 1;
  } catch (const std::bad_alloc&) {
    return -1;
  }
}

int op_erase(const char* key, size_t key_len) {
  std::lock_guard<std::mutex> lock(g_mu);
  ensure();
  return g_values->erase(std::string(key, key_len)) ? 1 : 0;
}

int64_t op_add(const char* key, size_t key_len, int64_t delta, int* ok) {
  try {
    std::lock_guard<std::mutex> lock(g_mu);
    ensure();
    int64_t& v = (*g_counters)[std::string(key, key_len)];
    v = static_cast<int64_t>(static_cast<uint64_t>(v) + static_cast<uint64_t>(delta));
    *ok = 1;
    return v;
  } catch (const std::bad_alloc&) {
    *ok = 0;
    return 0;
  }
}

int op_keys(int counters, char** out, size_t* out_len) {
  try {
    std::lock_guard<std::mutex> lock(g_mu);
    ensure();
    std::string all;
    if (counters) {
      for (const auto& kv : *g_counters) all.append(kv.first).push_back('\0');
    } else {
      for (const auto& kv : *g_values) all.append(kv.first).push_back('\0');
    }
    *out = copy_out(all);
    *out_len = all.size();
    return *out == nullptr ? -1 : 0;
  } catch (const std::bad_alloc&) {
    return -1;
  }
}

void op_clear() {
  std::lock_guard<std::mutex> lock(g_mu);
  ensure();
  g_values->clear();
  g_counters->clear();
}

const pyext_shared_ops kOwnStore = {op_get, op_set, op_erase, op_add, op_keys, op_clear};
const pyext_shared_ops* g_ops = &kOwnStore;

}  // namespace

extern "C" const pyext_shared_ops* pyext_shared(void) { return g_ops; }

extern "C" void pyext_shared_use(const pyext_shared_ops* ops) { g_ops = ops; }
