"""Shared pieces: child processes measured with wait4, /proc RSS polling, stats, machine facts."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
_SCRIPT = Path(sys.executable).with_name("perftiers")
PERFTIERS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from perftiers.cli import app; app()"]
"""The `perftiers` command of this environment (`.venv/bin/perftiers` after the README set-up)."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- child processes ---------------------------------------------------------------------------

@dataclass
class ChildResult:
    """One measured child process: wall time and CPU time (wait4), peak RSS (the child's VmHWM)."""

    argv: list[str]
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    report: dict[str, Any] = field(default_factory=dict)
    """The JSON object the child printed as its last stdout line, if any."""
    stderr_tail: str = ""

    @property
    def work_s(self) -> float:
        """Time of the measured work inside the child (its own report), else the process wall."""
        return float(self.report.get("work_s", self.wall_s))

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("argv")
        d.pop("stderr_tail")
        d["work_s"] = self.work_s
        return d


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 3600,
              check: bool = True) -> ChildResult:
    """Run `argv` to completion; its wall time, CPU time (and its waited-for children's) and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=REPO, env=child_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # communicate() would reap the child and lose its rusage: read the pipes on threads instead.
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),
               threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)]
    for r in readers:
        r.start()
    # Peak RSS: ru_maxrss of a forked child starts at the parent's RSS (Linux keeps the high-water
    # mark across exec), so poll the child's own VmHWM instead (children also report it exactly).
    hwm = [0.0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            hwm[0] = max(hwm[0], proc_status(proc.pid).get("VmHWM", 0.0))
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
        done.set()
        poller.join()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    stdout, stderr = "".join(out), "".join(err)
    report: dict[str, Any] = {}
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                pass
            break
    peak = float(report.get("peak_rss_mb") or hwm[0])
    result = ChildResult(list(argv), wall, usage.ru_utime + usage.ru_stime, peak, proc.returncode, report,
                         stderr[-3000:])
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr[-3000:]}\n{stdout[-2000:]}")
    return result


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a running process, in MB."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


# -- statistics ----------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): the value at or above p% of the samples."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))  # ceil(p/100 * n)
    return float(ordered[min(rank, len(ordered)) - 1])


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


# -- sizes ---------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_count(text: str) -> int:
    """`1M`, `300k`, `2.5M`, `1000` -> an integer."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a count: {text!r} (use e.g. 300k, 1M, 2.5M)")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def fmt_count(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return str(n)


# -- the machine ---------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import duckdb
    import pyarrow
    import pyiceberg

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    try:
        import pandas

        pandas_version = pandas.__version__
    except ImportError:
        pandas_version = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "cpu_model": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyiceberg": pyiceberg.__version__,
        "pyarrow": pyarrow.__version__,
        "pandas": pandas_version,
        "git_commit": commit,
        "load_average_at_start": load,
    }
