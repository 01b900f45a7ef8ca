"""``nuages vm firewall ...`` and ``nuages vm network-cut/restore`` (issue 14) through the
real Typer app, on both databases; bad input exits 1 with one line naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from nuages.compute import schemas
from nuages.compute.net.models import FirewallRule, VmNetwork
from nuages.compute.services import vms
from nuages.kernel.db import Database
from tests.compute.test_service_cli import Ran, nuages  # noqa: F401
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401


def test_vm_firewall_and_cut_commands(
    nuages: Callable[..., Ran],  # noqa: F811
    cw: ComputeWorld,
    database: Database,
    tmp_path: Path,
) -> None:
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host()
    cw.image()
    with database.unit() as session:
        vm, op = vms.create_vm(
            session, CLI, cw.runtime, cw.offers,
            schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name="w"),
        )  # fmt: skip
    assert cw.run(op.id) == "succeeded"
    data = tmp_path / "cli-data"

    bad = nuages(database, data, "vm", "firewall", "add", vm.id, "--port", "22",
                 "--source", "10.0.0.1/8")  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.startswith("error: source:"), bad.stderr
    bad = nuages(database, data, "vm", "firewall", "add", vm.id, "--protocol", "gre")
    assert bad.returncode == 1 and bad.stderr.startswith("error: protocol:"), bad.stderr
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(FirewallRule)).scalar_one() == 0

    done = nuages(database, data, "vm", "firewall", "add", vm.id, "--port", "8000-8100",
                  "--source", "203.0.113.0/24", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rule = json.loads(done.stdout)
    assert (rule["port"], rule["source"], rule["state"]) == (
        "8000-8100",
        "203.0.113.0/24",
        "active",
    )
    listed = json.loads(nuages(database, data, "vm", "firewall", "list", vm.id, "--json").stdout)
    assert [r["id"] for r in listed["rules"]] == [rule["id"]]

    # 004 §7: an expected end already past (or not a moment) names the field, nothing cut.
    for until in ("2020-01-01T00:00:00Z", "tomorrow"):
        bad = nuages(database, data, "vm", "network-cut", vm.id, "--ground", "malicious-traffic",
                     "--reason", "scan", "--until", until)  # fmt: skip
        assert bad.returncode == 1 and bad.stderr.startswith("error: expected_end_at"), bad.stderr
    with database.unit() as session:
        assert session.get(VmNetwork, vm.id) is None
    cut = nuages(database, data, "vm", "network-cut", vm.id, "--ground", "malicious-traffic",
                 "--reason", "scan", "--until", "2099-01-01T12:00:00+01:00", "--json")  # fmt: skip
    assert cut.returncode == 0, cut.stderr
    assert json.loads(cut.stdout)["vm_ids"] == [vm.id]
    assert json.loads(cut.stdout)["expected_end_at"] == "2099-01-01T11:00:00Z"
    listed = json.loads(nuages(database, data, "vm", "firewall", "list", vm.id, "--json").stdout)
    assert (listed["cut"], listed["cut_expected_end_at"]) == (True, "2099-01-01T11:00:00Z")
    restored = nuages(database, data, "vm", "network-restore", vm.id, "--json")
    assert restored.returncode == 0 and json.loads(restored.stdout)["cut"] is False
    again = nuages(database, data, "vm", "network-restore", vm.id)
    assert again.returncode == 1 and "not cut" in again.stderr
    gone = nuages(database, data, "vm", "firewall", "delete", vm.id, rule["id"], "--json")
    assert gone.returncode == 0 and json.loads(gone.stdout)["rules"] == []
