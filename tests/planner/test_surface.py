"""`import adopt`: a small documented surface that loads no heavy library."""

from __future__ import annotations

import subprocess
import sys

import pytest

import adopt


def test_import_adopt_loads_neither_torch_ray_nor_lightgbm():
    code = ("import sys, adopt; adopt.Planner; adopt.Plan; adopt.PlanSpec; adopt.frequency_cap; "
            "print(sorted(m for m in ('torch', 'ray', 'lightgbm', 'transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_all_is_sorted_and_every_name_resolves_with_a_docstring():
    assert adopt.__all__ == sorted(adopt.__all__)
    for name in adopt.__all__:
        value = getattr(adopt, name)
        assert name == "__version__" or value.__doc__, name
    assert set(adopt.__all__) <= set(dir(adopt))


def test_ingest_is_the_subpackage_and_its_function_is_reachable():
    from adopt.ingest.load import ingest

    assert adopt.ingest.ingest is ingest
    assert "ingest" not in adopt.__all__  # the planner's entry point is Planner.ingest


def test_errors_and_constraint_factories_are_the_library_ones():
    from adopt.exceptions import InputError
    from adopt.optimize.spec import SpendLimit

    assert adopt.InputError is InputError
    assert isinstance(adopt.min_spend("segment", "s1", 10.0), SpendLimit)
    assert isinstance(adopt.ParameterError("x"), ValueError)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="module 'adopt' has no attribute 'Planer'"):
        adopt.Planer  # noqa: B018
