"""The runnable examples in the public modules' docstrings (the Python API, the registry) run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["backends.api", "backends.registry", "playground.escape"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see the output)"
