"""A network cut as the terms file reads it (issue 14 item 2): who lifts it — staff, or
only the server's reinstall (``lifted_by``, 003 §7.3, 004 annexe 1) — and the cut's
expected duration (004 §7). On both databases, hosts simulated by libvirt's test driver."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nuages.accounts.roles import Role
from nuages.compute.net.models import VmNetwork
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.service import Actor as HistoryActor
from nuages.terms.loader import check_files
from tests.compute.test_net_api import make_vm
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import Actor

OFFERS = Path(__file__).resolve().parents[2] / "offers"
OPTIMA = "optima-cloud-azure"
LIFTED_BY = (
    'lifted_by = "reinstall"            # 004 annexe 1: "dans l\'attente de la réinstallation '
    'par le CLIENT"\n'
)


@pytest.fixture
def api(client: TestClient, cw: ComputeWorld) -> TestClient:
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    return client


def _cut(api: TestClient, cw: ComputeWorld, vm_id: str, **body: object) -> int:
    r = api.post(
        f"/api/v1/vms/{vm_id}/network-cut",
        json={"reason": "compromised CMS", **body},
        headers=cw.world.admin().headers,
    )
    return int(r.status_code)


def _optima_vm(api: TestClient, cw: ComputeWorld) -> tuple[str, Actor]:
    """A running VM of a fresh client on Optima (004 §4: its French site)."""
    if not cw._hosts:
        cw.host(site="azure-france-central", country="FR")
        cw.image()
    return make_vm(api, cw, offer=OPTIMA, flavour="azure-b2s")


def _cut_at(cw: ComputeWorld, vm_id: str) -> object:
    with cw.database.unit() as session:
        net = session.get(VmNetwork, vm_id)
        return None if net is None else net.cut_at


def test_004_annexe_1_security_risk_cut_lifted_only_by_the_clients_reinstall(
    api: TestClient, cw: ComputeWorld
) -> None:
    """004 annexe 1 ("suspendre la connexion … dans l'attente de la réinstallation par
    le CLIENT"): Optima's ``security-risk`` ground says ``lifted_by = "reinstall"``, so
    staff cannot lift the cut (409 citing the clause, the VM stays cut) and the reinstall
    does."""
    vm_id, owner = _optima_vm(api, cw)
    assert _cut(api, cw, vm_id, ground="security-risk") == 200
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert (fw["cut"], fw["until_reinstall"]) == (True, True)
    admin = cw.world.admin()
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers)
    assert r.status_code == 409, r.text
    assert "004 annexe 1" in r.json()["detail"] and "reinstalled" in r.json()["detail"]
    assert _cut_at(cw, vm_id) is not None
    r = api.post(f"/api/v1/vms/{vm_id}/reinstall", headers=owner.headers)
    assert r.status_code == 202, r.text
    assert cw.run(r.json()["operation"]["id"]) == "succeeded"
    assert _cut_at(cw, vm_id) is None
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert (fw["cut"], fw["until_reinstall"]) == (False, False)


def test_004_annexe_1_ground_without_lifted_by_is_lifted_by_staff(
    api: TestClient, cw: ComputeWorld, tmp_path: Path
) -> None:
    """The contract's own terms decide (read for the client, SPEC §17): a contract
    formed on Optima's terms before they said ``lifted_by`` has a ``security-risk`` cut
    that staff lift (the default, ``staff``)."""
    old = (OFFERS / f"{OPTIMA}.toml").read_text()
    assert LIFTED_BY in old
    folder = tmp_path / "old-offers"
    folder.mkdir()
    (folder / f"{OPTIMA}.toml").write_text(old.replace(LIFTED_BY, ""))
    registry = OfferRegistry.from_directory(folder)
    client_id = cw.world.client()
    with cw.database.unit() as session:
        contract = contracts.create_contract(
            session,
            CLI,
            registry,
            contract_schemas.ContractCreate(
                offer_id=OPTIMA, client_id=client_id, accept_terms=True
            ),
        )
        contracts.transition(
            session, contract, ContractState.ACTIVE, HistoryActor.system("test"), "formed"
        )
        contract_id = contract.id
    cw.host(site="azure-france-central", country="FR")
    cw.image()
    owner = cw.world.user(Role.CLIENT_OWNER, client_id)
    r = api.post(
        "/api/v1/vms",
        json={"contract_id": contract_id, "flavour": "azure-b2s", "image": "base", "name": "a"},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    assert cw.run(r.json()["operation"]["id"]) == "succeeded"
    vm_id = r.json()["vm"]["id"]
    assert _cut(api, cw, vm_id, ground="security-risk") == 200
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert (fw["cut"], fw["until_reinstall"]) == (True, False)
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=cw.world.admin().headers)
    assert r.status_code == 200 and r.json()["cut"] is False
    assert _cut_at(cw, vm_id) is None


def test_003_s7_3_lifted_by_other_than_staff_or_reinstall_is_refused(tmp_path: Path) -> None:
    """``lifted_by`` is ``staff`` or ``reinstall`` (003 §7.3, 004 annexe 1): ``never``
    is one precise problem naming the key and the values allowed."""
    text = (OFFERS / "virtualsr-svp.toml").read_text()
    assert text.count('lifted_by = "reinstall"') == 1
    file = tmp_path / "never.toml"
    file.write_text(text.replace('lifted_by = "reinstall"', 'lifted_by = "never"'))
    problems = check_files([file])
    assert len(problems) == 1, [str(p) for p in problems]
    (problem,) = problems
    assert problem.path.startswith("suspension.grounds[") and problem.path.endswith("lifted_by")
    assert "never" in problem.message
    assert "staff" in problem.expected and "reinstall" in problem.expected
    assert text.splitlines()[problem.line - 1].startswith("lifted_by")
