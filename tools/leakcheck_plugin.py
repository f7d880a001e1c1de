# envoy-pyext: Apache-2.0
"""pytest plugin for tools/leakcheck.py (`-p leakcheck_plugin`): under valgrind everything runs
20-50x slower, so Hypothesis's timing health checks and deadlines would fail tests that are
fine; this profile turns them off and draws fewer examples."""

from hypothesis import HealthCheck, settings

settings.register_profile("leakcheck", deadline=None, max_examples=25,
                          suppress_health_check=list(HealthCheck))
settings.load_profile("leakcheck")
