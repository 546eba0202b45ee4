"""The catalogue is every fact about a method: each line sets all of them, and nothing outside the
registry lists methods by name."""

import ast
import dataclasses
from pathlib import Path

import pytest

from core.budget import Cost, DenseCost, ProductCost
from core.methods import FAMILIES, REGISTRY, MethodSpec, resolve_options
from core.methods.registry import MATRICES, QUANTITIES, RUNS_IN, register
from core.shapes import Size

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = [f.name for f in dataclasses.fields(MethodSpec) if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_line_sets_every_fact(name):
    spec = REGISTRY[name]
    assert set(REQUIRED) >= {"cost", "runs_in", "gpu", "size_rules", "yields", "family", "reference", "handles"}
    for fact in REQUIRED:
        value = getattr(spec, fact)
        assert value is not None and (value != "" or fact == "size_rules"), (name, fact)
    assert isinstance(spec.cost, (DenseCost, ProductCost)) and spec.runs_in in RUNS_IN and spec.matrix in MATRICES
    assert spec.yields and set(spec.yields) <= set(QUANTITIES) and isinstance(spec.gpu, bool)
    assert spec.colour in FAMILIES[spec.family].hues
    assert callable(spec.load()), f"{spec.function} does not name a function"
    for rule in spec.size_rules:
        assert rule.option in spec.defaults, (name, rule.option)
    cost = spec.cost.estimate(resolve_options(name), Size(6370, 1000))
    assert isinstance(cost, Cost) and cost.seconds > 0 and cost.gib > 0


def test_a_line_that_leaves_a_fact_unset_is_refused():
    with pytest.raises(TypeError, match="missing"):
        MethodSpec(name="x", label="x", family="exact", matrix="hessian", function="slq:slq")
    spec = dataclasses.replace(REGISTRY["slq"], name="another_slq", family="no such family")
    with pytest.raises(ValueError, match="unknown family"):
        register(spec)


def test_colours_are_distinct_and_follow_the_family():
    colours = [s.colour for s in REGISTRY.values()]
    assert len(set(colours)) == len(colours)
    for family in FAMILIES.values():
        members = [s for s in REGISTRY.values() if s.family == family.name]
        assert [s.colour for s in members] == list(family.hues[: len(members)])


def _method_names_outside_the_catalogue() -> dict[str, list[str]]:
    """String literals naming a registered method, by file, in ``core`` and ``app`` outside the
    catalogue (docstrings and the claims table, which names the methods each claim is about,
    are allowed; so are pages that show a method on purpose)."""
    allowed = {"core/methods/catalogue.py", "core/claims.py", "core/trajectory.py", "core/studies.py",
               "core/comparison.py", "app/charts.py", "app/views/hutchinson.py", "core/methods/backpack_methods.py",
               "core/cli/parser.py"}
    found = {}
    for path in sorted([*ROOT.glob("core/**/*.py"), *ROOT.glob("app/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative in allowed:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        keys = {id(n.slice) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}  # a study's field, not a method
        names = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and n.value in REGISTRY and id(n) not in docstrings and id(n) not in keys]
        if names:
            found[relative] = names
    return found


def test_nothing_outside_the_registry_lists_methods_by_name():
    assert _method_names_outside_the_catalogue() == {}
