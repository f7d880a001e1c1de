// envoy-pyext: Apache-2.0
//
// Our own declarations of the part of Envoy's dynamic-module C ABI ("v0.2.0", Envoy 1.40) that
// envoy-pyext uses. Written from the documented ABI facts (docs/design.md, "The ABI subset"),
// not copied from Envoy. Names and types are spelled exactly as Envoy spells them so that every
// call site can be grepped against Envoy's documentation.
//
// Hooks (envoy_dynamic_module_on_*) are exported by libpyfilter.so; callbacks
// (envoy_dynamic_module_callback_*) are exported by the Envoy executable and stay undefined in
// our shared object.
//
// PYEXT_ENVOY_CALLBACKS below is THE list of Envoy callbacks the project uses.
// tests/unit/test_abi_symbols.py checks against it: the declarations in this header and in
// src/envoy_pyext/includes/abi.pxd, the start-up check (cpp/module.cc), the fake host
// (tests/fakehost/fakehost.cc), the call sites in the Cython core and cpp/, and the exports of
// the pinned Envoy binary (`nm -D --defined-only`). It also checks every enum value below
// against the numbers verified on Envoy 1.40.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PYEXT_ENVOY_ABI_VERSION "v0.2.0"

// Callbacks are declared weak: inside Envoy they bind to the executable's exports as usual;
// in a plain Python process (unit tests with the fake host, `import envoy_pyext` for tooling)
// the extension still loads and the addresses read as NULL. program_init checks that every
// callback on PYEXT_ENVOY_CALLBACKS resolved before it reports success.
#define PYEXT_WEAK __attribute__((weak))

#ifdef __cplusplus
extern "C" {
#endif

// ---- buffers and headers ------------------------------------------------------------------
typedef struct envoy_dynamic_module_type_envoy_buffer {
  const char* ptr;  // OWNERSHIP: Envoy; valid until the end of the current hook.
  size_t length;
} envoy_dynamic_module_type_envoy_buffer;

typedef struct envoy_dynamic_module_type_module_buffer {
  const char* ptr;  // OWNERSHIP: module; Envoy reads it only during the call.
  size_t length;
} envoy_dynamic_module_type_module_buffer;

typedef struct envoy_dynamic_module_type_module_http_header {
  const char* key_ptr;
  size_t key_length;
  const char* value_ptr;
  size_t value_length;
} envoy_dynamic_module_type_module_http_header;

typedef struct envoy_dynamic_module_type_envoy_http_header {
  const char* key_ptr;
  size_t key_length;
  const char* value_ptr;
  size_t value_length;
} envoy_dynamic_module_type_envoy_http_header;

// ---- opaque pointers ---------------------------------------------------------------------
typedef void* envoy_dynamic_module_type_http_filter_envoy_ptr;
typedef const void* envoy_dynamic_module_type_http_filter_module_ptr;
typedef void* envoy_dynamic_module_type_http_filter_config_envoy_ptr;
typedef const void* envoy_dynamic_module_type_http_filter_config_module_ptr;
typedef const void* envoy_dynamic_module_type_http_filter_per_route_config_module_ptr;
typedef void* envoy_dynamic_module_type_http_filter_scheduler_module_ptr;
typedef void* envoy_dynamic_module_type_span_envoy_ptr;         // OWNERSHIP: Envoy (the stream's)
typedef void* envoy_dynamic_module_type_child_span_module_ptr;  // OWNERSHIP: module, until finish

// ---- enums (numeric values verified against the 1.40.0 binary) ----------------------------
typedef enum envoy_dynamic_module_type_http_header_type {
  envoy_dynamic_module_type_http_header_type_RequestHeader = 0,
  envoy_dynamic_module_type_http_header_type_RequestTrailer = 1,
  envoy_dynamic_module_type_http_header_type_ResponseHeader = 2,
  envoy_dynamic_module_type_http_header_type_ResponseTrailer = 3,
} envoy_dynamic_module_type_http_header_type;

typedef enum envoy_dynamic_module_type_http_body_type {
  envoy_dynamic_module_type_http_body_type_ReceivedRequestBody = 0,
  envoy_dynamic_module_type_http_body_type_BufferedRequestBody = 1,
  envoy_dynamic_module_type_http_body_type_ReceivedResponseBody = 2,
  envoy_dynamic_module_type_http_body_type_BufferedResponseBody = 3,
} envoy_dynamic_module_type_http_body_type;

typedef enum envoy_dynamic_module_type_log_level {
  envoy_dynamic_module_type_log_level_Trace = 0,
  envoy_dynamic_module_type_log_level_Debug = 1,
  envoy_dynamic_module_type_log_level_Info = 2,
  envoy_dynamic_module_type_log_level_Warn = 3,
  envoy_dynamic_module_type_log_level_Error = 4,
  envoy_dynamic_module_type_log_level_Critical = 5,
  envoy_dynamic_module_type_log_level_Off = 6,
} envoy_dynamic_module_type_log_level;

typedef enum envoy_dynamic_module_type_metrics_result {
  envoy_dynamic_module_type_metrics_result_Success = 0,
  envoy_dynamic_module_type_metrics_result_MetricNotFound = 1,
  envoy_dynamic_module_type_metrics_result_InvalidLabels = 2,
  envoy_dynamic_module_type_metrics_result_Frozen = 3,
} envoy_dynamic_module_type_metrics_result;

typedef enum envoy_dynamic_module_type_http_filter_stream_reset_reason {
  envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalReset = 0,
  envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalRefusedStreamReset = 1,
} envoy_dynamic_module_type_http_filter_stream_reset_reason;

// Hook return statuses. Headers mirror FilterHeadersStatus, bodies FilterDataStatus.
typedef enum envoy_dynamic_module_type_on_http_filter_request_headers_status {
  envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration = 1,
  envoy_dynamic_module_type_on_http_filter_request_headers_status_ContinueAndDontEndStream = 2,
  envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndBuffer = 3,
  envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndWatermark = 4,
} envoy_dynamic_module_type_on_http_filter_request_headers_status;
typedef enum envoy_dynamic_module_type_on_http_filter_request_body_status {
  envoy_dynamic_module_type_on_http_filter_request_body_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer = 1,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndWatermark = 2,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer = 3,
} envoy_dynamic_module_type_on_http_filter_request_body_status;
typedef enum envoy_dynamic_module_type_on_http_filter_request_trailers_status {
  envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration = 1,
} envoy_dynamic_module_type_on_http_filter_request_trailers_status;
typedef enum envoy_dynamic_module_type_on_http_filter_response_headers_status {
  envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_response_headers_status_StopIteration = 1,
  envoy_dynamic_module_type_on_http_filter_response_headers_status_ContinueAndDontEndStream = 2,
  envoy_dynamic_module_type_on_http_filter_response_headers_status_StopAllIterationAndBuffer = 3,
  envoy_dynamic_module_type_on_http_filter_response_headers_status_StopAllIterationAndWatermark = 4,
} envoy_dynamic_module_type_on_http_filter_response_headers_status;
typedef enum envoy_dynamic_module_type_on_http_filter_response_body_status {
  envoy_dynamic_module_type_on_http_filter_response_body_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationAndBuffer = 1,
  envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationAndWatermark = 2,
  envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationNoBuffer = 3,
} envoy_dynamic_module_type_on_http_filter_response_body_status;
typedef enum envoy_dynamic_module_type_on_http_filter_response_trailers_status {
  envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_response_trailers_status_StopIteration = 1,
} envoy_dynamic_module_type_on_http_filter_response_trailers_status;
// Returned by on_http_filter_local_reply: Continue sends the local reply, ContinueAndResetStream
// resets the stream instead.
typedef enum envoy_dynamic_module_type_on_http_filter_local_reply_status {
  envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_local_reply_status_ContinueAndResetStream = 1,
} envoy_dynamic_module_type_on_http_filter_local_reply_status;

// In the signatures of the callout hooks (stubs in cpp/http_filter.cc for now).
typedef enum envoy_dynamic_module_type_http_callout_result {
  envoy_dynamic_module_type_http_callout_result_Success = 0,
  envoy_dynamic_module_type_http_callout_result_Reset = 1,
  envoy_dynamic_module_type_http_callout_result_ExceedResponseBufferLimit = 2,
} envoy_dynamic_module_type_http_callout_result;
typedef enum envoy_dynamic_module_type_http_callout_init_result {
  envoy_dynamic_module_type_http_callout_init_result_Success = 0,
  envoy_dynamic_module_type_http_callout_init_result_MissingRequiredHeaders = 1,
  envoy_dynamic_module_type_http_callout_init_result_ClusterNotFound = 2,
  envoy_dynamic_module_type_http_callout_init_result_DuplicateCalloutId = 3,
  envoy_dynamic_module_type_http_callout_init_result_CannotCreateRequest = 4,
} envoy_dynamic_module_type_http_callout_init_result;
typedef enum envoy_dynamic_module_type_http_stream_reset_reason {
  envoy_dynamic_module_type_http_stream_reset_reason_ConnectionFailure = 0,
  envoy_dynamic_module_type_http_stream_reset_reason_ConnectionTermination = 1,
  envoy_dynamic_module_type_http_stream_reset_reason_LocalReset = 2,
  envoy_dynamic_module_type_http_stream_reset_reason_LocalRefusedStreamReset = 3,
  envoy_dynamic_module_type_http_stream_reset_reason_Overflow = 4,
  envoy_dynamic_module_type_http_stream_reset_reason_RemoteReset = 5,
  envoy_dynamic_module_type_http_stream_reset_reason_RemoteRefusedStreamReset = 6,
  envoy_dynamic_module_type_http_stream_reset_reason_ProtocolError = 7,
} envoy_dynamic_module_type_http_stream_reset_reason;

// ---- the Envoy context (stream info, metadata, filter state) ------------------------------
// Envoy's attributes (CEL names: request.path, source.address, xds.route_name, ...), read with
// http_filter_get_attribute_{string,int,bool}; not every id answers every getter.
typedef enum envoy_dynamic_module_type_attribute_id {
  envoy_dynamic_module_type_attribute_id_RequestPath = 0,
  envoy_dynamic_module_type_attribute_id_RequestUrlPath = 1,
  envoy_dynamic_module_type_attribute_id_RequestHost = 2,
  envoy_dynamic_module_type_attribute_id_RequestScheme = 3,
  envoy_dynamic_module_type_attribute_id_RequestMethod = 4,
  envoy_dynamic_module_type_attribute_id_RequestHeaders = 5,
  envoy_dynamic_module_type_attribute_id_RequestReferer = 6,
  envoy_dynamic_module_type_attribute_id_RequestUserAgent = 7,
  envoy_dynamic_module_type_attribute_id_RequestTime = 8,
  envoy_dynamic_module_type_attribute_id_RequestId = 9,
  envoy_dynamic_module_type_attribute_id_RequestProtocol = 10,
  envoy_dynamic_module_type_attribute_id_RequestQuery = 11,
  envoy_dynamic_module_type_attribute_id_RequestDuration = 12,
  envoy_dynamic_module_type_attribute_id_RequestSize = 13,
  envoy_dynamic_module_type_attribute_id_RequestTotalSize = 14,
  envoy_dynamic_module_type_attribute_id_ResponseCode = 15,
  envoy_dynamic_module_type_attribute_id_ResponseCodeDetails = 16,
  envoy_dynamic_module_type_attribute_id_ResponseFlags = 17,
  envoy_dynamic_module_type_attribute_id_ResponseGrpcStatus = 18,
  envoy_dynamic_module_type_attribute_id_ResponseHeaders = 19,
  envoy_dynamic_module_type_attribute_id_ResponseTrailers = 20,
  envoy_dynamic_module_type_attribute_id_ResponseSize = 21,
  envoy_dynamic_module_type_attribute_id_ResponseTotalSize = 22,
  envoy_dynamic_module_type_attribute_id_ResponseBackendLatency = 23,
  envoy_dynamic_module_type_attribute_id_SourceAddress = 24,
  envoy_dynamic_module_type_attribute_id_SourcePort = 25,
  envoy_dynamic_module_type_attribute_id_DestinationAddress = 26,
  envoy_dynamic_module_type_attribute_id_DestinationPort = 27,
  envoy_dynamic_module_type_attribute_id_ConnectionId = 28,
  envoy_dynamic_module_type_attribute_id_ConnectionMtls = 29,
  envoy_dynamic_module_type_attribute_id_ConnectionRequestedServerName = 30,
  envoy_dynamic_module_type_attribute_id_ConnectionTlsVersion = 31,
  envoy_dynamic_module_type_attribute_id_ConnectionSubjectLocalCertificate = 32,
  envoy_dynamic_module_type_attribute_id_ConnectionSubjectPeerCertificate = 33,
  envoy_dynamic_module_type_attribute_id_ConnectionDnsSanLocalCertificate = 34,
  envoy_dynamic_module_type_attribute_id_ConnectionDnsSanPeerCertificate = 35,
  envoy_dynamic_module_type_attribute_id_ConnectionUriSanLocalCertificate = 36,
  envoy_dynamic_module_type_attribute_id_ConnectionUriSanPeerCertificate = 37,
  envoy_dynamic_module_type_attribute_id_ConnectionSha256PeerCertificateDigest = 38,
  envoy_dynamic_module_type_attribute_id_ConnectionTransportFailureReason = 39,
  envoy_dynamic_module_type_attribute_id_ConnectionTerminationDetails = 40,
  envoy_dynamic_module_type_attribute_id_UpstreamAddress = 41,
  envoy_dynamic_module_type_attribute_id_UpstreamPort = 42,
  envoy_dynamic_module_type_attribute_id_UpstreamTlsVersion = 43,
  envoy_dynamic_module_type_attribute_id_UpstreamSubjectLocalCertificate = 44,
  envoy_dynamic_module_type_attribute_id_UpstreamSubjectPeerCertificate = 45,
  envoy_dynamic_module_type_attribute_id_UpstreamDnsSanLocalCertificate = 46,
  envoy_dynamic_module_type_attribute_id_UpstreamDnsSanPeerCertificate = 47,
  envoy_dynamic_module_type_attribute_id_UpstreamUriSanLocalCertificate = 48,
  envoy_dynamic_module_type_attribute_id_UpstreamUriSanPeerCertificate = 49,
  envoy_dynamic_module_type_attribute_id_UpstreamSha256PeerCertificateDigest = 50,
  envoy_dynamic_module_type_attribute_id_UpstreamLocalAddress = 51,
  envoy_dynamic_module_type_attribute_id_UpstreamTransportFailureReason = 52,
  envoy_dynamic_module_type_attribute_id_UpstreamRequestAttemptCount = 53,
  envoy_dynamic_module_type_attribute_id_UpstreamCxPoolReadyDuration = 54,
  envoy_dynamic_module_type_attribute_id_UpstreamLocality = 55,
  envoy_dynamic_module_type_attribute_id_XdsNode = 56,
  envoy_dynamic_module_type_attribute_id_XdsClusterName = 57,
  envoy_dynamic_module_type_attribute_id_XdsClusterMetadata = 58,
  envoy_dynamic_module_type_attribute_id_XdsListenerDirection = 59,
  envoy_dynamic_module_type_attribute_id_XdsListenerMetadata = 60,
  envoy_dynamic_module_type_attribute_id_XdsRouteName = 61,
  envoy_dynamic_module_type_attribute_id_XdsRouteMetadata = 62,
  envoy_dynamic_module_type_attribute_id_XdsVirtualHostName = 63,
  envoy_dynamic_module_type_attribute_id_XdsVirtualHostMetadata = 64,
  envoy_dynamic_module_type_attribute_id_XdsUpstreamHostMetadata = 65,
  envoy_dynamic_module_type_attribute_id_XdsFilterChainName = 66,
  envoy_dynamic_module_type_attribute_id_HealthCheck = 67,
  envoy_dynamic_module_type_attribute_id_UpstreamRequestedServerName = 68,
  envoy_dynamic_module_type_attribute_id_XdsVirtualClusterName = 69,
} envoy_dynamic_module_type_attribute_id;
// Where http_get_metadata_* read: the stream's dynamic metadata, or the route's/cluster's/host's.
typedef enum envoy_dynamic_module_type_metadata_source {
  envoy_dynamic_module_type_metadata_source_Dynamic = 0,
  envoy_dynamic_module_type_metadata_source_Route = 1,
  envoy_dynamic_module_type_metadata_source_Cluster = 2,
  envoy_dynamic_module_type_metadata_source_Host = 3,
  envoy_dynamic_module_type_metadata_source_HostLocality = 4,
} envoy_dynamic_module_type_metadata_source;
// How long a filter state entry lives.
typedef enum envoy_dynamic_module_type_filter_state_life_span {
  envoy_dynamic_module_type_filter_state_life_span_FilterChain = 0,
  envoy_dynamic_module_type_filter_state_life_span_Request = 1,
  envoy_dynamic_module_type_filter_state_life_span_Connection = 2,
} envoy_dynamic_module_type_filter_state_life_span;

// http_get_timing_info fills this. Not in the reference header copy: the layout was measured on
// the 1.40.0 binary (disassembly of the callback): 19 int64 nanosecond values, then one
// presence flag per value, 176 bytes in all (Envoy writes every byte of it). Value 0 is the
// stream's start as Unix time; the others are offsets from the start, -1 when absent. We read
// value 0 (start) and value 17 (request complete: the stream's duration, once it ended).
typedef struct pyext_timing_info {
  int64_t ns[19];
  bool has[19];
  uint8_t reserved[5];
} pyext_timing_info;
enum { PYEXT_TIMING_START = 0, PYEXT_TIMING_REQUEST_COMPLETE = 17 };

// ---- THE list of Envoy callbacks envoy-pyext uses ----------------------------------------
// One X(name) per callback that the code (the Cython core or cpp/) calls, nothing more: the
// start-up check in cpp/module.cc requires exactly these, so a module built against this list
// loads in any Envoy that exports them. To use a new callback:
//   1. add its X(...) line here and its PYEXT_WEAK declaration below;
//   2. declare it in src/envoy_pyext/includes/abi.pxd (same spelling, same signature);
//   3. implement it in tests/fakehost/fakehost.cc (a stub will do if no unit test needs it).
// tests/unit/test_abi_symbols.py fails until all four agree and the pinned Envoy exports it.
#define PYEXT_ENVOY_CALLBACKS(X)                                                                   \
  /* Process-wide. */                                                                              \
  X(envoy_dynamic_module_callback_log_v2)                                                          \
  X(envoy_dynamic_module_callback_get_log_level)                                                   \
  /* Headers and trailers. */                                                                      \
  X(envoy_dynamic_module_callback_http_get_header)                                                 \
  X(envoy_dynamic_module_callback_http_get_headers_size)                                           \
  X(envoy_dynamic_module_callback_http_get_headers)                                                \
  X(envoy_dynamic_module_callback_http_set_header)                                                 \
  X(envoy_dynamic_module_callback_http_add_header)                                                 \
  /* Bodies. */                                                                                    \
  X(envoy_dynamic_module_callback_http_get_body_size)                                              \
  X(envoy_dynamic_module_callback_http_get_body_chunks_size)                                       \
  X(envoy_dynamic_module_callback_http_get_body_chunks)                                            \
  X(envoy_dynamic_module_callback_http_append_body)                                                \
  X(envoy_dynamic_module_callback_http_drain_body)                                                 \
  X(envoy_dynamic_module_callback_http_received_buffered_request_body)                             \
  X(envoy_dynamic_module_callback_http_received_buffered_response_body)                            \
  /* Replies, flow control, stream control. */                                                     \
  X(envoy_dynamic_module_callback_http_send_response)                                              \
  X(envoy_dynamic_module_callback_http_filter_continue_decoding)                                   \
  X(envoy_dynamic_module_callback_http_filter_continue_encoding)                                   \
  X(envoy_dynamic_module_callback_http_filter_reset_stream)                                        \
  X(envoy_dynamic_module_callback_http_get_buffer_limit)                                           \
  X(envoy_dynamic_module_callback_http_set_buffer_limit)                                           \
  X(envoy_dynamic_module_callback_http_filter_get_worker_index)                                    \
  /* Scheduler. */                                                                                 \
  X(envoy_dynamic_module_callback_http_filter_scheduler_new)                                       \
  X(envoy_dynamic_module_callback_http_filter_scheduler_commit)                                    \
  X(envoy_dynamic_module_callback_http_filter_scheduler_delete)                                    \
  /* Calls to other services through Envoy's clusters (callouts, streamed). */                    \
  X(envoy_dynamic_module_callback_http_filter_start_http_stream)                                   \
  X(envoy_dynamic_module_callback_http_filter_reset_http_stream)                                   \
  X(envoy_dynamic_module_callback_http_stream_send_data)                                           \
  X(envoy_dynamic_module_callback_http_stream_send_trailers)                                       \
  /* Config-level (main thread): scheduler and calls not tied to a request. */                    \
  X(envoy_dynamic_module_callback_http_filter_config_scheduler_new)                                \
  X(envoy_dynamic_module_callback_http_filter_config_scheduler_commit)                             \
  X(envoy_dynamic_module_callback_http_filter_config_scheduler_delete)                             \
  X(envoy_dynamic_module_callback_http_filter_config_start_http_stream)                            \
  X(envoy_dynamic_module_callback_http_filter_config_reset_http_stream)                            \
  X(envoy_dynamic_module_callback_is_validation_mode)                                              \
  /* Metrics. */                                                                                   \
  X(envoy_dynamic_module_callback_http_filter_config_define_counter)                               \
  X(envoy_dynamic_module_callback_http_filter_config_increment_counter)                            \
  X(envoy_dynamic_module_callback_http_filter_config_define_gauge)                                 \
  X(envoy_dynamic_module_callback_http_filter_config_define_histogram)                             \
  X(envoy_dynamic_module_callback_http_filter_increment_counter)                                   \
  X(envoy_dynamic_module_callback_http_filter_increment_gauge)                                     \
  X(envoy_dynamic_module_callback_http_filter_decrement_gauge)                                     \
  X(envoy_dynamic_module_callback_http_filter_set_gauge)                                           \
  X(envoy_dynamic_module_callback_http_filter_record_histogram_value)                              \
  X(envoy_dynamic_module_callback_http_filter_config_increment_gauge)                              \
  X(envoy_dynamic_module_callback_http_filter_config_decrement_gauge)                              \
  X(envoy_dynamic_module_callback_http_filter_config_set_gauge)                                    \
  X(envoy_dynamic_module_callback_http_filter_config_record_histogram_value)                       \
  /* Stream info and attributes. */                                                               \
  X(envoy_dynamic_module_callback_http_filter_get_attribute_string)                                \
  X(envoy_dynamic_module_callback_http_filter_get_attribute_int)                                   \
  X(envoy_dynamic_module_callback_http_filter_get_attribute_bool)                                  \
  X(envoy_dynamic_module_callback_http_get_timing_info)                                            \
  X(envoy_dynamic_module_callback_http_get_downstream_direct_remote_address)                       \
  X(envoy_dynamic_module_callback_http_get_upstream_remote_address)                                \
  X(envoy_dynamic_module_callback_http_get_upstream_hosts_attempted_size)                          \
  X(envoy_dynamic_module_callback_http_get_upstream_hosts_attempted)                               \
  /* Metadata. */                                                                                 \
  X(envoy_dynamic_module_callback_http_get_metadata_string)                                        \
  X(envoy_dynamic_module_callback_http_get_metadata_number)                                        \
  X(envoy_dynamic_module_callback_http_get_metadata_bool)                                          \
  X(envoy_dynamic_module_callback_http_get_metadata_list_size)                                     \
  X(envoy_dynamic_module_callback_http_get_metadata_list_string)                                   \
  X(envoy_dynamic_module_callback_http_get_metadata_list_number)                                   \
  X(envoy_dynamic_module_callback_http_get_metadata_list_bool)                                     \
  X(envoy_dynamic_module_callback_http_get_metadata_namespaces_count)                              \
  X(envoy_dynamic_module_callback_http_get_metadata_namespaces)                                    \
  X(envoy_dynamic_module_callback_http_get_metadata_keys_count)                                    \
  X(envoy_dynamic_module_callback_http_get_metadata_keys)                                          \
  X(envoy_dynamic_module_callback_http_set_dynamic_metadata_string)                                \
  X(envoy_dynamic_module_callback_http_set_dynamic_metadata_number)                                \
  X(envoy_dynamic_module_callback_http_set_dynamic_metadata_bool)                                  \
  X(envoy_dynamic_module_callback_http_set_dynamic_metadata_struct)                                \
  /* Filter state. */                                                                             \
  X(envoy_dynamic_module_callback_http_set_filter_state_value)                                     \
  X(envoy_dynamic_module_callback_http_get_filter_state_bytes)                                     \
  X(envoy_dynamic_module_callback_http_has_filter_state)                                           \
  X(envoy_dynamic_module_callback_http_set_filter_state_object)                                    \
  X(envoy_dynamic_module_callback_http_get_filter_state_object)                                    \
  /* Routing. */                                                                                  \
  X(envoy_dynamic_module_callback_http_clear_route_cache)                                          \
  X(envoy_dynamic_module_callback_http_set_upstream_override_host)                                 \
  X(envoy_dynamic_module_callback_http_add_custom_flag)                                            \
  X(envoy_dynamic_module_callback_get_most_specific_route_config)                                  \
  /* Stream control. */                                                                             \
  X(envoy_dynamic_module_callback_http_filter_send_go_away_and_close)                               \
  X(envoy_dynamic_module_callback_http_filter_recreate_stream)                                      \
  /* Tracing. */                                                                                    \
  X(envoy_dynamic_module_callback_http_get_active_span)                                             \
  X(envoy_dynamic_module_callback_http_span_set_tag)                                                \
  X(envoy_dynamic_module_callback_http_span_set_operation)                                          \
  X(envoy_dynamic_module_callback_http_span_log)                                                    \
  X(envoy_dynamic_module_callback_http_span_set_sampled)                                            \
  X(envoy_dynamic_module_callback_http_span_get_baggage)                                            \
  X(envoy_dynamic_module_callback_http_span_set_baggage)                                            \
  X(envoy_dynamic_module_callback_http_span_get_trace_id)                                           \
  X(envoy_dynamic_module_callback_http_span_get_span_id)                                            \
  X(envoy_dynamic_module_callback_http_span_spawn_child)                                            \
  X(envoy_dynamic_module_callback_http_child_span_finish)                                           \
  /* Secrets and runtime values. */                                                                 \
  X(envoy_dynamic_module_callback_http_filter_config_generic_secret_subscribe)                      \
  X(envoy_dynamic_module_callback_http_filter_get_generic_secret)                                   \
  X(envoy_dynamic_module_callback_get_runtime_bool)                                                 \
  X(envoy_dynamic_module_callback_get_runtime_int)                                                  \
  X(envoy_dynamic_module_callback_get_runtime_number)                                               \
  /* end of list */

// ---- callbacks (exported by Envoy) -------------------------------------------------------
// Process-wide.
PYEXT_WEAK void envoy_dynamic_module_callback_log_v2(envoy_dynamic_module_type_log_level level,
                                          envoy_dynamic_module_type_module_buffer message,
                                          envoy_dynamic_module_type_module_buffer source_file,
                                          uint32_t line);
PYEXT_WEAK envoy_dynamic_module_type_log_level envoy_dynamic_module_callback_get_log_level(void);

// Headers and trailers.
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_envoy_buffer* result,
    size_t index, size_t* optional_size);
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_get_headers_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_envoy_http_header* result_headers);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_set_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_add_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value);

// Bodies.
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_get_body_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type);
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_get_body_chunks_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_body_chunks(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type,
    envoy_dynamic_module_type_envoy_buffer* result_buffer_vector);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_append_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type,
    envoy_dynamic_module_type_module_buffer data);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_drain_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type, size_t number_of_bytes);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_received_buffered_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_received_buffered_response_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);

// Replies, flow control, stream control.
PYEXT_WEAK void envoy_dynamic_module_callback_http_send_response(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint32_t status_code,
    envoy_dynamic_module_type_module_http_header* headers_vector, size_t headers_vector_size,
    envoy_dynamic_module_type_module_buffer body, envoy_dynamic_module_type_module_buffer details);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_continue_decoding(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_continue_encoding(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_reset_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_filter_stream_reset_reason reason,
    envoy_dynamic_module_type_module_buffer details);
PYEXT_WEAK uint64_t envoy_dynamic_module_callback_http_get_buffer_limit(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK void envoy_dynamic_module_callback_http_set_buffer_limit(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t limit);
PYEXT_WEAK uint32_t envoy_dynamic_module_callback_http_filter_get_worker_index(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);

// Scheduler: commit is the only call that is safe from any thread.
PYEXT_WEAK envoy_dynamic_module_type_http_filter_scheduler_module_ptr
envoy_dynamic_module_callback_http_filter_scheduler_new(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_scheduler_commit(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler, uint64_t event_id);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_scheduler_delete(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler);

// Callouts (streamed; a unary call is a stream with end_stream=true). Events arrive through
// the on_http_filter_http_stream_* hooks on the stream's worker.
PYEXT_WEAK envoy_dynamic_module_type_http_callout_init_result
envoy_dynamic_module_callback_http_filter_start_http_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t* stream_id_out,
    envoy_dynamic_module_type_module_buffer cluster_name,
    envoy_dynamic_module_type_module_http_header* headers, size_t headers_size,
    envoy_dynamic_module_type_module_buffer body, bool end_stream, uint64_t timeout_milliseconds);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_reset_http_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t stream_id);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_stream_send_data(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t stream_id,
    envoy_dynamic_module_type_module_buffer data, bool end_stream);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_stream_send_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t stream_id,
    envoy_dynamic_module_type_module_http_header* trailers, size_t trailers_size);
// Config-level: a scheduler whose events arrive on Envoy's main thread
// (on_http_filter_config_scheduled), and calls not tied to a request (events through the
// on_http_filter_config_http_stream_* hooks, on the main thread).
typedef void* envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr;
PYEXT_WEAK envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr
envoy_dynamic_module_callback_http_filter_config_scheduler_new(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
    envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr scheduler, uint64_t event_id);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
    envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr scheduler);
PYEXT_WEAK envoy_dynamic_module_type_http_callout_init_result
envoy_dynamic_module_callback_http_filter_config_start_http_stream(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, uint64_t* stream_id_out,
    envoy_dynamic_module_type_module_buffer cluster_name,
    envoy_dynamic_module_type_module_http_header* headers, size_t headers_size,
    envoy_dynamic_module_type_module_buffer body, bool end_stream, uint64_t timeout_milliseconds);
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_config_reset_http_stream(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, uint64_t stream_id);
PYEXT_WEAK bool envoy_dynamic_module_callback_is_validation_mode(void);

// Metrics.
PYEXT_WEAK envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
    envoy_dynamic_module_type_module_buffer name,
    envoy_dynamic_module_type_module_buffer* label_names, size_t label_names_length,
    size_t* counter_id_ptr);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_increment_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);

// Stream info and attributes (worker thread, during a hook). Strings point into Envoy's memory,
// valid until the hook returns. The address getters below are not in the reference header
// copy; their signatures were read off the 1.40.0 binary: (filter, envoy_buffer* out) -> found,
// the address as "ip:port".
PYEXT_WEAK bool envoy_dynamic_module_callback_http_filter_get_attribute_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_attribute_id attribute_id,
    envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_filter_get_attribute_int(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_attribute_id attribute_id, uint64_t* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_filter_get_attribute_bool(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_attribute_id attribute_id, bool* result);
PYEXT_WEAK void envoy_dynamic_module_callback_http_get_timing_info(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, pyext_timing_info* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_downstream_direct_remote_address(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_upstream_remote_address(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_envoy_buffer* result);
// Every upstream host tried so far (retries): size, then that many "ip:port" buffers.
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_get_upstream_hosts_attempted_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_upstream_hosts_attempted(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_envoy_buffer* result);

// Metadata. Getters read `source` (the stream's dynamic metadata, or the route's, cluster's,
// host's); each reads one type and logs an error (and returns false) when the value has
// another. Setters write the stream's dynamic metadata. The struct setter merges a serialized
// google.protobuf.Struct into the namespace.
#define PYEXT_METADATA_KEY                                                                        \
  envoy_dynamic_module_type_http_filter_envoy_ptr filter,                                         \
      envoy_dynamic_module_type_metadata_source source,                                           \
      envoy_dynamic_module_type_module_buffer metadata_namespace,                                 \
      envoy_dynamic_module_type_module_buffer key
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_string(
    PYEXT_METADATA_KEY, envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_number(PYEXT_METADATA_KEY,
                                                                        double* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_bool(PYEXT_METADATA_KEY,
                                                                      bool* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_list_size(PYEXT_METADATA_KEY,
                                                                           size_t* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_list_string(
    PYEXT_METADATA_KEY, size_t index, envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_list_number(
    PYEXT_METADATA_KEY, size_t index, double* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_list_bool(
    PYEXT_METADATA_KEY, size_t index, bool* result);
#undef PYEXT_METADATA_KEY
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_get_metadata_namespaces_count(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_metadata_source source);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_namespaces(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_metadata_source source,
    envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_get_metadata_keys_count(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_metadata_source source,
    envoy_dynamic_module_type_module_buffer metadata_namespace);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_metadata_keys(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_metadata_source source,
    envoy_dynamic_module_type_module_buffer metadata_namespace,
    envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK void envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer metadata_namespace,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value);
PYEXT_WEAK void envoy_dynamic_module_callback_http_set_dynamic_metadata_number(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer metadata_namespace,
    envoy_dynamic_module_type_module_buffer key, double value);
PYEXT_WEAK void envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer metadata_namespace,
    envoy_dynamic_module_type_module_buffer key, bool value);
PYEXT_WEAK void envoy_dynamic_module_callback_http_set_dynamic_metadata_struct(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer metadata_namespace,
    envoy_dynamic_module_type_module_buffer serialized_struct);

// Filter state. set_filter_state_value and has_filter_state are not in the reference header
// copy; their signatures were read off the 1.40.0 binary. set_filter_state_value takes the life
// span and Envoy's StreamSharing (None=0, SharedWithUpstreamConnection=1,
// SharedWithUpstreamConnectionOnce=2) and stores the bytes as a string accessor (what
// %FILTER_STATE(key:PLAIN)% prints).
PYEXT_WEAK bool envoy_dynamic_module_callback_http_set_filter_state_value(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value,
    envoy_dynamic_module_type_filter_state_life_span life_span, uint32_t stream_sharing);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_get_filter_state_bytes(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_has_filter_state(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer key);
// An object owned by Envoy from then on: Envoy calls `destructor` exactly once (on the worker,
// also when the set fails). get_filter_state_object borrows it back (NULL: none).
PYEXT_WEAK bool envoy_dynamic_module_callback_http_set_filter_state_object(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer key, void* object, void (*destructor)(void*),
    envoy_dynamic_module_type_filter_state_life_span life_span);
PYEXT_WEAK void* envoy_dynamic_module_callback_http_get_filter_state_object(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer key);

// User metrics (envoy_pyext.Counter/Gauge/Histogram). Defined in config_new (main thread) like
// the error counter above; the per-stream calls on the stream's worker during a hook, the
// config-level ones on any Envoy thread (they look labelled stats up in thread-local caches).
// The number of label values must equal the number of label names.
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_define_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
    envoy_dynamic_module_type_module_buffer name,
    envoy_dynamic_module_type_module_buffer* label_names, size_t label_names_length,
    size_t* id_ptr);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_define_histogram(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
    envoy_dynamic_module_type_module_buffer name,
    envoy_dynamic_module_type_module_buffer* label_names, size_t label_names_length,
    size_t* id_ptr);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_increment_counter(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_increment_gauge(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_decrement_gauge(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_set_gauge(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_record_histogram_value(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_increment_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_set_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);
PYEXT_WEAK envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_record_histogram_value(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
    uint64_t value);

// Routing (request path, worker, during a hook). set_upstream_override_host returns false for
// an address it cannot parse; its bool return was read off the 1.40.0 binary.
PYEXT_WEAK void envoy_dynamic_module_callback_http_clear_route_cache(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_set_upstream_override_host(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer host, bool strict);
// A response-flag-style marker for the access log (%CUSTOM_FLAGS%); no whitespace.
PYEXT_WEAK void envoy_dynamic_module_callback_http_add_custom_flag(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_buffer flag);

// The per-route config (typed_per_filter_config: DynamicModuleFilterPerRoute) that applies to
// the stream's route, as our per_route_config_new returned it, or NULL. Envoy 1.40 hands over
// the most specific one only (route over virtual host), never the ones it would override.
PYEXT_WEAK envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_callback_get_most_specific_route_config(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);

// Stream control (worker, during a hook). recreate_stream: Envoy's internal redirect of a
// request that has ended without a body; `headers` are response headers recorded for the
// access log (NULL, 0: none); false when Envoy refuses. Signatures read off the 1.40.0 binary.
PYEXT_WEAK void envoy_dynamic_module_callback_http_filter_send_go_away_and_close(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, bool graceful);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_filter_recreate_stream(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_module_http_header* headers, size_t headers_size);

// Tracing (worker, during a hook). get_active_span is NULL when the stream is not traced.
// Strings returned through envoy_buffer live in Envoy's thread-local storage until the next
// tracing call on the thread: copy them at once. A child span is the module's until finish.
PYEXT_WEAK envoy_dynamic_module_type_span_envoy_ptr envoy_dynamic_module_callback_http_get_active_span(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
PYEXT_WEAK void envoy_dynamic_module_callback_http_span_set_tag(
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer key,
    envoy_dynamic_module_type_module_buffer value);
PYEXT_WEAK void envoy_dynamic_module_callback_http_span_set_operation(
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer operation);
PYEXT_WEAK void envoy_dynamic_module_callback_http_span_log(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer event);
PYEXT_WEAK void envoy_dynamic_module_callback_http_span_set_sampled(
    envoy_dynamic_module_type_span_envoy_ptr span, bool sampled);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_span_get_baggage(
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer key,
    envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK void envoy_dynamic_module_callback_http_span_set_baggage(
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer key,
    envoy_dynamic_module_type_module_buffer value);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_span_get_trace_id(
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_span_get_span_id(
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_envoy_buffer* result);
PYEXT_WEAK envoy_dynamic_module_type_child_span_module_ptr
envoy_dynamic_module_callback_http_span_spawn_child(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer name);
PYEXT_WEAK void envoy_dynamic_module_callback_http_child_span_finish(
    envoy_dynamic_module_type_child_span_module_ptr span);

// Generic secrets (SDS). subscribe: main thread, inside config_new only; `sds_config_json` is
// a config.core.v3.ConfigSource as JSON; returns the secret's id (1, 2, ...), 0 on error.
// get: worker, during a hook; false while the secret was not delivered.
PYEXT_WEAK size_t envoy_dynamic_module_callback_http_filter_config_generic_secret_subscribe(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
    envoy_dynamic_module_type_module_buffer name,
    envoy_dynamic_module_type_module_buffer sds_config_json);
PYEXT_WEAK bool envoy_dynamic_module_callback_http_filter_get_generic_secret(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
    envoy_dynamic_module_type_envoy_buffer* result);

// Runtime values (layered_runtime). Safe from any thread, but on Envoy 1.40 only the main
// thread sees the real values: elsewhere they return `default_value` (measured).
PYEXT_WEAK bool envoy_dynamic_module_callback_get_runtime_bool(
    envoy_dynamic_module_type_module_buffer key, bool default_value);
PYEXT_WEAK uint64_t envoy_dynamic_module_callback_get_runtime_int(
    envoy_dynamic_module_type_module_buffer key, uint64_t default_value);
PYEXT_WEAK double envoy_dynamic_module_callback_get_runtime_number(
    envoy_dynamic_module_type_module_buffer key, double default_value);

#ifdef __cplusplus
}  // extern "C"
#endif
