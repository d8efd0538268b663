"""The deployment recipes stay runnable without Docker or systemd here: the Dockerfile is linted,
the systemd units and the config examples in docs/deployment.md are parsed, and every perftiers
command they run is parsed by the real CLI."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import typer.main

from perftiers.cli import app
from perftiers.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "deploy" / "perftiers.service"
GUIDE = ROOT / "docs" / "deployment.md"
CLI = typer.main.get_command(app)


def parse_cli(argv: list[str]) -> dict:
    """Parse `perftiers ARGV` with the real command tree (no command runs); the leaf's params."""
    command, args = CLI, list(argv)
    while hasattr(command, "commands"):  # a group
        while args and args[0] == "--data-dir":
            args = args[2:]
        assert args and args[0] in command.commands, f"unknown perftiers command in {argv}"
        command, args = command.commands[args[0]], args[1:]
    return command.make_context(command.name, args).params


def perftiers_calls(line: str) -> list[list[str]]:
    """The arguments of every perftiers call in a shell line, also inside `sh -c '...'`.

    A call is `<path>/bin/perftiers ...`, or a bare `perftiers` followed by a command name (a bare
    word is otherwise a user, container or image name).
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words, calls = list(lexer), []
    for i, word in enumerate(words):
        if " " in word:
            calls += perftiers_calls(word)
            continue
        follows = words[i + 1] if i + 1 < len(words) else ""
        if word.endswith("bin/perftiers") or (word == "perftiers" and follows in (*CLI.commands, "--data-dir")):
            argv = []
            for w in words[i + 1:]:
                if set(w) <= set("();<>|&"):
                    break
                argv.append(w)
            calls.append(argv)
    return calls


# -- Dockerfile ---------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return out


KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
         "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def test_dockerfile_is_well_formed():
    instructions = dockerfile_instructions()
    assert {k for k, _ in instructions} <= KNOWN
    assert instructions[0][0] == "FROM"
    for keyword, args in instructions:
        if keyword == "FROM":
            image = args.split()[0]
            assert ":" in image and not image.endswith(":latest"), f"pin the base image tag: {image}"
            version = re.search(r"python:(\d+)\.(\d+)", image)
            assert version and (int(version[1]), int(version[2])) >= (3, 11), image
        if keyword in ("CMD", "ENTRYPOINT") or (keyword == "HEALTHCHECK" and "CMD" in args):
            exec_form = args.split("CMD", 1)[1].strip() if keyword == "HEALTHCHECK" else args
            assert isinstance(json.loads(exec_form), list), f"{keyword} in exec (JSON) form"


def test_dockerfile_installs_with_the_pinned_constraints():
    instructions = dockerfile_instructions()
    installs = [i for i, (k, a) in enumerate(instructions) if k == "RUN" and "pip install" in a]
    assert installs, "no pip install"
    for i in installs:
        assert re.search(r"(-c|--constraint)\s+constraints\.txt", instructions[i][1]), instructions[i][1]
        copied = [a for k, a in instructions[:i] if k == "COPY" and "constraints.txt" in a.split()]
        assert copied, "constraints.txt is copied in before the install"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for keyword, args in instructions:
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
                assert source.rstrip("/") not in ignored, f"COPY {source} is excluded by .dockerignore"


def test_the_container_serves_as_an_unprivileged_user_on_its_data_volume():
    instructions = dockerfile_instructions()
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM"):]
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(a for k, a in final if k == "ENV")
    home = re.search(r"PERFTIERS_HOME=(\S+)", env)[1]
    assert json.loads(dict(final)["VOLUME"]) == [home] and dict(final)["WORKDIR"] == home
    for name in re.findall(r"PERFTIERS_([A-Z_]+)=", env):
        assert name.lower() in Settings.model_fields
    assert dict(final)["EXPOSE"] == "8000"
    assert "/healthz" in dict(final)["HEALTHCHECK"]
    argv = json.loads(dict(final)["ENTRYPOINT"]) + json.loads(dict(final)["CMD"])
    assert argv[0] == "perftiers"
    assert parse_cli(argv[1:]) == {"host": "0.0.0.0", "port": 8000, "scheduler": True}


# -- systemd ------------------------------------------------------------------------------------

def systemd_unit(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"),
                                       empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(text)
    return parser


def test_systemd_unit_runs_serve_as_a_service_user():
    unit = systemd_unit(UNIT.read_text())
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith("/") and argv[0].endswith("/perftiers")
    assert parse_cli(argv[1:])["host"] == "127.0.0.1"
    assert service["User"] not in ("root", "0")
    assert service["Restart"] in ("on-failure", "always")
    assert service["EnvironmentFile"].lstrip("-").startswith("/etc/")
    home = re.search(r"PERFTIERS_HOME=(\S+)", service["Environment"])[1]
    assert home in service["ReadWritePaths"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# -- docs/deployment.md -------------------------------------------------------------------------

def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_every_toml_example_is_valid_settings(tmp_path):
    blocks = code_blocks("toml")
    assert len(blocks) >= 2
    for block in blocks:
        Settings(home=tmp_path, **tomllib.loads(block))  # extra="forbid": a misspelt key fails


def test_every_environment_variable_named_is_a_setting():
    names = set(re.findall(r"\bPERFTIERS_([A-Z0-9_]+)", GUIDE.read_text()))
    assert names
    for name in {n for n in names if not n.startswith("TEST_")} - {"CONFIG"}:  # TEST_*: the test suite's own
        field = name.split("__")[0].lower()
        assert field in Settings.model_fields, f"PERFTIERS_{name} is no setting"
    for name in re.findall(r"\bPYICEBERG_CATALOG__([A-Z0-9]+)__", GUIDE.read_text()):
        assert name.lower() == Settings.model_fields["catalog_name"].default


def test_every_perftiers_command_in_the_guide_parses():
    calls = []
    for lang in ("sh", "cron", "ini"):
        for block in code_blocks(lang):
            for line in block.replace("\\\n", " ").splitlines():
                calls += perftiers_calls(line.removeprefix("ExecStart="))
    assert {argv[0] for argv in calls} >= {"sync", "refresh", "doctor"}
    for argv in calls:
        parse_cli(argv)


def test_every_ini_example_parses_as_a_unit():
    for block in code_blocks("ini"):
        for unit in re.split(r"^# /etc/systemd/system/\S+\n", block, flags=re.M):
            if unit.strip():
                assert systemd_unit(unit).sections()


@pytest.mark.parametrize("path", ["Dockerfile", "deploy/perftiers.service"])
def test_the_guide_links_the_recipes(path):
    assert f"{path})" in GUIDE.read_text()
