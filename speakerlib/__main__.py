"""``python -m speakerlib`` runs the command line."""

import sys

from speakerlib.cli import main

sys.exit(main())
