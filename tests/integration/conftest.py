"""A real deployment on this machine: PostgreSQL (metadata DB + Iceberg SQL catalog) and an S3
endpoint (moto's server on 127.0.0.1) for the warehouse and the telemetry objects.

- `pg_admin` (session): a connection string to the `postgres` database; skips every test here
  with the reason when PostgreSQL is unreachable (and fails instead when `CI` is set, where it must
  run).
- `pg_url` (function): a fresh database `perftiers_test_<run>_<n>`, dropped after the test.
- `s3_endpoint` (session): moto's ThreadedMotoServer on a free 127.0.0.1 port, stopped at the end.
- `s3_bucket` (function): a fresh bucket on it.
- `deployment` (function): both wired into perftiers settings, as a `perftiers.toml` too, so
  in-process code and `perftiers` subprocesses see the same deployment.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import tomli_w

from tests.serve import perftiers_command

PG_ADMIN_URL = os.environ.get("PERFTIERS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
"""libpq URL of a PostgreSQL role that may CREATE DATABASE (trust auth on CI and dev machines)."""

S3_KEY, S3_SECRET, S3_REGION = "perftiers-test", "perftiers-test-secret", "us-east-1"
RUN = secrets.token_hex(3)
_counter = itertools.count(1)


def _sqlalchemy_url(libpq_url: str, database: str) -> str:
    base = libpq_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL unreachable at {PG_ADMIN_URL} ({str(exc).strip().splitlines()[0]})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the integration tier", pytrace=False)
        pytest.skip(reason)
    yield PG_ADMIN_URL
    # Whatever a crashed test left behind from this run.
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"perftiers_test_{RUN}_%",))]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"perftiers_test_{RUN}_{next(_counter)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, _sqlalchemy_url(admin_url, name)


def drop_database(admin_url: str, name: str, url: str) -> None:
    import psycopg

    from perftiers.lakehouse import catalog
    from perftiers.metadata import db

    with db._engines_lock:
        engine = db._engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    with catalog._lock:
        for key in [k for k in catalog._catalogs if any(v == url for _, v in k[1])]:
            cat = catalog._catalogs.pop(key)
            if getattr(cat, "engine", None) is not None:
                cat.engine.dispose()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    """A SQLAlchemy URL (`postgresql+psycopg://`) of a fresh database, dropped after the test."""
    name, url = create_database(pg_admin)
    yield url
    drop_database(pg_admin, name, url)


@pytest.fixture(scope="session")
def s3_endpoint(pg_admin: str) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once its socket listens, on the port the system picked
    endpoint = "http://{}:{}".format(*server.get_host_and_port())
    yield endpoint
    server.stop()


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                        region_name=S3_REGION)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    bucket = f"perftiers-{RUN}-{next(_counter)}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    return bucket


@dataclass
class Deployment:
    """One PostgreSQL database + one bucket, as perftiers settings for any number of nodes."""

    database_url: str
    endpoint: str
    bucket: str
    root: Path
    extra: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        s3 = {"s3.endpoint": self.endpoint, "s3.region": S3_REGION, "s3.access-key-id": S3_KEY,
              "s3.secret-access-key": S3_SECRET}
        return {
            "database_url": self.database_url,
            "catalog": {"type": "sql", "uri": self.database_url, "warehouse": f"s3://{self.bucket}/warehouse", **s3},
            "object_store": f"s3://{self.bucket}/objects",
            "object_store_options": {"endpoint": self.endpoint, "region": S3_REGION, "access_key_id": S3_KEY,
                                     "secret_access_key": S3_SECRET, "path_style": "true"},
            **self.extra,
        }

    def settings(self, node: str = "node", **overrides: Any):
        """Settings of one node: its own local data folder, the shared DB, catalog and bucket."""
        from perftiers.settings import load_settings

        return load_settings(**{"home": self.root / node, **self.config, **overrides})

    def write_config(self, **overrides: Any) -> Path:
        """The deployment as a perftiers.toml (for subprocesses: PERFTIERS_CONFIG=<path>)."""
        path = self.root / f"perftiers-{secrets.token_hex(3)}.toml"
        path.write_text(to_toml({**self.config, **overrides}))
        return path

    def env(self, node: str, config: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERFTIERS_", "AWS_", "PYICEBERG_"))}
        env.update(PERFTIERS_HOME=str(self.root / node), PERFTIERS_CONFIG=str(config), PYTHONUNBUFFERED="1",
                   AWS_EC2_METADATA_DISABLED="true")
        return env

    def s3_keys(self, prefix: str = "") -> list[str]:
        client = s3_client(self.endpoint)
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def run_cli(self, node: str, config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*perftiers_command(), *args], env=self.env(node, config),
                              capture_output=True, text=True, timeout=timeout)


def to_toml(config: dict[str, Any]) -> str:
    """`config` as TOML: None values left out (TOML has no null), paths and the like as text."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items() if x is not None}
        return v if isinstance(v, (str, bool, int, float, list)) else str(v)

    return tomli_w.dumps(plain(config))


SMALL_DEMO = {"sync_source": "demo", "demo_products": 60, "demo_order_lines": 4000, "demo_seed": 7,
              "demo_end_date": "2026-06-30", "timezone": "UTC"}
"""A small generated store: a sync and refresh take a second or two."""


@pytest.fixture
def deployment(pg_url: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch) -> Deployment:
    for var in [v for v in os.environ if v.startswith(("PERFTIERS_", "PYICEBERG_", "AWS_"))]:
        monkeypatch.delenv(var)
    # Credentials are always given; should one go missing, never ask a cloud metadata address.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return Deployment(pg_url, s3_endpoint, s3_bucket, tmp_path, dict(SMALL_DEMO))
