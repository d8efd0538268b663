"""`perftiers doctor`: check every configured part of a deployment and say what to fix.

In:  the settings. Out: one `Check` per part, each `ok`, `warn`, `fail` or `skip`, with a plain-words
detail and, when something is wrong, how to fix it. Checks touch only what a real run touches: the
schema is created the way `serve` creates it, and probe objects are deleted again.

    deployment    the parts agree (all shared for several replicas, or all local)
    metadata DB   connect, server version
    schema        the metadata tables and migrations are in place (done on start, under an advisory
                  lock on PostgreSQL); a database migrated by a newer perftiers is reported
    catalog       load the Iceberg catalog, list namespaces and perftiers tables
    warehouse     write, read and delete a probe file where table data goes
    object store  write, read and delete a probe object (telemetry lives here)
    lock          the pipeline lock: free, held (by which run, until when) or left by a crash
    clock         this machine's clock against the database server's
    timezone      (with a Shopify shop configured) the store timezone against the shop's: asked of
                  Shopify, else as the last Shopify sync recorded it; a configured one that differs warns
    shopify tags  (with shopify_tags_enabled) the app has the write_products scope tagging needs

Each check has a time limit, so an unreachable server gives a `fail`, not a hang.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlparse

import sqlalchemy as sa

from perftiers.settings import Settings

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
TIME_LIMIT_SECONDS = 30.0
CLOCK_OK_SECONDS = 1.0
CLOCK_FAIL_SECONDS = 5.0
LONG_HELD_LOCK = timedelta(hours=6)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


class _Context:
    """What earlier checks learned, for later ones."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.resolved_database_url
        self.is_postgres = self.url.startswith("postgresql")
        self.db_ok = False
        self.schema_ok = False
        self.catalog = None
        self.tables: list[tuple[str, str]] = []
        self.store = None


def redact(url: str) -> str:
    """A URL fit to print: no password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        parsed = urlparse(url)
        return parsed._replace(netloc=parsed.hostname or "").geturl() if parsed.password else url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:400]


# -- the checks --------------------------------------------------------------------------------

def check_deployment(ctx: _Context) -> Check:
    s = ctx.settings
    catalog_props = s.catalog_properties
    warehouse = catalog_props.get("warehouse", "")
    parts = {
        "metadata DB": ctx.is_postgres or not ctx.url.startswith("sqlite"),
        "catalog": catalog_props.get("type", "sql") != "sql" or not catalog_props.get("uri", "").startswith("sqlite"),
        "warehouse": catalog_props.get("type", "sql") != "sql" or not warehouse.startswith(("file:", "/")),
        "object store": not s.object_store_uri.startswith("file:"),
    }
    shared = [k for k, v in parts.items() if v]
    local = [k for k, v in parts.items() if not v]
    def kind(url: str) -> str:
        return url.split(":", 1)[0].split("+", 1)[0] or "?"

    catalog_type = catalog_props.get("type", "sql")
    summary = (f"metadata DB on {kind(ctx.url)}, {catalog_type} catalog"
               f"{' on ' + kind(catalog_props.get('uri', '')) if catalog_type == 'sql' else ''}, "
               f"warehouse {warehouse or '(from the catalog)'}, object store {s.object_store_uri}")
    if not shared:
        return Check("deployment", OK, f"embedded (one machine, data folder {s.home.resolve()}): {summary}")
    if not local:
        return Check("deployment", OK, f"shared by every replica: {summary}")
    return Check(
        "deployment", WARN,
        f"{', '.join(shared)} shared but {', '.join(local)} on this machine only: {summary}",
        f"Several replicas only work when every part is shared: point {', '.join(local)} at the same "
        "PostgreSQL database / bucket as the others (see docs/deployment.md). One machine alone is fine.",
    )


def check_metadata_db(ctx: _Context) -> Check:
    args = {"connect_timeout": 5} if ctx.is_postgres else {}
    if ctx.url.startswith("sqlite"):
        from pathlib import Path

        database = sa.engine.make_url(ctx.url).database
        if database:
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)  # as `engine_for` does
            except OSError:
                pass  # reported by the connection attempt below
    engine = sa.create_engine(ctx.url, connect_args=args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if ctx.is_postgres:
                version = conn.execute(sa.text("SHOW server_version")).scalar()
                detail = f"PostgreSQL {version} at {redact(ctx.url)}"
            else:
                conn.execute(sa.text("SELECT 1"))
                detail = f"{engine.dialect.name} at {redact(ctx.url)}"
    except Exception as exc:
        return Check("metadata DB", FAIL, f"cannot connect to {redact(ctx.url)}: {_first_line(exc)}",
                     _db_fix(str(exc), ctx.url))
    finally:
        engine.dispose()
    ctx.db_ok = True
    return Check("metadata DB", OK, detail)


def _db_fix(message: str, url: str) -> str:
    u = sa.engine.make_url(url)
    m = message.lower()
    if "does not exist" in m and "database" in m:
        return f"Create the database: createdb -h {u.host or 'localhost'} -U {u.username or 'postgres'} {u.database}"
    if "password" in m or "authentication" in m:
        return "The user or password in database_url (PERFTIERS_DATABASE_URL) is wrong for this server."
    if "refused" in m or "timeout" in m or "could not translate" in m or "no route" in m:
        return (f"Nothing answers at {u.host}:{u.port or 5432}: is PostgreSQL running and reachable from here "
                "(firewall, security group, listen_addresses)? Check database_url (PERFTIERS_DATABASE_URL).")
    if url.startswith("sqlite"):
        return "The data folder must be writable by this user (or set database_url to PostgreSQL)."
    return "Check database_url (PERFTIERS_DATABASE_URL): postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE."


def check_schema(ctx: _Context) -> Check:
    if not ctx.db_ok:
        return Check("schema", SKIP, "the metadata DB is unreachable")
    from perftiers.metadata.db import MIGRATIONS, engine_for, metadata, schema_migration

    try:
        engine = engine_for(ctx.url)  # creates and migrates what is missing, as `serve` does on start
        present = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            applied = set(conn.execute(sa.select(schema_migration.c.id)).scalars())
    except Exception as exc:
        return Check("schema", FAIL, f"cannot create the metadata tables: {_first_line(exc)}",
                     "The database user needs the right to create tables, e.g. "
                     "GRANT CREATE ON SCHEMA public TO <user>; (or run `perftiers doctor` once as the owner).")
    missing = sorted(set(metadata.tables) - present)
    if missing:
        return Check("schema", FAIL, f"tables missing: {', '.join(missing)}",
                     "Restart one perftiers process with a user that may create tables; it adds them on start.")
    ctx.schema_ok = True
    unknown = sorted(applied - {migration_id for migration_id, _ in MIGRATIONS})
    if unknown:
        return Check("schema", WARN, f"the database has migrations this perftiers does not know: {', '.join(unknown)}",
                     "A newer perftiers migrated this database: upgrade this machine to the same version.")
    return Check("schema", OK, f"{len(metadata.tables)} tables present, {len(applied)} migration(s) applied")


def check_catalog(ctx: _Context) -> Check:
    from perftiers.lakehouse import catalog

    props = ctx.settings.catalog_properties
    where = f"{props.get('type', 'sql')} catalog {redact(props.get('uri', ''))!s}".strip()
    if not ctx.db_ok and props.get("uri") == ctx.url:
        return Check("catalog", SKIP, f"{where}: its database is the unreachable metadata DB")
    try:
        cat = catalog.catalog(ctx.settings)
        namespaces = {ns[0] for ns in cat.list_namespaces()}
        listed = {tuple(t) for ns in sorted(namespaces & {i[0] for i in catalog.TABLE_SCHEMAS})
                  for t in cat.list_tables(ns)}
    except Exception as exc:
        return Check("catalog", FAIL, f"{where}: {_first_line(exc)}", _catalog_fix(exc, props))
    ctx.catalog = cat
    ctx.tables = [ident for ident in catalog.TABLE_SCHEMAS if ident in listed]
    tables = [catalog.table_name(ident) for ident in ctx.tables]
    if not tables:
        return Check("catalog", OK, f"{where}: reachable, no perftiers tables yet (the first sync creates them)")
    return Check("catalog", OK, f"{where}: tables {', '.join(tables)}")


def _catalog_fix(exc: BaseException, props: dict[str, str]) -> str:
    name = type(exc).__name__
    if name in ("UnauthorizedError", "ForbiddenError", "AuthorizationExpiredError", "OAuthError"):
        return ("The catalog refused the credentials: for R2 Data Catalog use an API token with "
                "'Admin Read & Write' on R2 storage and R2 Data Catalog, set as catalog.token.")
    if props.get("type") == "rest" or props.get("uri", "").startswith("http"):
        return ("Check catalog.uri (https://catalog.cloudflarestorage.com/<account_id>/<bucket> for R2), "
                "catalog.warehouse (<account_id>_<bucket>) and that the Data Catalog is enabled on the bucket.")
    return ("Check the catalog settings (catalog.type, catalog.uri, catalog.warehouse); they go to PyIceberg "
            "unchanged, so PyIceberg's documentation for that catalog type applies.")


_WAREHOUSE_SETTINGS = ("the catalog's s3.* properties (s3.endpoint, s3.access-key-id, s3.secret-access-key, "
                       "s3.region) or the credentials the catalog vends")


def check_warehouse(ctx: _Context) -> Check:
    if ctx.catalog is None:
        return Check("warehouse", SKIP, "the catalog is unreachable")
    from pyiceberg.io import load_file_io

    from perftiers.lakehouse import catalog

    cat = ctx.catalog
    if ctx.tables:
        ident = catalog.PERFORMANCE if catalog.PERFORMANCE in ctx.tables else ctx.tables[0]
        try:
            table = cat.load_table(ident)
        except Exception as exc:
            return Check("warehouse", FAIL, f"{catalog.table_name(ident)} is in the catalog but its metadata "
                         f"cannot be read: {_first_line(exc)}",
                         _storage_fix(f"{type(exc).__name__} {exc}", cat.properties.get("warehouse", ""),
                                      _WAREHOUSE_SETTINGS))
        io, location = table.io, table.location()
    else:
        location = cat.properties.get("warehouse", "")
        if "://" not in location and not location.startswith("/"):
            return Check("warehouse", SKIP, f"no table yet, and the catalog picks the location ({location!r}); "
                         "run a sync, then `perftiers doctor` again")
        io = load_file_io(cat.properties, location=location)
    probe = f"{location.rstrip('/')}/.perftiers-doctor-{uuid.uuid4().hex[:12]}"
    payload = b"perftiers doctor probe\n"
    try:
        with io.new_output(probe).create(overwrite=True) as out:
            out.write(payload)
        with io.new_input(probe).open() as src:
            back = src.read()
        io.delete(probe)
    except Exception as exc:
        return Check("warehouse", FAIL, f"cannot write, read and delete {probe}: {_first_line(exc)}",
                     _storage_fix(str(exc), location, _WAREHOUSE_SETTINGS))
    if back != payload:
        return Check("warehouse", FAIL, f"read back {len(back)} bytes of {len(payload)} from {probe}",
                     "The storage endpoint does not return what was written: check the endpoint setting.")
    return Check("warehouse", OK, f"wrote, read and deleted a probe under {location}")


def check_object_store(ctx: _Context) -> Check:
    from perftiers.lakehouse.objectstore import ObjectStore
    from perftiers.lakehouse.telemetry import PREFIX

    uri = ctx.settings.object_store_uri
    key = f"doctor/probe-{uuid.uuid4().hex[:12]}.txt"
    payload = b"perftiers doctor probe\n"
    try:
        store = ObjectStore.from_settings(ctx.settings)
        store.put(key, payload)
        with store.fs.open_input_stream(store._path(key)) as src:
            back = src.read()
        store.delete(key)
        runs = len(store.list(PREFIX))
    except Exception as exc:
        return Check("object store", FAIL, f"cannot write, read and delete {uri.rstrip('/')}/{key}: "
                     f"{_first_line(exc)}",
                     _storage_fix(str(exc), uri, "object_store_options (endpoint, region, access_key_id, "
                                  "secret_access_key, path_style)"))
    if back != payload:
        return Check("object store", FAIL, f"read back {len(back)} bytes of {len(payload)}",
                     "The storage endpoint does not return what was written: check object_store_options.endpoint.")
    ctx.store = store
    return Check("object store", OK, f"wrote, read and deleted a probe under {uri}; {runs} run record(s) in {PREFIX}")


def _storage_fix(message: str, uri: str, where: str) -> str:
    m = message.lower()
    parsed = urlparse(uri)
    if "nosuchbucket" in m or "bucket does not exist" in m or ("bucket" in m and "not" in m and "exist" in m):
        return f"Create the bucket {parsed.netloc!r} (or point the setting at an existing one)."
    if "accessdenied" in m or "access denied" in m or "forbidden" in m or "403" in m:
        return (f"The credentials in {where} may not write there: grant read, write, delete and list on "
                f"{uri} (for R2: an API token with Object Read & Write on the bucket).")
    if "filenotfound" in m or "no such file" in m or "nosuchkey" in m:
        return ("The catalog names files that are gone: the bucket's objects were deleted, or the settings point "
                f"at another bucket or endpoint than the one the tables were written to. Check {where}.")
    if "signature" in m or "invalidaccesskeyid" in m or "credentials" in m or "401" in m:
        return f"The access key or secret in {where} is wrong, or the region does not match the endpoint."
    if "curl" in m or "connect" in m or "resolve" in m or "timeout" in m or "refused" in m:
        return f"Nothing answers at the endpoint: check the endpoint in {where} and the network path to it."
    if parsed.scheme in ("", "file") or uri.startswith("/"):
        return f"The folder {parsed.path or uri} must exist (or be creatable) and be writable by this user."
    return f"Check {where}."


def check_lock(ctx: _Context) -> Check:
    if not ctx.schema_ok:
        return Check("lock", SKIP, "the metadata tables are not available")
    from perftiers.metadata import locks
    from perftiers.metadata.db import engine_for, job_lock

    with engine_for(ctx.url).connect() as conn:
        row = conn.execute(sa.select(job_lock).where(job_lock.c.name == locks.PIPELINE)).first()
    if row is None:
        return Check("lock", OK, "free: no sync or refresh is running")
    now = datetime.now(timezone.utc)
    acquired, expires = (_aware(row.acquired_at), _aware(row.expires_at))
    if expires < now:
        return Check("lock", OK, f"free: left by {row.holder}, which stopped without releasing it "
                     f"(expired {expires:%Y-%m-%d %H:%M:%S} UTC); the next run takes it over")
    if now - acquired > LONG_HELD_LOCK:
        return Check("lock", WARN, f"held by {row.holder} since {acquired:%Y-%m-%d %H:%M} UTC, renewed until "
                     f"{expires:%H:%M:%S} UTC: longer than any run should take",
                     "A process is still renewing it. Find the perftiers process running that sync or refresh "
                     "(its run id is the holder) and stop it; the lock frees itself one lease later.")
    return Check("lock", OK, f"held by {row.holder} since {acquired:%H:%M:%S} UTC (a run is in progress), "
                 f"lease until {expires:%H:%M:%S} UTC")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def check_clock(ctx: _Context) -> Check:
    if not ctx.is_postgres:
        return Check("clock", SKIP, "the metadata DB is a local file: there is no second clock to compare")
    if not ctx.db_ok:
        return Check("clock", SKIP, "the metadata DB is unreachable")
    from perftiers.metadata.db import engine_for

    with engine_for(ctx.url).connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # the round trip below then excludes connecting
        before = time.time()
        server = _aware(conn.execute(sa.text("SELECT now()")).scalar())
        after = time.time()
    local = datetime.fromtimestamp((before + after) / 2, timezone.utc)
    skew = (local - server).total_seconds()
    detail = (f"this machine is {abs(skew):.2f} s {'ahead of' if skew > 0 else 'behind'} the database server "
              f"(±{(after - before) / 2:.2f} s)")
    fix = ("Turn on time synchronisation on every replica and on the database host "
           "(`timedatectl set-ntp true`, or chrony); containers use their host's clock. The pipeline lock's "
           f"lease ({ctx.settings.lock_lease_seconds} s) and the run history rely on agreeing clocks.")
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return Check("clock", FAIL, detail, fix)
    if abs(skew) > CLOCK_OK_SECONDS:
        return Check("clock", WARN, detail, fix)
    return Check("clock", OK, detail)


def check_timezone(ctx: _Context) -> Check:
    from perftiers.errors import PerftiersError
    from perftiers.sources.shopify.client import shop_url
    from perftiers.sources.shopify.source import ask_timezone, recorded_timezone

    s = ctx.settings
    try:
        shop = shop_url(s.shopify_shop or "")
    except PerftiersError as exc:
        return Check("timezone", WARN, f"store timezone {s.timezone}; {exc}", "Fix shopify_shop.")
    shop_tz, seen, unanswered = None, "Shopify says", None
    if s.shopify_access_token is not None or (s.shopify_client_id and s.shopify_client_secret):
        try:
            shop_tz = ask_timezone(s, timeout=min(10.0, TIME_LIMIT_SECONDS / 3))
        except Exception as exc:  # this check is about the timezone: Shopify's own failures are the sync's
            unanswered = _first_line(exc)
    if shop_tz is None and ctx.schema_ok:
        shop_tz, seen = recorded_timezone(s, shop), "as the last Shopify sync saw it"
    asked = f"; Shopify did not answer now ({unanswered})" if unanswered else ""
    if shop_tz is None:
        return Check("timezone", WARN if unanswered else SKIP,
                     f"store timezone {s.timezone}; the shop's is not known yet{asked}",
                     "Check the Shopify settings (see docs/shopify.md); the first sync reads the shop's timezone."
                     if unanswered else None)
    if s.timezone == shop_tz:
        return Check("timezone", OK, f"store timezone {s.timezone}, the shop's ({seen}){asked}")
    if not s.timezone_configured:
        return Check("timezone", OK, f"the shop's timezone is {shop_tz} ({seen}) and the timezone setting is not "
                     f"set: the next sync makes {shop_tz} the store timezone (until then days are cut at midnight "
                     f"{s.timezone}){asked}")
    return Check("timezone", WARN,
                 f"the timezone setting is {s.timezone} but the shop's timezone is {shop_tz} ({seen}): days, sales "
                 f"windows and launch days are cut at midnight {s.timezone}, not at the shop's{asked}",
                 f'Remove the timezone setting to use the shop\'s, or set timezone = "{shop_tz}" '
                 "(PERFTIERS_TIMEZONE or perftiers.toml); then run a refresh.")


def check_tag_scope(ctx: _Context) -> Check:
    from perftiers.sources.shopify.client import shop_url
    from perftiers.sources.shopify.source import admin_client
    from perftiers.sources.shopify.tag_writes import WRITE_SCOPE, granted_scopes

    s = ctx.settings
    fix = ("Add the write_products scope to the Shopify app (Dev Dashboard: your app > Versions > Access scopes; "
           "admin-made custom app: Settings > Apps > Develop apps > your app > Configuration) and install it again; "
           "or set shopify_tags_enabled = false.")
    try:
        client = admin_client(s, shop_url(s.shopify_shop or ""), sleep=lambda _: None, max_retries=0,
                              timeout=min(10.0, TIME_LIMIT_SECONDS / 3))
        try:
            scopes = granted_scopes(client)
        finally:
            client.close()
    except Exception as exc:
        return Check("shopify tags", FAIL, f"tags are enabled but Shopify's access scopes could not be read: "
                     f"{_first_line(exc)}", "Check the Shopify settings (see docs/shopify.md).")
    if WRITE_SCOPE in scopes:
        return Check("shopify tags", OK, "tags are enabled and the app has write_products")
    return Check("shopify tags", FAIL, "tags are enabled but the app lacks the write_products scope: every tag push "
                 "after a refresh would fail", fix)


CHECKS: tuple[tuple[str, Callable[[_Context], Check]], ...] = (
    ("deployment", check_deployment),
    ("metadata DB", check_metadata_db),
    ("schema", check_schema),
    ("catalog", check_catalog),
    ("warehouse", check_warehouse),
    ("object store", check_object_store),
    ("lock", check_lock),
    ("clock", check_clock),
)


def _limited(name: str, fn: Callable[[_Context], Check], ctx: _Context, seconds: float) -> Check:
    """Run one check on a daemon thread: an unreachable server fails the check instead of hanging."""
    result: list[Check] = []

    def target() -> None:
        try:
            result.append(fn(ctx))
        except Exception as exc:
            result.append(Check(name, FAIL, f"unexpected error: {_first_line(exc)}",
                                "Run with the same settings again; if it persists, report it with this message."))

    thread = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(seconds)
    if not result:
        return Check(name, FAIL, f"no answer within {seconds:.0f} s",
                     "A server did not answer: check that the endpoint or host in the settings is reachable.")
    return result[0]


def run(settings: Settings, *, time_limit: float = TIME_LIMIT_SECONDS,
        progress: Callable[[Check], None] | None = None) -> Report:
    """Run every check in order; `progress` sees each result as it comes."""
    ctx = _Context(settings)
    report = Report()
    checks = CHECKS + ((("timezone", check_timezone),) if settings.shopify_shop else ())
    checks += (("shopify tags", check_tag_scope),) if settings.shopify_tags_enabled else ()
    for name, fn in checks:
        check = _limited(name, fn, ctx, time_limit)
        report.checks.append(check)
        if progress is not None:
            progress(check)
    return report
