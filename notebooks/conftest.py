"""Under the tests a missed target fails its notebook (in a notebook it only prints).
DNN1 and DNN8 are the notebooks the JAX job runs (``-m backends``)."""

import os

import pytest

os.environ.setdefault("DNNSTEPS_STRICT", "1")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name.startswith(("DNN1_", "DNN8_")):
            item.add_marker(pytest.mark.backends)
