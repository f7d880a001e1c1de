# envoy-pyext: Apache-2.0
"""`python -m envoy_pyext ...`: the envoy-pyext command (envoy_pyext.cli)."""

import sys

from .cli import main

sys.exit(main())
