"""Imports point down: settings → collaborators → stages → pipeline → magics/widgets.

The graph is read from the source with ``ast`` — every ``import`` statement, also those inside
functions (a lazy import is still a dependency) — so a cycle cannot hide behind a deferred
import. Left out are only imports for type checkers (``if TYPE_CHECKING:``), which never run:
an annotation is not a dependency at import or call time. ``config`` (settings) sits at the bottom: it imports nothing of the package but its
errors, and no cycle passes through it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "llmops_nb"

# The cycles still in the package (each a strongly connected component of the import graph).
# A new cycle, or a known one that grows, fails the test; shrink these as they are cut.
KNOWN_CYCLES: list[set[str]] = []
# Cut so far, each by moving what both sides need one level down or passing it in:
# pricing.deprecated_models ← Session.models_in_use(); PromptVersion/content_hash in
# prompt_version (below prompts, prompt_store, pipeline); providers.events (TextDelta, Final)
# below providers.base and the providers; mlflow_setup.import_mlflow below tracking and
# prompt_store; render's Completion annotation type-checking only (types renders through it);
# the MLflow exporter the session builds (mlflow_export) below tracking, the read API whose
# flush()/history()/log_feedback() flush the session's recorder first.


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports for type checkers only."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports anywhere in its source (``llmops_nb`` itself,
    whose attributes are lazy, is left out)."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str | None] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
                     for stmt in block.body for n in ast.walk(stmt)}  # type: ignore[attr-defined]
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                deps.update(owner(a.name) for a in node.names if a.name.startswith("llmops_nb"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                if source.startswith("llmops_nb"):
                    deps.update(f"{source}.{a.name}" if f"{source}.{a.name}" in modules else owner(source)
                                for a in node.names)
        graph[name] = {d for d in deps if d and d not in (name, "llmops_nb")}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph.get(v, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module: modules that each reach
    every other one of them."""
    reach = {v: _reachable(graph, v) for v in graph}
    out: list[set[str]] = []
    for v in sorted(graph):
        component = {w for w in reach[v] if v in reach.get(w, ())} | {v}
        if len(component) > 1 and component not in out:
            out.append(component)
    return out


def test_config_imports_nothing_of_the_package_but_errors():
    assert import_graph()["llmops_nb.config"] <= {"llmops_nb.errors"}


def test_no_cycle_passes_through_config_or_errors():
    for component in cycles(import_graph()):
        assert not component & {"llmops_nb.config", "llmops_nb.errors"}, component


def test_no_new_import_cycle():
    found = cycles(import_graph())
    for component in found:
        assert any(component <= known for known in KNOWN_CYCLES), f"a new import cycle: {sorted(component)}"
    # and the list stays honest: a cycle that was cut leaves it
    for known in KNOWN_CYCLES:
        assert known in found, f"no longer a cycle, take it off KNOWN_CYCLES: {sorted(known)}"


def test_the_cut_cycles_stay_cut():
    graph = import_graph()
    below = {  # module → modules it must not reach (they import it)
        "llmops_nb.pricing": {"llmops_nb.session", "llmops_nb.routing", "llmops_nb.pipeline"},
        "llmops_nb.prompt_version": {"llmops_nb.prompts", "llmops_nb.prompt_store", "llmops_nb.pipeline"},
        "llmops_nb.prompt_store": {"llmops_nb.prompts", "llmops_nb.session", "llmops_nb.tracking"},
        "llmops_nb.providers.events": {"llmops_nb.providers.base", "llmops_nb.providers.openai"},
        "llmops_nb.providers.openai": {"llmops_nb.providers.base"},
        "llmops_nb.render": {"llmops_nb.types"},
        "llmops_nb.mlflow_setup": {"llmops_nb.tracking", "llmops_nb.session"},
        "llmops_nb.mlflow_export": {"llmops_nb.tracking", "llmops_nb.session"},
    }
    for module, above in below.items():
        assert not _reachable(graph, module) & above, (module, sorted(_reachable(graph, module) & above))


def test_type_checking_imports_are_not_edges():
    graph = import_graph()
    assert "llmops_nb.types" not in graph["llmops_nb.render"]  # imported under TYPE_CHECKING only
    assert "llmops_nb.render" in graph["llmops_nb.types"]  # a function-level import still counts


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # session builds its collaborators inside functions (importing it stays cheap)
    assert {"llmops_nb.cache", "llmops_nb.cache_redis", "llmops_nb.recording",
            "llmops_nb.prompt_store"} <= graph["llmops_nb.session"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_settings_load_without_the_rest_of_the_package():
    code = ("import sys, llmops_nb.config as c; c.settings(); "
            "print(sorted(m for m in sys.modules if m.startswith('llmops_nb')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['llmops_nb', 'llmops_nb.config', 'llmops_nb.errors']"
