# StreamInfo: what Envoy knows about a stream (self.stream_info, streaminfo.pxi), and
# Filter.get_property's attribute table.
# THREAD: the stream's worker inside a hook reads Envoy directly; while a hook of the stream is
# pending, reads are served from the snapshot the pending hook's _Shadow took when the work left
# the worker (_info_snapshot).
cdef class StreamInfo:
    cdef _Stream _st

    @staticmethod
    cdef StreamInfo new(_Stream st)

cdef class TlsInfo:
    cdef readonly object sni, version, peer_certificate_presented, peer_certificate_validated
    cdef readonly object peer_subject, peer_uri_sans, peer_dns_sans
    cdef readonly object sha256_peer_certificate_digest, local_subject

cdef dict _info_snapshot(_Stream st)
cdef object _get_property(_Stream st, str path, object default)
