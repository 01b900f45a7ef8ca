"""``nuages metrics collect|rollup|show`` and ``nuages console open`` (issue 14), in
process through the real Typer app, on libvirt's shared ``test:///default`` host (the
command's own connection sees the domains the test created)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nuages.compute import schemas
from nuages.compute.services import vms
from tests.compute.test_service_cli import Ran, nuages  # noqa: F401
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


def _vm_on_default(cw: ComputeWorld) -> str:
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host(uri="test:///default", name="default")
    cw.image()
    owner = cw.owner(client_id)[1]
    with cw.database.unit() as session:
        vm, op = vms.create_vm(
            session,
            owner,
            cw.runtime,
            cw.offers,
            schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name="cli-1"),
        )
        vm_id, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"
    return vm_id


def test_metrics_and_console_commands(
    cw: ComputeWorld,
    nuages: Callable[..., Ran],  # noqa: F811
) -> None:
    """collect writes this minute's row (--json: one document), show reads it back,
    rollup runs, console open prints a single-use page URL."""
    vm_id = _vm_on_default(cw)
    data_dir = cw.runtime.settings.data_dir
    ran = nuages(cw.database, data_dir, "metrics", "collect", "--json")
    assert ran.returncode == 0, ran.stderr
    report: dict[str, Any] = json.loads(ran.stdout)
    assert report["rows_written"] == 1 and report["unreachable"] == []
    ran = nuages(cw.database, data_dir, "metrics", "show", vm_id, "--json")
    assert ran.returncode == 0, ran.stderr
    assert len(json.loads(ran.stdout)["points"]) == 1
    ran = nuages(cw.database, data_dir, "metrics", "show", vm_id, "--from", "yesterday")
    assert ran.returncode == 2 and "ISO 8601" in ran.stderr
    ran = nuages(cw.database, data_dir, "metrics", "rollup", "--json")
    assert ran.returncode == 0 and "minutes_pruned" in json.loads(ran.stdout)
    ran = nuages(cw.database, data_dir, "console", "open", vm_id, "--json")
    assert ran.returncode == 0, ran.stderr
    opened = json.loads(ran.stdout)
    assert opened["page_url"].startswith("http://127.0.0.1:8700/console#kind=serial&token=nuc_")
    assert opened["url"].startswith("ws://127.0.0.1:8700/api/v1/console/ws?token=nuc_")
