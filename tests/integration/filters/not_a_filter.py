class NotAFilter:
    def decode_headers(self, headers, end_stream):
        return None


not_a_class = 42
