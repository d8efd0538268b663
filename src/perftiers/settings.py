"""One typed settings object, built by `load_settings()` (never at import, so tests can swap it).

Sources, highest first: keyword overrides (CLI flags), `PERFTIERS_*` environment variables
(nested with `__`, e.g. `PERFTIERS_CATALOG__URI`), `perftiers.toml` in the data folder
(or the file named by `PERFTIERS_CONFIG`), then the defaults below. Every field is documented in
`docs/configuration.md`; a test keeps the two in step.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from perftiers.source_names import SourceName

DEFAULT_HOME = Path("./perftiers-data")


class S3Options(BaseModel):
    """How to reach an S3-compatible store: the object store, and an `s3://` sync path.
    Unset keys and region fall back to the standard AWS chain (AWS_ACCESS_KEY_ID,
    AWS_DEFAULT_REGION, an instance role), as PyIceberg's FileIO does."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = None
    """`host:port` or a URL (`http://host:port` for plain HTTP); default AWS."""
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    path_style: bool = True
    """Path-style addressing (`endpoint/bucket/key`); false for virtual-hosted buckets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PERFTIERS_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = DEFAULT_HOME
    """Data folder: catalog, warehouse, metadata DB and telemetry live here by default."""

    timezone: str = "UTC"
    """Store timezone (IANA name). Days, windows and the default reference date use it. Not set:
    UTC, except that a `shopify` sync adopts the shop's timezone (and saves it in perftiers.toml)."""

    currency: str = "USD"
    """Store currency, used for order lines that name none."""

    database_url: str | None = None
    """SQLAlchemy URL of the metadata DB (artifacts, tokens, locks, overrides).
    Default: SQLite file `metadata.db` in the data folder. PostgreSQL: `postgresql+psycopg://...`."""

    catalog_name: str = "perftiers"
    """Iceberg catalog name. The SQL catalog stores it in its rows: keep it stable."""

    catalog: dict[str, str] = Field(default_factory=dict)
    """PyIceberg catalog properties, passed through unchanged. Default: SQL catalog on SQLite
    (`catalog.db`) with a `file://` warehouse folder, both in the data folder."""

    object_store: str | None = None
    """Root URI for telemetry objects (`file:///...` or `s3://bucket/prefix`).
    Default: the `objects` folder in the data folder."""

    object_store_options: S3Options = Field(default_factory=S3Options)
    """S3 options for the object store and an `s3://` sync path: `endpoint`, `region`,
    `access_key_id`, `secret_access_key`, `path_style` (`true`/`false`)."""

    lock_lease_seconds: int = Field(default=120, ge=5)
    """Lease of the pipeline lock. A running job renews it; a killed job's lock expires after this."""

    sync_source: SourceName = "demo"
    """Source the scheduled and API-triggered sync reads: `demo`, `files`, `shopify`, `shopify-csv`."""

    sync_path: str | None = None
    """Folder (or object-store prefix) the `files` / `shopify-csv` source reads."""

    shopify_shop: str | None = None
    """Shop the `shopify` source reads: `my-store`, `my-store.myshopify.com` or a full URL."""

    shopify_access_token: SecretStr | None = None
    """Admin API access token (`shpat_...`) of a custom app made in the Shopify admin. Never logged.
    Scopes: `read_products`, `read_orders`, and `read_all_orders` for orders older than 60 days."""

    shopify_client_id: str | None = None
    """Client ID of a Dev Dashboard app installed on the shop (instead of an access token): each
    sync exchanges it with `shopify_client_secret` for a fresh token (client credentials grant)."""

    shopify_client_secret: SecretStr | None = None
    """Client secret of that Dev Dashboard app. Never logged."""

    shopify_api_version: str = "2026-07"
    """Shopify Admin API version (`YYYY-MM`)."""

    shopify_lookback_hours: float = Field(default=24.0, ge=0)
    """Each incremental Shopify sync re-reads changes from this long before the saved position, so
    late-indexed updates and clock skew are not missed (re-read rows are upserted, not added)."""

    shopify_tags_enabled: bool = False
    """Tag products in Shopify with their tiers after each successful refresh (`perftiers shopify
    push-tags` works either way). Needs the `write_products` scope; see docs/shopify.md."""

    shopify_tag_prefix: str = "perftiers:"
    """Prefix of the tags perftiers writes (`perftiers:winner`, ...). Tags under it belong to perftiers:
    the ones that no longer hold are removed; tags without it are never touched."""

    shopify_tag_tiers: list[str] = Field(default_factory=lambda: ["top_riser", "winner", "banana",
                                                                   "archive_candidate"])
    """Tiers whose flag becomes a tag: `top_riser`, `winner`, `banana`, `archive_candidate`."""

    shopify_tag_bulk_threshold: int = Field(default=250, ge=0)
    """A tag push that changes more products than this uses Shopify bulk mutations (a staged JSONL
    file) instead of one tagsAdd / tagsRemove call per product."""

    sync_cron: str = "0 2 * * *"
    """When `serve` runs the daily sync (cron, store timezone). A refresh follows a successful sync."""

    refresh_cron: str | None = None
    """Extra refresh schedule (cron, store timezone); default none (refresh runs after each sync)."""

    demo_products: int = Field(default=2000, ge=1)
    """Products the demo source generates."""

    demo_order_lines: int = Field(default=1_000_000, ge=0)
    """Approximate order lines the demo source generates."""

    demo_seed: int = 42
    """Seed of the demo generator: the same seed gives the same store."""

    demo_end_date: date | None = None
    """Last day of demo sales (ISO date); default today in the store timezone."""

    snapshot_retention_hours: float = Field(default=24.0, ge=0)
    """After each write (sync, refresh, manual edit), snapshots replaced longer ago than this are
    expired (the current one is always kept), then files that no remaining snapshot needs and
    older than this are deleted. Readers can load a replaced snapshot for this long."""

    public_url: str | None = None
    """Address people open the dashboard at (e.g. `https://perftiers.example.com`): alerts link each
    product to `{public_url}/?search={artifact_id}`. Not set: alerts carry no links."""

    webhooks_allow_private_targets: bool = False
    """Let webhook subscriptions target loopback, private, link-local and cloud-metadata addresses
    (checked when a subscription is saved and again before each delivery). Off: such URLs are refused."""

    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """How long one webhook delivery may take (connect, send, answer) before it counts as failed."""

    webhooks_retention_days: int = Field(default=30, ge=1, le=3650)
    """Delivered, failed and cancelled webhook deliveries older than this (by their last attempt) are
    deleted, with the events no delivery needs any more; pending deliveries are always kept. The
    alert worker prunes at most once an hour (`perftiers webhooks deliver` on each pass)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as 'Europe/Berlin'") from exc
        return value

    @field_validator("shopify_tag_prefix")
    @classmethod
    def _usable_prefix(cls, value: str) -> str:
        value = value.strip()
        if not value or "," in value or len(value) > 200:
            raise ValueError("shopify_tag_prefix must be 1-200 characters without a comma (e.g. 'perftiers:'): an "
                             "empty prefix would make every tag of a product perftiers' to remove")
        return value

    @field_validator("shopify_tag_tiers")
    @classmethod
    def _known_tiers(cls, value: list[str]) -> list[str]:
        from perftiers.rules import TIERS

        unknown = [t for t in value if t not in TIERS]
        if unknown:
            raise ValueError(f"unknown tier(s) {', '.join(unknown)} in shopify_tag_tiers; choose from {', '.join(TIERS)}")
        return list(dict.fromkeys(value))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file(init_settings())
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None and toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    # -- derived locations -------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home.resolve() / 'metadata.db'}"

    @property
    def catalog_properties(self) -> dict[str, str]:
        if self.catalog:
            return dict(self.catalog)
        home = self.home.resolve()
        return {
            "type": "sql",
            "uri": f"sqlite:///{home / 'catalog.db'}",
            "warehouse": f"file://{home / 'warehouse'}",
        }

    @property
    def object_store_uri(self) -> str:
        return self.object_store or f"file://{self.home.resolve() / 'objects'}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def timezone_configured(self) -> bool:
        """Whether `timezone` was given (argument, environment, perftiers.toml), not defaulted."""
        return "timezone" in self.model_fields_set


def _config_file(init_values: dict[str, Any]) -> Path | None:
    explicit = os.environ.get("PERFTIERS_CONFIG")
    if explicit:
        return Path(explicit)
    home = init_values.get("home") or os.environ.get("PERFTIERS_HOME") or DEFAULT_HOME
    return Path(home) / "perftiers.toml"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; `None` overrides are ignored so CLI flags can pass through unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def remember(settings: Settings, values: dict[str, int | str]) -> Path | None:
    """Add top-level `values` to the data folder's perftiers.toml, keeping every key already there.

    `perftiers demo --products N` uses it so later syncs (CLI, dashboard, scheduler) regenerate
    the same store instead of the default size. Returns the file written, or None.
    """
    import tomllib

    import tomli_w

    path = settings.home / "perftiers.toml"
    existing = tomllib.loads(path.read_text()) if path.is_file() else {}
    new = {k: v for k, v in values.items() if v is not None and k not in existing}
    if not new:
        return None
    lines = tomli_w.dumps(new)  # only the new keys: the file's own text (comments too) is kept as it is
    settings.home.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.is_file() else "# perftiers settings (see docs/configuration.md)\n"
    if existing:
        # top-level keys must come before any [table]; put them first
        text = lines + text
    else:
        text += lines
    path.write_text(text)
    return path

