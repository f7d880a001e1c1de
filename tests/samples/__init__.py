"""Unit tests of every sample in samples/, with envoy_pyext.testing.FilterTester (no Envoy).
tests/integration/test_samples.py runs each sample in the real Envoy."""
