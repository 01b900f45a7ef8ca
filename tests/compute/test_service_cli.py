"""The operator's commands on the test database: ``nuages host add/list``, ``nuages
image build-tiny/import/list``, ``nuages compute reconcile/recover``.

Most run in-process through the real ``nuages`` Typer app with the environment set as
an operator would (the CLI starts in ~3 s, mostly other slices' imports); one runs as
a real ``python -m nuages`` process to prove the commands are registered."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from nuages import cli
from nuages.compute.models import Host, Image
from nuages.kernel.db import Database
from nuages.kernel.settings import get_settings
from tests.compute.world import host_xml


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def nuages(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Ran]]:
    """Run ``nuages ARGS`` with NUAGES_DATABASE_URL and NUAGES_DATA_DIR set."""

    def run(database: Database, data_dir: Path, *args: str) -> Ran:
        monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
        monkeypatch.setenv("NUAGES_DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        result = CliRunner().invoke(cli.app, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    yield run
    get_settings.cache_clear()


def as_process(database: Database, data_dir: Path, *args: str) -> Ran:
    env = os.environ | {"NUAGES_DATABASE_URL": database.url, "NUAGES_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "nuages", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def test_host_add_and_list(nuages: Callable[..., Ran], database: Database, tmp_path: Path) -> None:
    """``host add`` connects, reads the size, runs the probe (no KVM in the test
    driver: tcg) and records the host; errors are one line and exit 1."""
    xml = host_xml(tmp_path / "h.xml", cpus=6, ram_mib=12288)
    data = tmp_path / "data"
    done = nuages(
        database, data, "host", "add", f"test://{xml}", "--site", "paris-1", "--country", "fr",
        "--name", "rack-1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "6 vCPU  12288 MiB" in done.stdout and "accel=tcg" in done.stdout
    with database.unit() as session:
        host = session.execute(select(Host)).scalar_one()
        sites = [(s.site, s.country) for s in host.sites]
        assert (host.name, sites, host.vcpus, host.ram_mib, host.accel, host.state) == (
            "rack-1", [("paris-1", "FR")], 6, 12288, "tcg", "active",
        )  # fmt: skip
    again = nuages(
        database, data, "host", "add", f"test://{xml}", "--site", "paris-1", "--country", "FR"
    )
    assert again.returncode == 1 and "already serves" in again.stderr
    bad = nuages(
        database, data, "host", "add", "qemu:///system; rm -rf /", "--site", "x", "--country", "FR"
    )
    assert bad.returncode == 1 and "not a libvirt URI" in bad.stderr
    listed = as_process(database, data, "host", "list")
    assert listed.returncode == 0 and "rack-1" in listed.stdout


def test_image_import_and_build_tiny(
    nuages: Callable[..., Ran], database: Database, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    cloud = tmp_path / "debian-12-genericcloud.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(cloud), "2G"], check=True)
    done = nuages(database, data, "image", "import", str(cloud), "--os", "debian-12")
    assert done.returncode == 0, done.stderr
    with database.unit() as session:
        image = session.execute(select(Image)).scalar_one()
        assert (image.name, image.os, image.boot_mode, image.min_disk_gib) == (
            "debian-12-genericcloud", "debian-12", "disk", 2,
        )  # fmt: skip
        assert Path(image.base_path) == data / "images" / "debian-12-genericcloud.qcow2"
    assert (data / "images" / "debian-12-genericcloud.qcow2").exists()
    twice = nuages(database, data, "image", "import", str(cloud), "--os", "debian-12")
    assert twice.returncode == 1 and "exists" in twice.stderr
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "1G"], check=True)
    refused = nuages(database, data, "image", "import", str(raw), "--os", "x", "--name", "raw")
    assert refused.returncode == 1 and "qcow2" in refused.stderr
    assert not (data / "images" / "raw.qcow2").exists()

    built = nuages(database, data, "image", "build-tiny")
    assert built.returncode == 0, built.stderr
    listed = nuages(database, data, "image", "list")
    assert "nuages-tiny" in listed.stdout and "boot=direct-kernel" in listed.stdout


def test_reconcile_and_recover_commands(
    nuages: Callable[..., Ran], database: Database, tmp_path: Path
) -> None:
    xml = host_xml(tmp_path / "h.xml", cpus=2, ram_mib=4096)
    data = tmp_path / "data"
    nuages(database, data, "host", "add", f"test://{xml}", "--site", "s", "--country", "BE")
    done = nuages(database, data, "compute", "reconcile")
    assert done.returncode == 0, done.stderr
    assert "1 host(s), 0 unreachable; 0 VM(s) checked" in done.stdout
    done = nuages(database, data, "compute", "recover")
    assert done.returncode == 0 and "0 operation(s) looked at" in done.stdout
