"""Runs, sessions, tokens, health and schedule."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from perftiers.api.models.common import clean_text
from perftiers.lakehouse.telemetry import RunKind
from perftiers.metadata.tokens import ROLES


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str
    kind: RunKind = Field(description="The job: sync, refresh, history backfill or Shopify tag push.")
    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    status: Literal["running", "succeeded", "failed"]
    counts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    spec_version: int | None = None
    snapshot_id: int | None = None
    as_of: date | None = None


class RunList(BaseModel):
    items: list[RunRecord]


class RunStarted(RunRecord):
    then_refresh: bool = False


class SessionInfo(BaseModel):
    name: str
    role: Literal[ROLES]  # type: ignore[valid-type]


class SessionStatus(BaseModel):
    signed_in: bool
    name: str | None = Field(description="The token's name when signed in.")
    role: Literal[ROLES] | None = Field(description="The token's role when signed in.")  # type: ignore[valid-type]


class SessionLogin(BaseModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TokenInfo(BaseModel):
    id: int
    name: str
    role: str
    created_at: datetime
    revoked: bool


class TokenList(BaseModel):
    items: list[TokenInfo]


class TokenCreate(BaseModel):
    role: Literal[ROLES]  # type: ignore[valid-type]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v)


class TokenCreated(TokenInfo):
    token: str = Field(description="The secret; shown only in this response.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    snapshot_id: str | None
    raw_snapshot_id: str | None
    rows: int | None
    loaded_at: datetime | None
    has_data: bool
    metadata_db: bool
    last_error: str | None


class ScheduledJobInfo(BaseModel):
    name: str
    cron: str
    timezone: str
    next_run: datetime | None
    description: str


class Schedule(BaseModel):
    enabled: bool
    jobs: list[ScheduledJobInfo]
