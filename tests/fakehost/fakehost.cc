// envoy-pyext: Apache-2.0
//
// A fake Envoy for unit tests: an in-memory implementation of the envoy_dynamic_module_callback_*
// symbols envoy-pyext uses, plus fakehost_* controls that tests call through ctypes. It defines
// exactly the callbacks of PYEXT_ENVOY_CALLBACKS (envoy_abi.h; tests/unit/test_abi_symbols.py
// checks), a stub being enough for one no unit test exercises. Loaded RTLD_GLOBAL before
// envoy_pyext._native, so the extension's (weak) callbacks bind here and the production Cython
// code and C++ hooks run against it. Never a stand-in for the real-Envoy tests.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "envoy_abi.h"

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Stream {
  Headers headers[4];
  bool has_map[4] = {true, false, false, false};
  std::vector<std::string> chunks[4];
  int reply_status = 0;
  std::string reply_body;
  Headers reply_headers;
  int resets = 0;
  int continued_decoding = 0;
  int continued_encoding = 0;
  uint64_t buffer_limit = 1 << 20;
  std::vector<uint64_t> commits;
  void* route_config = nullptr;  // what get_most_specific_route_config answers
};

struct LogLine {
  int level;
  std::string message;
};
std::vector<LogLine> g_logs;
size_t g_counters = 0;
uint64_t g_counter_values[64] = {};

std::string lower(const char* p, size_t n) {
  std::string s(p, n);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Stream* S(void* p) { return static_cast<Stream*>(p); }

}  // namespace

extern "C" {

// ---- controls --------------------------------------------------------------------------------
void* fakehost_stream_new() { return new Stream(); }
void fakehost_stream_free(void* s) { delete S(s); }
void fakehost_set_has_map(void* s, int type, int has) { S(s)->has_map[type] = has != 0; }
void fakehost_set_route_config(void* s, void* rc) { S(s)->route_config = rc; }
void fakehost_add_header(void* s, int type, const char* k, size_t kl, const char* v, size_t vl) {
  S(s)->has_map[type] = true;
  S(s)->headers[type].emplace_back(std::string(k, kl), std::string(v, vl));
}
size_t fakehost_header_count(void* s, int type) { return S(s)->headers[type].size(); }
void fakehost_header_at(void* s, int type, size_t i, const char** k, size_t* kl, const char** v,
                        size_t* vl) {
  auto& h = S(s)->headers[type][i];
  *k = h.first.data();
  *kl = h.first.size();
  *v = h.second.data();
  *vl = h.second.size();
}
void fakehost_add_chunk(void* s, int kind, const char* p, size_t n) {
  S(s)->chunks[kind].emplace_back(p, n);
}
size_t fakehost_body_size(void* s, int kind) {
  size_t n = 0;
  for (auto& c : S(s)->chunks[kind]) n += c.size();
  return n;
}
void fakehost_body_copy(void* s, int kind, char* out) {
  for (auto& c : S(s)->chunks[kind]) {
    std::memcpy(out, c.data(), c.size());
    out += c.size();
  }
}
int fakehost_reply_status(void* s) { return S(s)->reply_status; }
const char* fakehost_reply_body(void* s, size_t* n) {
  *n = S(s)->reply_body.size();
  return S(s)->reply_body.data();
}
int fakehost_resets(void* s) { return S(s)->resets; }
int fakehost_continued(void* s, int encoding) {
  return encoding ? S(s)->continued_encoding : S(s)->continued_decoding;
}
size_t fakehost_commit_count(void* s) { return S(s)->commits.size(); }
uint64_t fakehost_commit_at(void* s, size_t i) { return S(s)->commits[i]; }
size_t fakehost_log_count() { return g_logs.size(); }
const char* fakehost_log_at(size_t i, int* level) {
  *level = g_logs[i].level;
  return g_logs[i].message.c_str();
}
void fakehost_log_clear() { g_logs.clear(); }
uint64_t fakehost_counter_value(size_t id) { return id < 64 ? g_counter_values[id] : 0; }

// ---- the callbacks -----------------------------------------------------------------------
void envoy_dynamic_module_callback_log_v2(envoy_dynamic_module_type_log_level level,
                                          envoy_dynamic_module_type_module_buffer message,
                                          envoy_dynamic_module_type_module_buffer,
                                          uint32_t) {
  g_logs.push_back({static_cast<int>(level), std::string(message.ptr, message.length)});
}
envoy_dynamic_module_type_log_level envoy_dynamic_module_callback_get_log_level(void) {
  return envoy_dynamic_module_type_log_level_Debug;
}

bool envoy_dynamic_module_callback_http_get_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_header_type t,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_envoy_buffer* out,
    size_t index, size_t* count) {
  out->ptr = nullptr;
  out->length = 0;
  if (count) *count = 0;
  if (!S(f)->has_map[t]) return false;
  std::string k = lower(key.ptr, key.length);
  size_t seen = 0;
  bool found = false;
  for (auto& h : S(f)->headers[t]) {
    if (h.first != k) continue;
    if (seen == index) {
      out->ptr = h.second.data();
      out->length = h.second.size();
      found = true;
    }
    seen++;
  }
  if (count) *count = seen;
  return found;
}
size_t envoy_dynamic_module_callback_http_get_headers_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_header_type t) {
  return S(f)->has_map[t] ? S(f)->headers[t].size() : 0;
}
bool envoy_dynamic_module_callback_http_get_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_header_type t,
    envoy_dynamic_module_type_envoy_http_header* out) {
  if (!S(f)->has_map[t]) return false;
  size_t i = 0;
  for (auto& h : S(f)->headers[t]) {
    out[i++] = {h.first.data(), h.first.size(), h.second.data(), h.second.size()};
  }
  return true;
}
// Mirrors Envoy 1.40: a NULL or empty value removes; add refuses empty values.
bool envoy_dynamic_module_callback_http_set_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_header_type t,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value) {
  if (!S(f)->has_map[t]) return false;
  std::string k = lower(key.ptr, key.length);
  auto& hs = S(f)->headers[t];
  if (value.ptr == nullptr || value.length == 0) {
    hs.erase(std::remove_if(hs.begin(), hs.end(), [&](auto& h) { return h.first == k; }), hs.end());
    return true;
  }
  auto it = std::find_if(hs.begin(), hs.end(), [&](auto& h) { return h.first == k; });
  if (it == hs.end()) {
    hs.emplace_back(k, std::string(value.ptr, value.length));
  } else {
    it->second.assign(value.ptr, value.length);
    hs.erase(std::remove_if(it + 1, hs.end(), [&](auto& h) { return h.first == k; }), hs.end());
  }
  return true;
}
bool envoy_dynamic_module_callback_http_add_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_header_type t,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value) {
  if (!S(f)->has_map[t] || value.ptr == nullptr || value.length == 0) return false;
  S(f)->headers[t].emplace_back(lower(key.ptr, key.length), std::string(value.ptr, value.length));
  return true;
}

size_t envoy_dynamic_module_callback_http_get_body_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_body_type k) {
  return fakehost_body_size(f, k);
}
size_t envoy_dynamic_module_callback_http_get_body_chunks_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_body_type k) {
  return S(f)->chunks[k].size();
}
bool envoy_dynamic_module_callback_http_get_body_chunks(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_body_type k,
    envoy_dynamic_module_type_envoy_buffer* out) {
  size_t i = 0;
  for (auto& c : S(f)->chunks[k]) out[i++] = {c.data(), c.size()};
  return true;
}
bool envoy_dynamic_module_callback_http_append_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_body_type k,
    envoy_dynamic_module_type_module_buffer data) {
  S(f)->chunks[k].emplace_back(data.ptr, data.length);
  return true;
}
bool envoy_dynamic_module_callback_http_drain_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, envoy_dynamic_module_type_http_body_type k,
    size_t n) {
  auto& cs = S(f)->chunks[k];
  while (n > 0 && !cs.empty()) {
    if (cs.front().size() <= n) {
      n -= cs.front().size();
      cs.erase(cs.begin());
    } else {
      cs.front().erase(0, n);
      n = 0;
    }
  }
  return true;
}
bool envoy_dynamic_module_callback_http_received_buffered_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr) {
  return false;
}
bool envoy_dynamic_module_callback_http_received_buffered_response_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr) {
  return false;
}

void envoy_dynamic_module_callback_http_send_response(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, uint32_t status,
    envoy_dynamic_module_type_module_http_header* headers, size_t n,
    envoy_dynamic_module_type_module_buffer body, envoy_dynamic_module_type_module_buffer) {
  S(f)->reply_status = static_cast<int>(status);
  S(f)->reply_body.assign(body.ptr, body.length);
  for (size_t i = 0; i < n; i++) {
    S(f)->reply_headers.emplace_back(std::string(headers[i].key_ptr, headers[i].key_length),
                                     std::string(headers[i].value_ptr, headers[i].value_length));
  }
}
void envoy_dynamic_module_callback_http_filter_continue_decoding(
    envoy_dynamic_module_type_http_filter_envoy_ptr f) {
  S(f)->continued_decoding++;
}
void envoy_dynamic_module_callback_http_filter_continue_encoding(
    envoy_dynamic_module_type_http_filter_envoy_ptr f) {
  S(f)->continued_encoding++;
}
void envoy_dynamic_module_callback_http_filter_reset_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr f,
    envoy_dynamic_module_type_http_filter_stream_reset_reason,
    envoy_dynamic_module_type_module_buffer) {
  S(f)->resets++;
}
uint64_t envoy_dynamic_module_callback_http_get_buffer_limit(
    envoy_dynamic_module_type_http_filter_envoy_ptr f) {
  return S(f)->buffer_limit;
}
void envoy_dynamic_module_callback_http_set_buffer_limit(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, uint64_t limit) {
  S(f)->buffer_limit = limit;
}
uint32_t envoy_dynamic_module_callback_http_filter_get_worker_index(
    envoy_dynamic_module_type_http_filter_envoy_ptr) {
  return 0;
}

// The scheduler is the stream itself: commits are recorded for the test to deliver.
envoy_dynamic_module_type_http_filter_scheduler_module_ptr
envoy_dynamic_module_callback_http_filter_scheduler_new(
    envoy_dynamic_module_type_http_filter_envoy_ptr f) {
  return f;
}
void envoy_dynamic_module_callback_http_filter_scheduler_commit(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr sched, uint64_t id) {
  S(sched)->commits.push_back(id);
}
void envoy_dynamic_module_callback_http_filter_scheduler_delete(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr) {}

// Callouts: the fake host has no clusters.
envoy_dynamic_module_type_http_callout_init_result
envoy_dynamic_module_callback_http_filter_start_http_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr, uint64_t*, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_http_header*, size_t, envoy_dynamic_module_type_module_buffer, bool,
    uint64_t) {
  return envoy_dynamic_module_type_http_callout_init_result_ClusterNotFound;
}
void envoy_dynamic_module_callback_http_filter_reset_http_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr, uint64_t) {}
bool envoy_dynamic_module_callback_http_stream_send_data(
    envoy_dynamic_module_type_http_filter_envoy_ptr, uint64_t, envoy_dynamic_module_type_module_buffer,
    bool) {
  return false;
}
bool envoy_dynamic_module_callback_http_stream_send_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr, uint64_t,
    envoy_dynamic_module_type_module_http_header*, size_t) {
  return false;
}

// Config-level: no main-thread dispatcher here; calls are refused like unknown clusters.
void* envoy_dynamic_module_callback_http_filter_config_scheduler_new(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr) {
  static int token;
  return &token;
}
void envoy_dynamic_module_callback_http_filter_config_scheduler_commit(void*, uint64_t) {}
void envoy_dynamic_module_callback_http_filter_config_scheduler_delete(void*) {}
envoy_dynamic_module_type_http_callout_init_result
envoy_dynamic_module_callback_http_filter_config_start_http_stream(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, uint64_t*,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_http_header*, size_t,
    envoy_dynamic_module_type_module_buffer, bool, uint64_t) {
  return envoy_dynamic_module_type_http_callout_init_result_ClusterNotFound;
}
void envoy_dynamic_module_callback_http_filter_config_reset_http_stream(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, uint64_t) {}
bool envoy_dynamic_module_callback_is_validation_mode(void) { return false; }

envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer*, size_t, size_t* id) {
  *id = g_counters++ % 64;
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_increment_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, size_t id,
    envoy_dynamic_module_type_module_buffer*, size_t, uint64_t v) {
  g_counter_values[id % 64] += v;
  return envoy_dynamic_module_type_metrics_result_Success;
}


// Stream info: the fake host knows no attributes, no timing, no addresses.
bool envoy_dynamic_module_callback_http_filter_get_attribute_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_attribute_id,
    envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_http_filter_get_attribute_int(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_attribute_id,
    uint64_t*) {
  return false;
}
bool envoy_dynamic_module_callback_http_filter_get_attribute_bool(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_attribute_id, bool*) {
  return false;
}
void envoy_dynamic_module_callback_http_get_timing_info(
    envoy_dynamic_module_type_http_filter_envoy_ptr, pyext_timing_info* out) {
  std::memset(out, 0, sizeof(*out));
}
bool envoy_dynamic_module_callback_http_get_downstream_direct_remote_address(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_upstream_remote_address(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
size_t envoy_dynamic_module_callback_http_get_upstream_hosts_attempted_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr) {
  return 0;
}
bool envoy_dynamic_module_callback_http_get_upstream_hosts_attempted(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}


// Metadata: the fake host has none, and ignores writes.
bool envoy_dynamic_module_callback_http_get_metadata_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_metadata_number(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, double*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_metadata_bool(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, bool*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_metadata_list_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, size_t*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_metadata_list_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, size_t, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_metadata_list_number(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, size_t, double*) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_metadata_list_bool(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer, size_t, bool*) {
  return false;
}
size_t envoy_dynamic_module_callback_http_get_metadata_namespaces_count(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source) {
  return 0;
}
bool envoy_dynamic_module_callback_http_get_metadata_namespaces(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
size_t envoy_dynamic_module_callback_http_get_metadata_keys_count(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer) {
  return 0;
}
bool envoy_dynamic_module_callback_http_get_metadata_keys(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_metadata_source,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
void envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_module_buffer) {}
void envoy_dynamic_module_callback_http_set_dynamic_metadata_number(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer, double) {}
void envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer, bool) {}
void envoy_dynamic_module_callback_http_set_dynamic_metadata_struct(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer) {}


// Filter state: the fake host keeps none (an object handed to it is destroyed at once).
bool envoy_dynamic_module_callback_http_set_filter_state_value(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer, envoy_dynamic_module_type_filter_state_life_span,
    uint32_t) {
  return false;
}
bool envoy_dynamic_module_callback_http_get_filter_state_bytes(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_http_has_filter_state(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer) {
  return false;
}
bool envoy_dynamic_module_callback_http_set_filter_state_object(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    void* object, void (*destructor)(void*), envoy_dynamic_module_type_filter_state_life_span) {
  destructor(object);
  return false;
}
void* envoy_dynamic_module_callback_http_get_filter_state_object(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer) {
  return nullptr;
}


// User metrics: defined like the error counter; updates are ignored.
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer*, size_t, size_t* id) {
  *id = g_counters++ % 64;
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_histogram(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer*, size_t, size_t* id) {
  *id = g_counters++ % 64;
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_increment_counter(
    envoy_dynamic_module_type_http_filter_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_increment_gauge(
    envoy_dynamic_module_type_http_filter_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_decrement_gauge(
    envoy_dynamic_module_type_http_filter_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_set_gauge(
    envoy_dynamic_module_type_http_filter_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_record_histogram_value(
    envoy_dynamic_module_type_http_filter_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_increment_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_set_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_record_histogram_value(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, size_t, envoy_dynamic_module_type_module_buffer*, size_t, uint64_t) {
  return envoy_dynamic_module_type_metrics_result_Success;
}


// Routing: the fake host has no routes.
void envoy_dynamic_module_callback_http_clear_route_cache(
    envoy_dynamic_module_type_http_filter_envoy_ptr) {}
bool envoy_dynamic_module_callback_http_set_upstream_override_host(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    bool) {
  return false;
}
void envoy_dynamic_module_callback_http_add_custom_flag(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_buffer) {}


// Per-route configuration: the one the test set on the stream (fakehost_set_route_config).
envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_callback_get_most_specific_route_config(
    envoy_dynamic_module_type_http_filter_envoy_ptr f) {
  return S(f)->route_config;
}

// Stream control, tracing, secrets, runtime values: the fake host has no connection, no
// tracer, no SDS and no runtime (untraced streams, undelivered secrets, defaults).
void envoy_dynamic_module_callback_http_filter_send_go_away_and_close(
    envoy_dynamic_module_type_http_filter_envoy_ptr f, bool) {
  S(f)->resets++;
}
bool envoy_dynamic_module_callback_http_filter_recreate_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_module_http_header*,
    size_t) {
  return false;
}
envoy_dynamic_module_type_span_envoy_ptr envoy_dynamic_module_callback_http_get_active_span(
    envoy_dynamic_module_type_http_filter_envoy_ptr) {
  return nullptr;
}
void envoy_dynamic_module_callback_http_span_set_tag(envoy_dynamic_module_type_span_envoy_ptr,
                                                     envoy_dynamic_module_type_module_buffer,
                                                     envoy_dynamic_module_type_module_buffer) {}
void envoy_dynamic_module_callback_http_span_set_operation(
    envoy_dynamic_module_type_span_envoy_ptr, envoy_dynamic_module_type_module_buffer) {}
void envoy_dynamic_module_callback_http_span_log(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                 envoy_dynamic_module_type_span_envoy_ptr,
                                                 envoy_dynamic_module_type_module_buffer) {}
void envoy_dynamic_module_callback_http_span_set_sampled(envoy_dynamic_module_type_span_envoy_ptr,
                                                         bool) {}
bool envoy_dynamic_module_callback_http_span_get_baggage(envoy_dynamic_module_type_span_envoy_ptr,
                                                         envoy_dynamic_module_type_module_buffer,
                                                         envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
void envoy_dynamic_module_callback_http_span_set_baggage(envoy_dynamic_module_type_span_envoy_ptr,
                                                         envoy_dynamic_module_type_module_buffer,
                                                         envoy_dynamic_module_type_module_buffer) {}
bool envoy_dynamic_module_callback_http_span_get_trace_id(envoy_dynamic_module_type_span_envoy_ptr,
                                                          envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_http_span_get_span_id(envoy_dynamic_module_type_span_envoy_ptr,
                                                         envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
envoy_dynamic_module_type_child_span_module_ptr envoy_dynamic_module_callback_http_span_spawn_child(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_span_envoy_ptr,
    envoy_dynamic_module_type_module_buffer) {
  return nullptr;
}
void envoy_dynamic_module_callback_http_child_span_finish(
    envoy_dynamic_module_type_child_span_module_ptr) {}
size_t envoy_dynamic_module_callback_http_filter_config_generic_secret_subscribe(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr, envoy_dynamic_module_type_module_buffer,
    envoy_dynamic_module_type_module_buffer) {
  return 0;
}
bool envoy_dynamic_module_callback_http_filter_get_generic_secret(
    envoy_dynamic_module_type_http_filter_envoy_ptr, size_t, envoy_dynamic_module_type_envoy_buffer*) {
  return false;
}
bool envoy_dynamic_module_callback_get_runtime_bool(envoy_dynamic_module_type_module_buffer,
                                                    bool default_value) {
  return default_value;
}
uint64_t envoy_dynamic_module_callback_get_runtime_int(envoy_dynamic_module_type_module_buffer,
                                                       uint64_t default_value) {
  return default_value;
}
double envoy_dynamic_module_callback_get_runtime_number(envoy_dynamic_module_type_module_buffer,
                                                        double default_value) {
  return default_value;
}

}  // extern "C"
