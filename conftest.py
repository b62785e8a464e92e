"""Test setup for everything ``pytest tests notebooks`` collects, the notebooks included.

Under the tests a missed target fails its notebook (in a notebook it only prints).
DNN1 and DNN8 are the notebooks the JAX job runs (``-m backends``).
"""

import os

import pytest

os.environ.setdefault("DNNSTEPS_STRICT", "1")

BACKEND_NOTEBOOKS = ("DNN1_", "DNN8_")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".ipynb" and item.path.name.startswith(BACKEND_NOTEBOOKS):
            item.add_marker(pytest.mark.backends)
