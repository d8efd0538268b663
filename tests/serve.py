"""The real server in tests: `perftiers serve --port 0` as a subprocess on 127.0.0.1.

One helper for every tier that needs real HTTP (API end-to-end, reliability, integration replicas,
browser): the output goes to a log file, the port is the one the server bound and printed (no
guessed free port that another process could take first), the server counts as up when `/readyz`
(a snapshot is loaded) or `/healthz` (the process answers) says 200, and it is stopped with
SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def perftiers_command() -> list[str]:
    """The installed `perftiers` command (`.venv/bin/perftiers`), else the CLI through this Python."""
    script = Path(sys.executable).parent / "perftiers"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from perftiers.cli import app; app()"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PERFTIERS_* (a test's settings come from its arguments)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}, **extra}


_DASHBOARD = re.compile(rb"^Dashboard: (http://\S+?)/ ", re.MULTILINE)


@dataclass
class Server:
    process: subprocess.Popen
    output: Path
    _base_url: str | None = None

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` as the server printed it (waits up to 60 s for the line)."""
        if self._base_url is None:
            self._base_url = self._printed_url(time.monotonic() + 60)
        return self._base_url

    def _printed_url(self, deadline: float) -> str:
        while True:
            found = _DASHBOARD.search(self.output.read_bytes())
            if found:
                return found.group(1).decode()
            if self.process.poll() is not None:
                raise RuntimeError(f"perftiers serve exited with {self.process.returncode}:\n{self.log()[-5000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"perftiers serve printed no dashboard URL:\n{self.log()[-5000:]}")
            time.sleep(0.05)

    def wait_until_up(self, *, ready: bool = True, deadline: float | None = None) -> None:
        """Return once `/readyz` (ready=True) or `/healthz` answers 200; raise with the log if the
        process exits or `deadline` (time.monotonic(); default in 60 s) passes."""
        deadline = deadline if deadline is not None else time.monotonic() + 60
        if self._base_url is None:
            self._base_url = self._printed_url(deadline)
        path = "/readyz" if ready else "/healthz"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"perftiers serve exited with {self.process.returncode}:\n{self.log()[-5000:]}")
            try:
                if httpx.get(self.base_url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"perftiers serve did not come up ({path}):\n{self.log()[-5000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def launch(home: Path | None, *, env: dict[str, str] | None = None, scheduler: bool = False,
           log: Path | None = None) -> Server:
    """Start `perftiers [--data-dir home] serve` and return at once (see `Server.wait_until_up`).

    `env`: the whole environment (default `clean_env()`); `log`: where the output goes (default
    a new `serve-<n>.log` beside `home`).
    """
    if log is None:
        assert home is not None, "name a log file when the data folder comes from the environment"
        log = next(path for n in itertools.count() if not (path := home.parent / f"serve-{n}.log").exists())
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [*perftiers_command(), *(["--data-dir", str(home)] if home is not None else []),
            "serve", "--host", "127.0.0.1", "--port", "0", *([] if scheduler else ["--no-scheduler"])]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                   env={**(env if env is not None else clean_env()), "PYTHONUNBUFFERED": "1"})
    return Server(process, log)


def start_server(home: Path | None, *, wait_ready: bool = True, extra_env: dict[str, str] | None = None,
                 env: dict[str, str] | None = None, scheduler: bool = False, log: Path | None = None) -> Server:
    """`launch`, then wait until it is up (`/readyz`, or `/healthz` with wait_ready=False)."""
    server = launch(home, env={**(env if env is not None else clean_env()), **(extra_env or {})},
                    scheduler=scheduler, log=log)
    try:
        server.wait_until_up(ready=wait_ready)
    except BaseException:
        server.stop()
        raise
    return server


def stop_server(server: Server) -> None:
    server.stop()
