"""What a pipeline job is handed: its run id, kind, trigger, settings and a progress callback.

`perftiers.pipeline.runs` makes one for every run; the sync and the refresh take it. It lives below
them so the stages that do the work never import the stage that starts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from perftiers.settings import Settings

Progress = Callable[[str, int | None, int | None], None]
"""progress(step, done, total): called by jobs as they go; the CLI draws it."""


def no_progress(step: str, done: int | None = None, total: int | None = None) -> None:
    pass


@dataclass
class RunContext:
    run_id: str
    kind: str
    trigger: str
    settings: Settings
    progress: Progress = no_progress
    record: dict[str, Any] = field(default_factory=dict)
