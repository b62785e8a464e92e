"""Under the tests a missed target fails its notebook (in a notebook it only prints)."""

import os

os.environ.setdefault("DNNSTEPS_STRICT", "1")
