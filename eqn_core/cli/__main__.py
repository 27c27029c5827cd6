"""`python -m eqn_core.cli`: the same as `eqn`."""
import sys

from eqn_core.cli.main import main

sys.exit(main())
