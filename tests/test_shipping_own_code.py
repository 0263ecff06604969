"""The Part A check that a learner's DORA function does not hand the work to tpmlab.shipping."""

from __future__ import annotations

import textwrap

import pytest

import tpmlab
from tpmlab.shipping import dora
from tpmlab.shipping.dora import by_service
from tpmlab.shipping.own_code import package_use_problem, package_use_problem_in_source

CALLS_THE_PACKAGE = {
    "import inside": """
        def f(eng):
            from tpmlab.shipping import dora
            return dora.deployment_frequency(dora.load(eng)[0])""",
    "import as alias": """
        def f(eng):
            import tpmlab.shipping.dora as d
            return d.change_failure_rate(*d.load(eng))""",
    "from tpmlab import shipping": """
        def f(eng):
            from tpmlab import shipping as s
            return s.dora.recovery_time_hours(s.dora.load(eng)[1])""",
    "name imported from it": """
        def f(eng):
            from tpmlab.shipping.dora import by_service, load
            return by_service(*load(eng))["lead_time_h"].to_dict()""",
    "attribute chain from import tpmlab": """
        def f(eng):
            import tpmlab
            return tpmlab.shipping.dora.deployment_frequency(tpmlab.shipping.dora.load(eng)[0])""",
    "import_module string": """
        def f(eng):
            import importlib
            d = importlib.import_module("tpmlab.shipping.dora")
            return d.deployment_frequency(d.load(eng)[0])""",
}


@pytest.mark.parametrize("name", sorted(CALLS_THE_PACKAGE))
def test_a_function_that_uses_the_package_inside_is_refused(name):
    problem = package_use_problem_in_source(textwrap.dedent(CALLS_THE_PACKAGE[name]))
    assert problem is not None and "tpmlab.shipping" in problem, problem


@pytest.mark.parametrize(
    ("source", "namespace"),
    [
        ("def f(eng):\n    return dora.deployment_frequency(dora.load(eng)[0])", {"dora": dora}),
        ("def f(eng):\n    return x.by_service(*x.load(eng))", {"x": dora}),
        ("def f(eng):\n    return bs(*dora.load(eng))", {"bs": by_service, "dora": dora}),
        ("def f(eng):\n    return t.shipping.dora.load(eng)", {"t": tpmlab}),
    ],
)
def test_names_bound_in_the_notebook_count(source, namespace):
    problem = package_use_problem_in_source(source, namespace)
    assert problem is not None and "tpmlab.shipping" in problem, problem


def test_pandas_code_passes_even_when_the_notebook_imported_the_package():
    source = """
        def f(eng):
            d = pd.read_sql("SELECT deployed_at FROM deploys", eng, parse_dates=["deployed_at"])
            days = d["deployed_at"].dt.normalize()
            return len(d) / ((days.max() - days.min()).days + 1)"""
    import pandas as pd

    namespace = {"pd": pd, "dora": dora, "tpmlab": tpmlab, "by_service": by_service}
    assert package_use_problem_in_source(textwrap.dedent(source), namespace) is None
    # tpmlab.data is not tpmlab.shipping
    assert (
        package_use_problem_in_source("def f():\n    return tpmlab.data.engine()", namespace)
        is None
    )


def _helper(eng):
    return dora.load(eng)


def _uses_helper(eng):
    return dora_free(_helper(eng))


def dora_free(tables):
    return len(tables[0])


def _plain(eng):
    return dora_free([eng])


def test_helpers_of_the_notebook_are_followed():
    problem = package_use_problem(_uses_helper)
    assert problem is not None and problem.startswith("calls _helper, which uses dora"), problem
    assert package_use_problem(_plain) is None


def test_only_helpers_of_the_same_module_are_followed():
    # _helper uses the package; seen from a notebook (module __main__) it is a library function
    source = "def f(eng):\n    return g(eng)"
    assert package_use_problem_in_source(source, {"g": _helper}, module="__main__") is None
    problem = package_use_problem_in_source(source, {"g": _helper}, module=_helper.__module__)
    assert problem is not None and problem.startswith("calls g, which uses dora"), problem


def test_a_function_without_source_is_refused_with_what_to_do():
    namespace: dict = {}
    exec("def f(eng):\n    return 1", namespace)  # noqa: S102 - a function with no source file
    assert "define it with `def` in a notebook cell" in package_use_problem(namespace["f"])
