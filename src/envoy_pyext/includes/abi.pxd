# envoy-pyext: Apache-2.0
#
# Cython view of cpp/include/envoy_abi.h: the subset of Envoy's dynamic-module ABI we use, names
# unchanged so call sites read like Envoy's documentation. The header is the source of truth:
# the callbacks here are exactly its PYEXT_ENVOY_CALLBACKS list, the enums exactly its enums
# (tests/unit/test_abi_symbols.py).
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp cimport bool as cbool


cdef extern from "envoy_abi.h" nogil:
    ctypedef struct envoy_dynamic_module_type_envoy_buffer:
        const char* ptr
        size_t length

    ctypedef struct envoy_dynamic_module_type_module_buffer:
        const char* ptr
        size_t length

    ctypedef struct envoy_dynamic_module_type_module_http_header:
        const char* key_ptr
        size_t key_length
        const char* value_ptr
        size_t value_length

    ctypedef struct envoy_dynamic_module_type_envoy_http_header:
        const char* key_ptr
        size_t key_length
        const char* value_ptr
        size_t value_length

    ctypedef void* envoy_dynamic_module_type_http_filter_envoy_ptr
    ctypedef void* envoy_dynamic_module_type_http_filter_config_envoy_ptr
    ctypedef void* envoy_dynamic_module_type_http_filter_scheduler_module_ptr
    ctypedef const void* envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
    ctypedef void* envoy_dynamic_module_type_span_envoy_ptr
    ctypedef void* envoy_dynamic_module_type_child_span_module_ptr

    # Every enum of envoy_abi.h, every member, in the header's order: use these names, never
    # the numbers (tests/unit/test_abi_symbols.py keeps this mirror exact).
    ctypedef enum envoy_dynamic_module_type_http_header_type:
        envoy_dynamic_module_type_http_header_type_RequestHeader
        envoy_dynamic_module_type_http_header_type_RequestTrailer
        envoy_dynamic_module_type_http_header_type_ResponseHeader
        envoy_dynamic_module_type_http_header_type_ResponseTrailer
    ctypedef enum envoy_dynamic_module_type_http_body_type:
        envoy_dynamic_module_type_http_body_type_ReceivedRequestBody
        envoy_dynamic_module_type_http_body_type_BufferedRequestBody
        envoy_dynamic_module_type_http_body_type_ReceivedResponseBody
        envoy_dynamic_module_type_http_body_type_BufferedResponseBody
    ctypedef enum envoy_dynamic_module_type_log_level:
        envoy_dynamic_module_type_log_level_Trace
        envoy_dynamic_module_type_log_level_Debug
        envoy_dynamic_module_type_log_level_Info
        envoy_dynamic_module_type_log_level_Warn
        envoy_dynamic_module_type_log_level_Error
        envoy_dynamic_module_type_log_level_Critical
        envoy_dynamic_module_type_log_level_Off
    ctypedef enum envoy_dynamic_module_type_metrics_result:
        envoy_dynamic_module_type_metrics_result_Success
        envoy_dynamic_module_type_metrics_result_MetricNotFound
        envoy_dynamic_module_type_metrics_result_InvalidLabels
        envoy_dynamic_module_type_metrics_result_Frozen
    ctypedef enum envoy_dynamic_module_type_http_filter_stream_reset_reason:
        envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalReset
        envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalRefusedStreamReset
    ctypedef enum envoy_dynamic_module_type_on_http_filter_request_headers_status:
        envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue
        envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration
        envoy_dynamic_module_type_on_http_filter_request_headers_status_ContinueAndDontEndStream
        envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndBuffer
        envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndWatermark
    ctypedef enum envoy_dynamic_module_type_on_http_filter_request_body_status:
        envoy_dynamic_module_type_on_http_filter_request_body_status_Continue
        envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer
        envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndWatermark
        envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer
    ctypedef enum envoy_dynamic_module_type_on_http_filter_request_trailers_status:
        envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue
        envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration
    ctypedef enum envoy_dynamic_module_type_on_http_filter_response_headers_status:
        envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue
        envoy_dynamic_module_type_on_http_filter_response_headers_status_StopIteration
        envoy_dynamic_module_type_on_http_filter_response_headers_status_ContinueAndDontEndStream
        envoy_dynamic_module_type_on_http_filter_response_headers_status_StopAllIterationAndBuffer
        envoy_dynamic_module_type_on_http_filter_response_headers_status_StopAllIterationAndWatermark
    ctypedef enum envoy_dynamic_module_type_on_http_filter_response_body_status:
        envoy_dynamic_module_type_on_http_filter_response_body_status_Continue
        envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationAndBuffer
        envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationAndWatermark
        envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationNoBuffer
    ctypedef enum envoy_dynamic_module_type_on_http_filter_response_trailers_status:
        envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue
        envoy_dynamic_module_type_on_http_filter_response_trailers_status_StopIteration
    ctypedef enum envoy_dynamic_module_type_on_http_filter_local_reply_status:
        envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue
        envoy_dynamic_module_type_on_http_filter_local_reply_status_ContinueAndResetStream
    ctypedef enum envoy_dynamic_module_type_http_callout_init_result:
        envoy_dynamic_module_type_http_callout_init_result_Success
        envoy_dynamic_module_type_http_callout_init_result_MissingRequiredHeaders
        envoy_dynamic_module_type_http_callout_init_result_ClusterNotFound
        envoy_dynamic_module_type_http_callout_init_result_DuplicateCalloutId
        envoy_dynamic_module_type_http_callout_init_result_CannotCreateRequest
    ctypedef enum envoy_dynamic_module_type_http_callout_result:
        envoy_dynamic_module_type_http_callout_result_Success
        envoy_dynamic_module_type_http_callout_result_Reset
        envoy_dynamic_module_type_http_callout_result_ExceedResponseBufferLimit
    ctypedef enum envoy_dynamic_module_type_http_stream_reset_reason:
        envoy_dynamic_module_type_http_stream_reset_reason_ConnectionFailure
        envoy_dynamic_module_type_http_stream_reset_reason_ConnectionTermination
        envoy_dynamic_module_type_http_stream_reset_reason_LocalReset
        envoy_dynamic_module_type_http_stream_reset_reason_LocalRefusedStreamReset
        envoy_dynamic_module_type_http_stream_reset_reason_Overflow
        envoy_dynamic_module_type_http_stream_reset_reason_RemoteReset
        envoy_dynamic_module_type_http_stream_reset_reason_RemoteRefusedStreamReset
        envoy_dynamic_module_type_http_stream_reset_reason_ProtocolError

    ctypedef enum envoy_dynamic_module_type_attribute_id:
        envoy_dynamic_module_type_attribute_id_RequestPath
        envoy_dynamic_module_type_attribute_id_RequestUrlPath
        envoy_dynamic_module_type_attribute_id_RequestHost
        envoy_dynamic_module_type_attribute_id_RequestScheme
        envoy_dynamic_module_type_attribute_id_RequestMethod
        envoy_dynamic_module_type_attribute_id_RequestHeaders
        envoy_dynamic_module_type_attribute_id_RequestReferer
        envoy_dynamic_module_type_attribute_id_RequestUserAgent
        envoy_dynamic_module_type_attribute_id_RequestTime
        envoy_dynamic_module_type_attribute_id_RequestId
        envoy_dynamic_module_type_attribute_id_RequestProtocol
        envoy_dynamic_module_type_attribute_id_RequestQuery
        envoy_dynamic_module_type_attribute_id_RequestDuration
        envoy_dynamic_module_type_attribute_id_RequestSize
        envoy_dynamic_module_type_attribute_id_RequestTotalSize
        envoy_dynamic_module_type_attribute_id_ResponseCode
        envoy_dynamic_module_type_attribute_id_ResponseCodeDetails
        envoy_dynamic_module_type_attribute_id_ResponseFlags
        envoy_dynamic_module_type_attribute_id_ResponseGrpcStatus
        envoy_dynamic_module_type_attribute_id_ResponseHeaders
        envoy_dynamic_module_type_attribute_id_ResponseTrailers
        envoy_dynamic_module_type_attribute_id_ResponseSize
        envoy_dynamic_module_type_attribute_id_ResponseTotalSize
        envoy_dynamic_module_type_attribute_id_ResponseBackendLatency
        envoy_dynamic_module_type_attribute_id_SourceAddress
        envoy_dynamic_module_type_attribute_id_SourcePort
        envoy_dynamic_module_type_attribute_id_DestinationAddress
        envoy_dynamic_module_type_attribute_id_DestinationPort
        envoy_dynamic_module_type_attribute_id_ConnectionId
        envoy_dynamic_module_type_attribute_id_ConnectionMtls
        envoy_dynamic_module_type_attribute_id_ConnectionRequestedServerName
        envoy_dynamic_module_type_attribute_id_ConnectionTlsVersion
        envoy_dynamic_module_type_attribute_id_ConnectionSubjectLocalCertificate
        envoy_dynamic_module_type_attribute_id_ConnectionSubjectPeerCertificate
        envoy_dynamic_module_type_attribute_id_ConnectionDnsSanLocalCertificate
        envoy_dynamic_module_type_attribute_id_ConnectionDnsSanPeerCertificate
        envoy_dynamic_module_type_attribute_id_ConnectionUriSanLocalCertificate
        envoy_dynamic_module_type_attribute_id_ConnectionUriSanPeerCertificate
        envoy_dynamic_module_type_attribute_id_ConnectionSha256PeerCertificateDigest
        envoy_dynamic_module_type_attribute_id_ConnectionTransportFailureReason
        envoy_dynamic_module_type_attribute_id_ConnectionTerminationDetails
        envoy_dynamic_module_type_attribute_id_UpstreamAddress
        envoy_dynamic_module_type_attribute_id_UpstreamPort
        envoy_dynamic_module_type_attribute_id_UpstreamTlsVersion
        envoy_dynamic_module_type_attribute_id_UpstreamSubjectLocalCertificate
        envoy_dynamic_module_type_attribute_id_UpstreamSubjectPeerCertificate
        envoy_dynamic_module_type_attribute_id_UpstreamDnsSanLocalCertificate
        envoy_dynamic_module_type_attribute_id_UpstreamDnsSanPeerCertificate
        envoy_dynamic_module_type_attribute_id_UpstreamUriSanLocalCertificate
        envoy_dynamic_module_type_attribute_id_UpstreamUriSanPeerCertificate
        envoy_dynamic_module_type_attribute_id_UpstreamSha256PeerCertificateDigest
        envoy_dynamic_module_type_attribute_id_UpstreamLocalAddress
        envoy_dynamic_module_type_attribute_id_UpstreamTransportFailureReason
        envoy_dynamic_module_type_attribute_id_UpstreamRequestAttemptCount
        envoy_dynamic_module_type_attribute_id_UpstreamCxPoolReadyDuration
        envoy_dynamic_module_type_attribute_id_UpstreamLocality
        envoy_dynamic_module_type_attribute_id_XdsNode
        envoy_dynamic_module_type_attribute_id_XdsClusterName
        envoy_dynamic_module_type_attribute_id_XdsClusterMetadata
        envoy_dynamic_module_type_attribute_id_XdsListenerDirection
        envoy_dynamic_module_type_attribute_id_XdsListenerMetadata
        envoy_dynamic_module_type_attribute_id_XdsRouteName
        envoy_dynamic_module_type_attribute_id_XdsRouteMetadata
        envoy_dynamic_module_type_attribute_id_XdsVirtualHostName
        envoy_dynamic_module_type_attribute_id_XdsVirtualHostMetadata
        envoy_dynamic_module_type_attribute_id_XdsUpstreamHostMetadata
        envoy_dynamic_module_type_attribute_id_XdsFilterChainName
        envoy_dynamic_module_type_attribute_id_HealthCheck
        envoy_dynamic_module_type_attribute_id_UpstreamRequestedServerName
        envoy_dynamic_module_type_attribute_id_XdsVirtualClusterName
    ctypedef enum envoy_dynamic_module_type_metadata_source:
        envoy_dynamic_module_type_metadata_source_Dynamic
        envoy_dynamic_module_type_metadata_source_Route
        envoy_dynamic_module_type_metadata_source_Cluster
        envoy_dynamic_module_type_metadata_source_Host
        envoy_dynamic_module_type_metadata_source_HostLocality
    ctypedef enum envoy_dynamic_module_type_filter_state_life_span:
        envoy_dynamic_module_type_filter_state_life_span_FilterChain
        envoy_dynamic_module_type_filter_state_life_span_Request
        envoy_dynamic_module_type_filter_state_life_span_Connection

    ctypedef struct pyext_timing_info:
        int64_t ns[19]
        cbool has[19]
    enum:
        PYEXT_TIMING_START
        PYEXT_TIMING_REQUEST_COMPLETE

    void envoy_dynamic_module_callback_log_v2(
        envoy_dynamic_module_type_log_level level,
        envoy_dynamic_module_type_module_buffer message,
        envoy_dynamic_module_type_module_buffer source_file, uint32_t line)
    envoy_dynamic_module_type_log_level envoy_dynamic_module_callback_get_log_level()

    bint envoy_dynamic_module_callback_http_get_header(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_header_type header_type,
        envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_envoy_buffer* result, size_t index, size_t* optional_size)
    size_t envoy_dynamic_module_callback_http_get_headers_size(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_header_type header_type)
    bint envoy_dynamic_module_callback_http_get_headers(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_header_type header_type,
        envoy_dynamic_module_type_envoy_http_header* result_headers)
    bint envoy_dynamic_module_callback_http_set_header(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_header_type header_type,
        envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_module_buffer value)
    bint envoy_dynamic_module_callback_http_add_header(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_header_type header_type,
        envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_module_buffer value)

    size_t envoy_dynamic_module_callback_http_get_body_size(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_body_type body_type)
    size_t envoy_dynamic_module_callback_http_get_body_chunks_size(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_body_type body_type)
    bint envoy_dynamic_module_callback_http_get_body_chunks(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_body_type body_type,
        envoy_dynamic_module_type_envoy_buffer* result_buffer_vector)
    bint envoy_dynamic_module_callback_http_append_body(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_body_type body_type,
        envoy_dynamic_module_type_module_buffer data)
    bint envoy_dynamic_module_callback_http_drain_body(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_body_type body_type, size_t number_of_bytes)
    bint envoy_dynamic_module_callback_http_received_buffered_request_body(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    bint envoy_dynamic_module_callback_http_received_buffered_response_body(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)

    void envoy_dynamic_module_callback_http_send_response(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint32_t status_code,
        envoy_dynamic_module_type_module_http_header* headers_vector, size_t headers_vector_size,
        envoy_dynamic_module_type_module_buffer body,
        envoy_dynamic_module_type_module_buffer details)
    void envoy_dynamic_module_callback_http_filter_continue_decoding(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    void envoy_dynamic_module_callback_http_filter_continue_encoding(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    void envoy_dynamic_module_callback_http_filter_reset_stream(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_http_filter_stream_reset_reason reason,
        envoy_dynamic_module_type_module_buffer details)
    uint64_t envoy_dynamic_module_callback_http_get_buffer_limit(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    void envoy_dynamic_module_callback_http_set_buffer_limit(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t limit)
    uint32_t envoy_dynamic_module_callback_http_filter_get_worker_index(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)

    envoy_dynamic_module_type_http_filter_scheduler_module_ptr \
        envoy_dynamic_module_callback_http_filter_scheduler_new(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    void envoy_dynamic_module_callback_http_filter_scheduler_commit(
        envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler, uint64_t event_id)
    void envoy_dynamic_module_callback_http_filter_scheduler_delete(
        envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler)

    envoy_dynamic_module_type_http_callout_init_result \
        envoy_dynamic_module_callback_http_filter_start_http_stream(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t* stream_id_out,
            envoy_dynamic_module_type_module_buffer cluster_name,
            envoy_dynamic_module_type_module_http_header* headers, size_t headers_size,
            envoy_dynamic_module_type_module_buffer body, bint end_stream,
            uint64_t timeout_milliseconds)
    void envoy_dynamic_module_callback_http_filter_reset_http_stream(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t stream_id)
    bint envoy_dynamic_module_callback_http_stream_send_data(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t stream_id,
        envoy_dynamic_module_type_module_buffer data, bint end_stream)
    bint envoy_dynamic_module_callback_http_stream_send_trailers(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint64_t stream_id,
        envoy_dynamic_module_type_module_http_header* trailers, size_t trailers_size)

    ctypedef void* envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr
    envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr \
        envoy_dynamic_module_callback_http_filter_config_scheduler_new(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config)
    void envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr scheduler,
        uint64_t event_id)
    void envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
        envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr scheduler)
    envoy_dynamic_module_type_http_callout_init_result \
        envoy_dynamic_module_callback_http_filter_config_start_http_stream(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
            uint64_t* stream_id_out, envoy_dynamic_module_type_module_buffer cluster_name,
            envoy_dynamic_module_type_module_http_header* headers, size_t headers_size,
            envoy_dynamic_module_type_module_buffer body, bint end_stream,
            uint64_t timeout_milliseconds)
    void envoy_dynamic_module_callback_http_filter_config_reset_http_stream(
        envoy_dynamic_module_type_http_filter_config_envoy_ptr config, uint64_t stream_id)
    bint envoy_dynamic_module_callback_is_validation_mode()

    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_define_counter(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
            envoy_dynamic_module_type_module_buffer name,
            envoy_dynamic_module_type_module_buffer* label_names, size_t label_names_length,
            size_t* counter_id_ptr)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_increment_counter(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)

    bint envoy_dynamic_module_callback_http_filter_get_attribute_string(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_attribute_id attribute_id,
        envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_http_filter_get_attribute_int(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_attribute_id attribute_id, uint64_t* result)
    bint envoy_dynamic_module_callback_http_filter_get_attribute_bool(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_attribute_id attribute_id, cbool* result)
    void envoy_dynamic_module_callback_http_get_timing_info(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, pyext_timing_info* result)
    bint envoy_dynamic_module_callback_http_get_downstream_direct_remote_address(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_http_get_upstream_remote_address(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_envoy_buffer* result)
    size_t envoy_dynamic_module_callback_http_get_upstream_hosts_attempted_size(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    bint envoy_dynamic_module_callback_http_get_upstream_hosts_attempted(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_envoy_buffer* result)

    bint envoy_dynamic_module_callback_http_get_metadata_string(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_http_get_metadata_number(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, double* result)
    bint envoy_dynamic_module_callback_http_get_metadata_bool(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, cbool* result)
    bint envoy_dynamic_module_callback_http_get_metadata_list_size(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, size_t* result)
    bint envoy_dynamic_module_callback_http_get_metadata_list_string(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, size_t index,
        envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_http_get_metadata_list_number(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, size_t index, double* result)
    bint envoy_dynamic_module_callback_http_get_metadata_list_bool(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, size_t index, cbool* result)
    size_t envoy_dynamic_module_callback_http_get_metadata_namespaces_count(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source)
    bint envoy_dynamic_module_callback_http_get_metadata_namespaces(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_envoy_buffer* result)
    size_t envoy_dynamic_module_callback_http_get_metadata_keys_count(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace)
    bint envoy_dynamic_module_callback_http_get_metadata_keys(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_metadata_source source,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_envoy_buffer* result)
    void envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_module_buffer value)
    void envoy_dynamic_module_callback_http_set_dynamic_metadata_number(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, double value)
    void envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer key, cbool value)
    void envoy_dynamic_module_callback_http_set_dynamic_metadata_struct(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer metadata_namespace,
        envoy_dynamic_module_type_module_buffer serialized_struct)

    bint envoy_dynamic_module_callback_http_set_filter_state_value(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_module_buffer value,
        envoy_dynamic_module_type_filter_state_life_span life_span, uint32_t stream_sharing)
    bint envoy_dynamic_module_callback_http_get_filter_state_bytes(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_http_has_filter_state(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer key)
    bint envoy_dynamic_module_callback_http_set_filter_state_object(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer key, void* object,
        void (*destructor)(void*) noexcept nogil,
        envoy_dynamic_module_type_filter_state_life_span life_span)
    void* envoy_dynamic_module_callback_http_get_filter_state_object(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer key)

    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_define_gauge(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
            envoy_dynamic_module_type_module_buffer name,
            envoy_dynamic_module_type_module_buffer* label_names, size_t label_names_length,
            size_t* id_ptr)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_define_histogram(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
            envoy_dynamic_module_type_module_buffer name,
            envoy_dynamic_module_type_module_buffer* label_names, size_t label_names_length,
            size_t* id_ptr)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_increment_counter(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_increment_gauge(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_decrement_gauge(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_set_gauge(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_record_histogram_value(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_increment_gauge(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_set_gauge(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)
    envoy_dynamic_module_type_metrics_result \
        envoy_dynamic_module_callback_http_filter_config_record_histogram_value(
            envoy_dynamic_module_type_http_filter_config_envoy_ptr config, size_t id,
            envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length,
            uint64_t value)

    void envoy_dynamic_module_callback_http_clear_route_cache(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    bint envoy_dynamic_module_callback_http_set_upstream_override_host(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer host, cbool strict)
    void envoy_dynamic_module_callback_http_add_custom_flag(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_buffer flag)

    envoy_dynamic_module_type_http_filter_per_route_config_module_ptr \
        envoy_dynamic_module_callback_get_most_specific_route_config(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter)

    # Stream control, tracing, secrets, runtime values (see envoy_abi.h for the rules).
    void envoy_dynamic_module_callback_http_filter_send_go_away_and_close(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, cbool graceful)
    bint envoy_dynamic_module_callback_http_filter_recreate_stream(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_module_http_header* headers, size_t headers_size)
    envoy_dynamic_module_type_span_envoy_ptr envoy_dynamic_module_callback_http_get_active_span(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter)
    void envoy_dynamic_module_callback_http_span_set_tag(
        envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_module_buffer value)
    void envoy_dynamic_module_callback_http_span_set_operation(
        envoy_dynamic_module_type_span_envoy_ptr span,
        envoy_dynamic_module_type_module_buffer operation)
    void envoy_dynamic_module_callback_http_span_log(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter,
        envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer event)
    void envoy_dynamic_module_callback_http_span_set_sampled(
        envoy_dynamic_module_type_span_envoy_ptr span, cbool sampled)
    bint envoy_dynamic_module_callback_http_span_get_baggage(
        envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_envoy_buffer* result)
    void envoy_dynamic_module_callback_http_span_set_baggage(
        envoy_dynamic_module_type_span_envoy_ptr span, envoy_dynamic_module_type_module_buffer key,
        envoy_dynamic_module_type_module_buffer value)
    bint envoy_dynamic_module_callback_http_span_get_trace_id(
        envoy_dynamic_module_type_span_envoy_ptr span,
        envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_http_span_get_span_id(
        envoy_dynamic_module_type_span_envoy_ptr span,
        envoy_dynamic_module_type_envoy_buffer* result)
    envoy_dynamic_module_type_child_span_module_ptr \
        envoy_dynamic_module_callback_http_span_spawn_child(
            envoy_dynamic_module_type_http_filter_envoy_ptr filter,
            envoy_dynamic_module_type_span_envoy_ptr span,
            envoy_dynamic_module_type_module_buffer name)
    void envoy_dynamic_module_callback_http_child_span_finish(
        envoy_dynamic_module_type_child_span_module_ptr span)
    size_t envoy_dynamic_module_callback_http_filter_config_generic_secret_subscribe(
        envoy_dynamic_module_type_http_filter_config_envoy_ptr config,
        envoy_dynamic_module_type_module_buffer name,
        envoy_dynamic_module_type_module_buffer sds_config_json)
    bint envoy_dynamic_module_callback_http_filter_get_generic_secret(
        envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id,
        envoy_dynamic_module_type_envoy_buffer* result)
    bint envoy_dynamic_module_callback_get_runtime_bool(
        envoy_dynamic_module_type_module_buffer key, cbool default_value)
    uint64_t envoy_dynamic_module_callback_get_runtime_int(
        envoy_dynamic_module_type_module_buffer key, uint64_t default_value)
    double envoy_dynamic_module_callback_get_runtime_number(
        envoy_dynamic_module_type_module_buffer key, double default_value)
