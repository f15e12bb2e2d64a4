"""`python -m lstm_music.evaluate`: the evaluation's command line (`run.main`)."""

import sys

from .run import main

sys.exit(main())
