"""The tier table in `perftiers.rules` is the only place tiers are named: the API models agree with
it, and the dashboard's code names no tier (it reads them from `/schema`)."""

from __future__ import annotations

import re
from pathlib import Path

from perftiers import rules
from perftiers.api import models

STATIC = Path(rules.__file__).parent / "web" / "static"


def _names() -> set[str]:
    names = {n for t in rules.TIER_TABLE for n in (t.key, t.flag, t.summary_field)}
    return names | set(rules.ClassificationSpec.model_fields)


def test_no_dashboard_script_names_a_tier_or_threshold():
    files = [*sorted((STATIC / "js").glob("*.js")), STATIC / "index.html"]
    assert len(files) > 5
    pattern = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, _names()), key=len, reverse=True)) + r")\b")
    found = {f.name: sorted(set(pattern.findall(f.read_text()))) for f in files}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_pattern_would_catch_a_hard_coded_tier():
    pattern = re.compile(r"(?<![\w-])(top_riser|is_archive|archive_candidates)\b")
    assert pattern.findall('const TIERS = ["top_riser", "winner"]; item.is_archive; s.archive_candidates')
    assert not pattern.findall("`badge-${tier}` card-top_riser")


def test_api_models_use_the_table_names():
    summary = models.PerformanceSummary.model_fields
    assert all(t.summary_field in summary for t in rules.TIER_TABLE)
    assert list(models.TierCounts.model_fields)[:5] == ["total", *rules.TIERS]
    metric = models.PerformanceMetric.model_fields
    assert all(t.flag in metric for t in rules.TIER_TABLE)
    assert rules.CLASSIFIED_COLUMNS == (*(t.flag for t in rules.TIER_TABLE), "nominal_classification")
