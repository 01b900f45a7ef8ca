"""The command line's conventions (issue #19), checked over every command so that they
do not rot: each command that reports has ``--json``, each command's help has an
example and the exit codes; ``--help`` loads no slice and no heavy library; bad usage
exits 2, a refusal 1; ``--json`` prints one document with decimal strings; a reader
closing the pipe early gets no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from nuages import cli as nuages_cli
from nuages import cli_output

ROOT = Path(__file__).resolve().parents[2]
NUAGES = [sys.executable, "-m", "nuages"]
# Commands that start a process and report nothing to a caller.
PROCESSES = {"up", "serve", "worker", "notices bounces serve"}


def _leaves(group: Any, path: str) -> list[tuple[str, Any]]:
    found = []
    for name in sorted(group.commands):
        command = group.commands[name]
        here = f"{path} {name}".strip()
        if hasattr(command, "commands"):
            found.extend(_leaves(command, here))
        else:
            found.append((here, command))
    return found


def _all_commands() -> list[tuple[str, Any]]:
    return _leaves(typer.main.get_command(nuages_cli.app), "")


def test_every_command_has_json_example_and_exit_codes() -> None:
    """Walk the whole Typer app (every slice loaded): each command has `--json` unless
    it only starts a process, an "Example:" in its help, and the exit codes."""
    commands = _all_commands()
    assert len(commands) >= 40
    missing: list[str] = []
    for path, command in commands:
        text = f"{command.help or ''}\n{command.epilog or ''}"
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if path not in PROCESSES and "--json" not in options:
            missing.append(f"{path}: no --json")
        if "Example:" not in text:
            missing.append(f"{path}: no example in its help (nuages/cli_examples.py)")
        if "Exit codes" not in text:
            missing.append(f"{path}: no exit codes in its help")
    assert not missing, "\n".join(missing)


def test_lazy_help_matches_each_slice() -> None:
    """The short help the top level shows without importing a slice is the slice's."""
    import importlib

    for name, (module, attr, short) in nuages_cli.LAZY.items():
        sub = getattr(importlib.import_module(module), attr)
        assert sub.info.help == short, name


def test_spelled_out_choices_match_their_enums() -> None:
    """Choices spelled in the CLI (so `--help` does not load the models) stay equal."""
    from nuages.billing import cli as billing_cli
    from nuages.billing.models import EntryKind
    from nuages.terms import cli as terms_cli
    from nuages.terms.deadlines import Event

    assert set(billing_cli.ENTRY_KINDS) == {k.value for k in EntryKind}
    assert tuple(terms_cli.EVENTS) == tuple(e.value for e in Event)


def _imported(*args: str) -> set[str]:
    """The modules a fresh `nuages ARGS` process imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nuages", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"NUAGES_DATA_DIR": "/nonexistent-nuages-data"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize(
    "args",
    [["--help"], ["billing", "meter", "--help"], ["invoicing", "run", "--help"]],
    ids=["top", "billing-meter", "invoicing-run"],
)
def test_regression_help_starts_without_heavy_modules(args: list[str]) -> None:
    """`nuages billing meter` and `nuages invoicing run` spent 2–6 s importing every
    slice before doing anything; `--help` now loads no database layer, no libvirt, no
    PDF or XML library and no holiday calendar (bench/cli_start.py measures it)."""
    modules = _imported(*args)
    # (pydantic is no longer on the list: Typer itself imports it.)
    heavy = {
        "sqlalchemy",
        "libvirt",
        "weasyprint",
        "typst",
        "facturx",
        "lxml",
        "holidays",
        "alembic",
    }
    assert not heavy & {m.split(".")[0] for m in modules}, sorted(heavy & modules)
    if args == ["--help"]:
        assert not any(m.startswith("nuages.billing") for m in modules)


def _run(*args: str, tmp_path: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_OFFERS_DIR": str(ROOT / "offers"),
    }
    env.pop("NUAGES_DATABASE_URL", None)
    return subprocess.run(
        [*NUAGES, *args], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def test_exit_codes_done_refused_usage(tmp_path: Path) -> None:
    """0 done, 1 refused by a rule, 2 bad usage; each error is one line on stderr."""
    assert _run("db", "upgrade", tmp_path=tmp_path).returncode == cli_output.EXIT_OK
    listed = _run("host", "list", "--json", tmp_path=tmp_path)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    refused = _run("host", "remove", "no-such-host", tmp_path=tmp_path)
    assert refused.returncode == cli_output.EXIT_REFUSED
    assert refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    bad_option = _run("billing", "meter", "--no-such-option", tmp_path=tmp_path)
    assert bad_option.returncode == cli_output.EXIT_USAGE
    bad_value = _run("billing", "meter", "--now", "yesterday", tmp_path=tmp_path)
    assert bad_value.returncode == cli_output.EXIT_USAGE
    assert bad_value.stderr.startswith("error: 'yesterday'"), bad_value.stderr
    assert len(bad_value.stderr.splitlines()) == 1
    bad_kind = _run("billing", "entries", "c1", "--kind", "gift", tmp_path=tmp_path)
    assert bad_kind.returncode == cli_output.EXIT_USAGE and "topup" in bad_kind.stderr


def test_json_is_one_document_with_decimal_strings_and_offsets(tmp_path: Path) -> None:
    """`--json`: one JSON document; amounts are decimal strings, moments carry their
    UTC offset (002 §6 SLA month of cloudbizz, 90 minutes counted)."""
    done = _run(
        "terms",
        "sla",
        "cloudbizz",
        "--month",
        "2026-10",
        "--outage",
        "2026-10-05T09:30:00+00:00/2026-10-05T11:00:00+00:00",
        "--monthly-amount",
        "120",
        "--json",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["counted_minutes"] == "90"
    assert isinstance(data["monthly_amount"], str) and data["monthly_amount"] == "120"
    assert data["counted_intervals"] == ["2026-10-05T09:30:00+00:00/2026-10-05T11:00:00+00:00"]


def test_jsonable_rules() -> None:
    """Decimals as strings (never floats), naive moments read as UTC, enums by value."""
    import datetime as dt
    import enum
    from decimal import Decimal

    class Colour(enum.Enum):
        RED = "red"

    naive = dt.datetime(2026, 1, 1, 12)  # noqa: DTZ001 (the case under test)
    assert cli_output.jsonable({"a": Decimal("1.10"), "t": naive, "c": Colour.RED, "f": 0.1}) == {
        "a": "1.10",
        "t": "2026-01-01T12:00:00+00:00",
        "c": "red",
        "f": "0.1",
    }


def test_regression_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    """`nuages offers list --json | head -c0`: the reader is gone before the command
    writes; the command ends without a traceback (EPIPE is the reader's choice)."""
    env = os.environ | {
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_OFFERS_DIR": str(ROOT / "offers"),
    }
    child = subprocess.Popen(
        [*NUAGES, "offers", "list", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # like `head` exiting at once
    err = child.stderr.read().decode()
    child.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert child.returncode in (0, 1), err


def test_progress_is_quiet_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a terminal the bar draws nothing; the summary still counts what was done."""
    with cli_output.progress("work", "item(s)", total=3) as bar:
        for n in range(3):
            bar(n + 1, 3, f"item {n}")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert bar.summary() == "3 of 3 item(s)"
    assert "[" in bar.line() and "3/3 item(s)" in bar.line()


def test_bash_completion_script_completes_commands(tmp_path: Path) -> None:
    """The script `scripts/install.sh` writes for bash completes `nuages billing me` to
    `meter` and `nuages ho` to `host` (the slices load only for the word completed)."""
    script = tmp_path / "nuages.bash"
    made = _run("completion", "bash", "--program", f"{sys.executable} -m nuages", tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    # The program is one shell word; here it is an interpreter and its arguments.
    script.write_text(
        made.stdout.replace(f"'{sys.executable} -m nuages'", f"{sys.executable} -m nuages")
    )
    probe = (
        f"source {script}; "
        "COMP_WORDS=(nuages billing me); COMP_CWORD=2; _nuages_completion; "
        'echo "${COMPREPLY[*]}"; '
        "COMP_WORDS=(nuages ho); COMP_CWORD=1; _nuages_completion; "
        'echo "${COMPREPLY[*]}"'
    )
    done = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.stdout.splitlines() == ["meter", "host"], done.stderr
    zsh = _run("completion", "zsh", tmp_path=tmp_path)
    assert zsh.stdout.startswith("#compdef nuages\n") and "complete_zsh" in zsh.stdout
    assert _run("completion", "fish", tmp_path=tmp_path).returncode == cli_output.EXIT_USAGE


def _doctor(tmp_path: Path, **env: str) -> tuple[int, dict[str, Any]]:
    base = os.environ | {
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_OFFERS_DIR": str(ROOT / "offers"),
        "NUAGES_SELLERS_DIR": str(tmp_path / "no-sellers"),
        **env,
    }
    base.pop("NUAGES_DATABASE_URL", None)
    done = subprocess.run(
        [*NUAGES, "doctor", "--json"], env=base, capture_output=True, text=True, timeout=120
    )
    data = json.loads(done.stdout)
    return done.returncode, {c["name"]: c for c in data["checks"]}


def test_doctor_says_what_to_fix(tmp_path: Path) -> None:
    """A data dir never migrated: the database check fails with "run `nuages db
    upgrade`"; the worker is not checked; no SMTP settings exist (said, not invented);
    offers on the EXAMPLE seller identity fail with how to write a seller file. Exit 1.
    After `nuages db upgrade` the database check passes and the metering, never run,
    is a warning."""
    (tmp_path / "data").mkdir()
    code, checks = _doctor(tmp_path, NUAGES_LIBVIRT_URI="test:///default")
    assert code == cli_output.EXIT_REFUSED
    assert set(checks) == {
        "libvirt",
        "acceleration",
        "data dir",
        "database",
        "worker",
        "smtp",
        "seller identity",
        "firewalls",
    }
    assert checks["firewalls"]["detail"] == "not checked: the database is not usable"
    assert checks["libvirt"]["status"] == "ok"
    assert checks["acceleration"]["status"] in ("ok", "warn")
    assert checks["data dir"]["status"] == "ok"  # test:/// runs no QEMU of its own
    assert checks["database"]["status"] == "fail"
    assert checks["database"]["fix"] == "run `nuages db upgrade`"
    assert checks["worker"]["detail"] == "not checked: the database is not usable"
    assert checks["smtp"]["status"] == "warn" and "no SMTP configured" in checks["smtp"]["detail"]
    assert checks["seller identity"]["status"] == "fail"
    assert "seller file" in checks["seller identity"]["fix"]

    assert _run("db", "upgrade", tmp_path=tmp_path).returncode == 0
    code, checks = _doctor(tmp_path, NUAGES_LIBVIRT_URI="test:///default")
    assert checks["database"]["status"] == "ok"
    assert checks["firewalls"]["status"] == "ok"
    assert checks["worker"]["status"] == "warn" and "never ran" in checks["worker"]["detail"]


def test_doctor_data_dir_closed_to_qemu(tmp_path: Path) -> None:
    """Under qemu:///system QEMU runs as its own user: a data dir inside a directory
    closed to others (mode 0700) fails, naming the directory and the `chmod o+x` fix."""
    import pwd

    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        pytest.skip("no libvirt-qemu user on this machine")
    if os.system("virsh -c qemu:///system version >/dev/null 2>&1") != 0:  # noqa: S605
        pytest.skip("qemu:///system does not answer here")
    closed = tmp_path / "closed"
    (closed / "data").mkdir(parents=True)
    closed.chmod(0o700)
    code, checks = _doctor(
        tmp_path, NUAGES_DATA_DIR=str(closed / "data"), NUAGES_LIBVIRT_URI="qemu:///system"
    )
    check = checks["data dir"]
    assert check["status"] == "fail", check
    assert "cannot reach" in check["detail"] and str(closed) in check["detail"], check
    assert "chmod o+x" in check["fix"], check
    assert code == cli_output.EXIT_REFUSED


def test_spinner_names_the_current_step_when_the_total_is_unknown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No total (a boot probe): a spinner, the step's name and the seconds elapsed,
    redrawn by the ticker thread in place; cleared when the work ends."""
    import time

    monkeypatch.setenv("NUAGES_PROGRESS", "always")
    with cli_output.progress("host add qemu:///system", ticker=True) as bar:
        bar.step("KVM/TCG probe")
        time.sleep(0.7)
    err = capsys.readouterr().err
    frames = [f for f in err.split("\r") if f.strip() and not f.startswith("\033[K")]
    assert len(frames) >= 2, err  # redrawn while the call said nothing
    assert all("host add qemu:///system" in f and "KVM/TCG probe" in f for f in frames)
    assert frames[0].lstrip()[0] in cli_output.SPINNER
    assert err.endswith("\r\033[K")


def test_regression_ctrl_c_inside_a_database_call_is_an_interrupt_not_a_crash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during psycopg's pool reset surfaced as sqlalchemy's ProgrammingError ("can't
    change 'autocommit' now"), its context the KeyboardInterrupt: the command printed a
    traceback and exited 1 instead of saying what was done and exiting 130."""
    from nuages import cli_output

    with pytest.raises(typer.Exit) as stopped:
        with cli_output.progress("metering", "hour(s)", interrupted="kept") as bar:
            bar.update(3, 10)
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise RuntimeError("can't change 'autocommit' now") from None
    # ``from None`` hides the context from tracebacks but keeps ``__context__``.
    assert stopped.value.exit_code == cli_output.EXIT_INTERRUPTED == 130
    assert (
        "interrupted: metering: 3 of 10 hour(s) done when stopped; kept" in capsys.readouterr().err
    )
    with pytest.raises(ValueError, match="a real failure"):
        with cli_output.progress("metering", "hour(s)"):
            raise ValueError("a real failure")
