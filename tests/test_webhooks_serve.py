"""Webhooks through the real commands: `perftiers webhooks ...` and a `perftiers serve` whose delivery
worker is killed mid-send; the outbox survives and `perftiers webhooks deliver` finishes the job."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from perftiers.pipeline.runs import run_job
from perftiers.settings import load_settings
from tests.pipeline import close
from tests.serve import launch, perftiers_command
from tests.webhook_receiver import Receiver

ALLOW = {"PERFTIERS_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "PERFTIERS_WEBHOOKS_TIMEOUT_SECONDS": "2"}


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}
    return {**clean, **(extra or {}), "PYTHONUNBUFFERED": "1"}


def cli(home: Path, *args: str, extra_env: dict[str, str] | None = ALLOW) -> subprocess.CompletedProcess:
    return subprocess.run([*perftiers_command(), "--data-dir", str(home), *args], capture_output=True, text=True,
                          env=env(extra_env), timeout=120)


def fail_a_refresh(home: Path) -> None:
    settings = load_settings(home=home)

    def job(ctx):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run_job(settings, "refresh", "cli", job)
    close(settings)


def test_cli_refuses_loopback_unless_allowed_and_never_shows_the_secret_again(tmp_path):
    home = tmp_path / "data"
    refused = cli(home, "webhooks", "add", "http://127.0.0.1:9/hook", extra_env={})
    assert refused.returncode == 2 and "webhooks_allow_private_targets" in refused.stderr
    bad = cli(home, "webhooks", "add", "http://127.0.0.1:9/hook", "--event", "nope")
    assert bad.returncode == 2 and "unknown event nope" in bad.stderr
    added = cli(home, "webhooks", "add", "http://127.0.0.1:9/hook", "--event", "refresh.failed", "--tier", "banana")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    listed = cli(home, "webhooks", "list", "--output", "json")
    (sub,) = json.loads(listed.stdout)
    assert sub["events"] == ["refresh.failed"] and sub["tiers"] == ["banana"] and secret not in listed.stdout
    assert cli(home, "webhooks", "disable", "1").returncode == 0
    assert json.loads(cli(home, "webhooks", "list", "--output", "json").stdout)[0]["enabled"] is False
    assert cli(home, "webhooks", "remove", "1").returncode == 0
    missing = cli(home, "webhooks", "remove", "1")
    assert missing.returncode == 2 and "no webhook subscription 1" in missing.stderr


def test_a_server_killed_mid_delivery_leaves_the_event_to_the_next_worker(tmp_path):
    home = tmp_path / "data"
    with Receiver() as receiver:
        added = cli(home, "webhooks", "add", receiver.url, "--event", "refresh.failed")
        assert added.returncode == 0, added.stderr
        secret = added.stdout.strip().splitlines()[-1]
        fail_a_refresh(home)  # the event is in the outbox; no server runs yet
        receiver.hold()  # the first delivery will hang until the server is dead
        log = tmp_path / "serve.log"
        server = launch(home, env=env(ALLOW), scheduler=True, log=log)
        try:
            (first,) = receiver.wait_for(1, timeout=60)  # the server's worker is mid-send
            assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
        finally:
            server.process.kill()
            server.process.wait(timeout=10)
        receiver.release()
        pending = json.loads(cli(home, "webhooks", "deliveries", "1", "--output", "json").stdout)
        assert [(d["status"], d["attempts"]) for d in pending] == [("pending", 0)]  # claimed, never recorded
        deadline = time.monotonic() + 90
        while True:  # the dead worker's claim ends after its lease (2 x 2 s timeout + 5 s)
            result = cli(home, "webhooks", "deliver", "--output", "json")
            assert result.returncode == 0, result.stderr
            if json.loads(result.stdout)["delivered"] == 1:
                break
            assert time.monotonic() < deadline, "the event was never delivered after the restart"
            time.sleep(0.5)
        second = receiver.requests[1]
    assert len(receiver.requests) == 2
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]  # the receiver can drop the repeat
    assert second.json()["type"] == "refresh.failed" and "disk full" in second.json()["data"]["error"]
    done = json.loads(cli(home, "webhooks", "deliveries", "1", "--output", "json").stdout)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in done] == [("delivered", 1, 200)]
    assert secret not in log.read_text(errors="replace")
    assert json.loads(cli(home, "webhooks", "deliver", "--output", "json").stdout)["delivered"] == 0
