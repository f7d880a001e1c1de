"""One table of scenarios run through FilterTester (tests/unit/test_semantics_tester.py) and
through the real Envoy (tests/integration/test_semantics_envoy.py): both must give the
table's outcome."""
