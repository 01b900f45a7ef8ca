"""A network cut as the terms file reads it (issue 14 item 2): who lifts it — staff, or
only the server's reinstall (``lifted_by``, 003 §7.3, 004 annexe 1) — and the cut's
expected duration (004 §7). On both databases, hosts simulated by libvirt's test driver."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.compute.net.models import VmNetwork
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.models import ContractHold
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor as HistoryActor
from nuages.kernel.clock import set_now
from nuages.notices.models import Notice
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


def test_000_s11_1_wrongful_reinstall_only_cut_is_lifted_by_staff_without_reinstall(
    api: TestClient, cw: ComputeWorld
) -> None:
    """A reinstall-only cut that staff declare manifestly wrong (000 §11.1) is lifted
    by them: the client does not reinstall to undo the provider's mistake (SPEC §17),
    and the hold lifted as wrongful gives the held time back."""
    vm_id, _owner = _optima_vm(api, cw)
    assert _cut(api, cw, vm_id, ground="security-risk") == 200
    r = api.post(
        f"/api/v1/vms/{vm_id}/network-restore",
        json={"wrongful": True, "reason": "false positive of the IDS"},
        headers=cw.world.admin().headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["cut"] is False and _cut_at(cw, vm_id) is None
    with cw.database.unit() as session:
        [hold] = session.execute(
            select(ContractHold).where(ContractHold.ground == "security-risk")
        ).scalars()
        assert hold.wrongful is True and hold.lifted_at is not None


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


# ---------------------------------------------------------------- expected end (004 §7)

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


def _written(cw: ComputeWorld, vm_id: str) -> tuple[object, list[str], list[str]]:
    """The VM's cut, its notices' kinds and its history actions."""
    with cw.database.unit() as session:
        kinds = session.execute(select(Notice.kind).where(Notice.object_id == vm_id)).scalars()
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == vm_id)
        ).scalars()
        found = list(kinds), [a for a in actions if a.startswith("vm.network")]
    return _cut_at(cw, vm_id), *found


def test_004_s7_cut_tells_its_expected_end_in_the_notice_and_the_status(
    api: TestClient, cw: ComputeWorld
) -> None:
    """004 §7: the client is told the suspension "ainsi que de la durée de cette
    suspension". A cut expected to end 3 days ahead (5 December 10:00 UTC = 11:00 in
    Paris, the contract's zone, CET): its notice says so, the VM's firewall status shows
    it, a restore clears it."""
    set_now(NOW)
    vm_id, owner = make_vm(api, cw)
    until = NOW + dt.timedelta(days=3)
    code = _cut(api, cw, vm_id, ground="malicious-traffic", expected_end_at="2026-12-05T10:00:00Z")
    assert code == 200
    with cw.database.unit() as session:
        (body,) = session.execute(
            select(Notice.body).where(Notice.object_id == vm_id, Notice.kind == "network_cut")
        ).scalars()
    assert "Durée prévue : jusqu'au 05/12/2026 11:00 (Europe/Paris)" in body
    assert "Expected duration: until 05/12/2026 11:00 (Europe/Paris)" in body
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert fw["cut"] is True
    assert dt.datetime.fromisoformat(fw["cut_expected_end_at"]) == until
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=cw.world.admin().headers)
    assert r.status_code == 200 and r.json()["cut_expected_end_at"] is None


def test_004_s7_cut_without_expected_end_says_it_is_not_known_yet(
    api: TestClient, cw: ComputeWorld
) -> None:
    """004 §7 ("dans la mesure du possible"): staff who do not know the end yet say so."""
    set_now(NOW)
    vm_id, owner = make_vm(api, cw)
    assert _cut(api, cw, vm_id, ground="malicious-traffic") == 200
    with cw.database.unit() as session:
        (body,) = session.execute(
            select(Notice.body).where(Notice.object_id == vm_id, Notice.kind == "network_cut")
        ).scalars()
    assert "Durée prévue : pas encore connue." in body
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert fw["cut"] is True and fw["cut_expected_end_at"] is None


def test_004_s7_expected_end_in_the_past_is_refused_nothing_written(
    api: TestClient, cw: ComputeWorld
) -> None:
    """An expected end already past is a 422 naming the field: no cut, no notice, no
    history, no hold."""
    set_now(NOW)
    vm_id, _owner = make_vm(api, cw)
    before = _written(cw, vm_id)
    for when in ("2026-12-02T09:59:00Z", "2026-12-02T10:00:00Z"):
        r = api.post(
            f"/api/v1/vms/{vm_id}/network-cut",
            json={"ground": "breach", "reason": "x", "expected_end_at": when},
            headers=cw.world.admin().headers,
        )
        assert r.status_code == 422 and "expected_end_at" in r.json()["detail"], r.text
    assert _written(cw, vm_id) == before and before[0] is None
    assert "network_cut" not in before[1]
    with cw.database.unit() as session:
        assert session.execute(select(ContractHold)).first() is None


def test_003_s7_3_reinstall_only_cut_takes_no_expected_end(
    api: TestClient, cw: ComputeWorld
) -> None:
    """A cut lifted only by a reinstall (004 annexe 1 ``security-risk``; the built-in
    ``compromised``, 003 §7.3) ends with the reinstall, not at a date: 422 naming the
    field and the clause, nothing written."""
    set_now(NOW)
    vm_id, _owner = _optima_vm(api, cw)
    before = _written(cw, vm_id)
    for ground, clause in (("security-risk", "004 annexe 1"), ("compromised", "003 §7.3")):
        r = api.post(
            f"/api/v1/vms/{vm_id}/network-cut",
            json={"ground": ground, "reason": "x", "expected_end_at": "2026-12-05T10:00:00Z"},
            headers=cw.world.admin().headers,
        )
        assert r.status_code == 422, r.text
        assert "expected_end_at" in r.json()["detail"] and clause in r.json()["detail"]
    assert _written(cw, vm_id) == before and before[0] is None


def test_004_s7_expected_end_given_to_the_hold_the_cut_opens(
    api: TestClient, cw: ComputeWorld
) -> None:
    """A cut on a contractual ground opens a network hold (000 §11.1): the hold carries
    the cut's expected end, as a hold placed by staff does (004 §7)."""
    set_now(NOW)
    vm_id, _owner = make_vm(api, cw)
    assert _cut(api, cw, vm_id, ground="breach", expected_end_at="2026-12-05T10:00:00Z") == 200
    with cw.database.unit() as session:
        (hold,) = session.execute(select(ContractHold)).scalars()
        assert hold.scope == "network"
        assert hold.expected_end_at == NOW + dt.timedelta(days=3)
