"""``python -m snn.cli``: the ``synaptica`` command line."""

import sys

from snn.cli import main

sys.exit(main())
