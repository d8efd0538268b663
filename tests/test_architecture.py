"""The package layering of docs/architecture.md, checked on the source (no new dependency: `ast`).

- Imports point down the data flow: a package imports only its own layer or lower ones.
- `query/` (serving) is read-only: it imports no module that writes tables, overrides or the lock.
- Only `rules.py` defines a tier rule: no other module compares a metric with a threshold or
  spells out the tiers' precedence.

Each check also runs on a planted violation, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "perftiers"

LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    {"settings", "source_names", "errors", "rules", "duck", "faults", "fencing", "runcontext"},
    {"lakehouse"},
    {"metadata"},
    {"sources"},
    {"sync"},
    {"refresh"},
    {"pipeline"},
    {"query"},
    {"api"},
    {"web", "cli", "cli_webhooks", "cli_shopify", "doctor"},
))
"""Bottom to top: a package may import its own layer and the ones listed before it."""

WRITES = ("perftiers.sync", "perftiers.refresh", "perftiers.pipeline", "perftiers.lakehouse.maintenance",
          "perftiers.metadata.locks", "perftiers.fencing")
"""Modules that write (or hold the lock for writing); the serving side imports none of them."""

_HISTORY_READS = ("reads measurement.tier_history through refresh.history's readers (pair, read, state_on_sql); "
                  "they belong on the read side, with the tier-history work")
KNOWN: dict[tuple[str, str], str] = {
    ("perftiers.query.history", "perftiers.refresh.history"): _HISTORY_READS,
    ("perftiers.query.snapshot", "perftiers.refresh.history"): _HISTORY_READS,
}
"""Known exceptions (importer, imported) with the reason; each must still exist (see the last test)."""

THRESHOLDS = ("top_riser_7_day_threshold", "top_riser_14_day_threshold", "winner_30_day_threshold", "banana_count")
_NAMES = "|".join(THRESHOLDS)
RULE_PATTERNS = (
    re.compile(rf"[<>]=?\s*[$:]?(?:\w+\.)?(?:{_NAMES})\b"),  # a metric compared with a threshold
    re.compile(rf"\b(?:{_NAMES})\s*[<>]"),
    re.compile(r"\bWHEN\s+(?:\w+\.)?is_(?:top_riser|winner|banana|archive)\s+THEN\s+'", re.IGNORECASE),  # precedence
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(name: str, source: str) -> set[str]:
    """The perftiers modules `source` (module `name`) imports, at any depth (lazy imports count)."""
    package = name if MODULES.get(name, Path()).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "perftiers"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.split(".")[0] != "perftiers":
                continue
            for alias in node.names:  # `from perftiers.x import y`: the module y if it is one, else x
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> int | None:
    package = package_of(module)
    return next((i for i, layer in enumerate(LAYERS) if package in layer), None)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            low, high = layer_of(importer), layer_of(target)
            if high is not None and low is not None and high > low and (importer, target) not in KNOWN:
                out.append(f"{importer} imports {target} ({package_of(target)} is above {package_of(importer)})")
    return out


def read_side_writes(graph: dict[str, set[str]]) -> list[str]:
    return [f"{importer} imports {target}" for importer, imported in sorted(graph.items())
            if package_of(importer) == "query" for target in sorted(imported)
            if target.startswith(WRITES) and (importer, target) not in KNOWN]


def rule_definitions(files: dict[str, str]) -> list[str]:
    return [f"{name}:{n}: {line.strip()}" for name, text in sorted(files.items()) if name != "perftiers.rules"
            for n, line in enumerate(text.splitlines(), 1) if any(p.search(line) for p in RULE_PATTERNS)]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def test_every_package_has_a_layer():
    packages = {package_of(m) for m in MODULES} - {""}
    assert packages <= set().union(*LAYERS), f"give these a layer here and in docs/architecture.md: " \
                                             f"{sorted(packages - set().union(*LAYERS))}"


def test_imports_point_down_the_data_flow(graph):
    assert upward_imports(graph) == []
    planted = {**graph, "perftiers.sync": graph["perftiers.sync"] | {"perftiers.pipeline.jobs"}}
    assert upward_imports(planted) == ["perftiers.sync imports perftiers.pipeline.jobs (pipeline is above sync)"]


def test_the_serving_side_is_read_only(graph):
    assert read_side_writes(graph) == []
    planted = {**graph, "perftiers.query.performance": graph["perftiers.query.performance"] | {"perftiers.refresh.edits"}}
    assert read_side_writes(planted) == ["perftiers.query.performance imports perftiers.refresh.edits"]


def test_only_rules_defines_a_tier_rule():
    files = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}
    files |= {f"web/{p.relative_to(SRC / 'web')}": p.read_text(encoding="utf-8")
              for p in sorted((SRC / "web").rglob("*.js"))}
    assert rule_definitions(files) == []
    assert rule_definitions({"perftiers.rules": files["perftiers.rules"]}) == []
    planted = {
        "perftiers.query.x": 'sql = "SELECT sales_last_30_days >= $winner_30_day_threshold AS w"',
        "perftiers.api.y": "if row['sales_first_7_days'] >= spec.top_riser_7_day_threshold:",
        "web/z.js": "const tier = `CASE WHEN is_winner THEN 'winner' END`;",
    }
    assert [hit.split(":")[0] for hit in rule_definitions(planted)] == sorted(planted)
    assert len(rule_definitions({"perftiers.rules_copy": files["perftiers.rules"]})) >= 4  # the real rules match


def test_known_exceptions_still_exist(graph):
    """A known exception that was fixed leaves this list too."""
    assert [pair for pair in KNOWN if pair[1] not in graph.get(pair[0], set())] == []


def import_cycles(graph: dict[str, set[str]], prefix: str) -> list[str]:
    """Modules under `prefix` that reach themselves through imports under `prefix`."""
    inside = {m: {t for t in ts if t.startswith(prefix) and t != m} for m, ts in graph.items() if m.startswith(prefix)}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), list(inside[start])
        while todo:
            if (m := todo.pop()) not in seen:
                seen.add(m)
                todo += inside.get(m, ())
        return seen

    return sorted(m for m in inside if m in reachable(m))


def test_sources_import_in_one_direction(graph):
    """Within `sources/` imports form no cycle (a package's modules import down to its shared types)."""
    assert import_cycles(graph, "perftiers.sources") == []
    model, source = "perftiers.sources.files.model", "perftiers.sources.files.source"
    planted = {**graph, model: graph[model] | {source}}
    assert {model, source} <= set(import_cycles(planted, "perftiers.sources"))
