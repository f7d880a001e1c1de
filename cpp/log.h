// envoy-pyext: Apache-2.0
//
// Forwards the shim's own (non-Python) failures to Envoy's log, or to stderr when the log
// callback is not there (a plain Python process running the unit tests).
#pragma once

#include <cstdio>
#include <cstring>

#include "envoy_abi.h"

namespace pyext {

inline void log_at(envoy_dynamic_module_type_log_level level, const char* message) {
  if (&envoy_dynamic_module_callback_log_v2 != nullptr) {
    envoy_dynamic_module_type_module_buffer msg{message, std::strlen(message)};
    envoy_dynamic_module_type_module_buffer file{__FILE__, sizeof(__FILE__) - 1};
    envoy_dynamic_module_callback_log_v2(level, msg, file, __LINE__);
  } else {
    std::fprintf(stderr, "%s\n", message);
  }
}

inline void log_error(const char* message) {
  log_at(envoy_dynamic_module_type_log_level_Error, message);
}

}  // namespace pyext
