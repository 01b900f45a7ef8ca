"""The firewall and network-measure routes over the real app (issue 14), on both
databases, hosts simulated by libvirt's test driver (nothing to enforce there: the
policy the host would get is read back with ``enforce.plan_for``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute import schemas as compute_schemas
from nuages.compute.models import IpAddress, Vm
from nuages.compute.net import enforce, rules
from nuages.compute.net.models import FirewallRule, QuarantinedAddress, VmNetwork
from nuages.compute.services import ipam
from nuages.history.models import HistoryEntry
from nuages.notices.models import Notice
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import Actor

PROBLEM = "application/problem+json"


@pytest.fixture
def api(client: TestClient, cw: ComputeWorld) -> TestClient:
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    return client


def make_vm(
    api: TestClient, cw: ComputeWorld, offer: str = "virtualsr-svp", flavour: str = "svp-s"
) -> tuple[str, Actor]:
    """A running VM of a fresh client on ``offer`` (test-driver host of its site)."""
    client_id = cw.world.client()
    contract = cw.contract(client_id, offer_id=offer)
    if not cw._hosts:
        cw.host(site="paris-1", country="FR")
        cw.image()
    owner = cw.world.user(Role.CLIENT_OWNER, client_id)
    r = api.post(
        "/api/v1/vms",
        json={"contract_id": contract, "flavour": flavour, "image": "base", "name": "web-1"},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    assert cw.run(r.json()["operation"]["id"]) == "succeeded"
    return r.json()["vm"]["id"], owner


def plan(cw: ComputeWorld, vm_id: str) -> enforce.HostPlan:
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        found = enforce.plan_for(session, vm)
        assert found is not None
        return found


def count(cw: ComputeWorld, model: Any) -> int:
    with cw.database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


RULE = {"direction": "in", "protocol": "tcp", "port": "22", "source": "203.0.113.0/24",
        "action": "accept"}  # fmt: skip


def test_002_s3_6_rules_listed_enforced_and_removed(api: TestClient, cw: ComputeWorld) -> None:
    """002 §3.6: the client adds allowed ports and sources; the host's policy follows;
    003 §7.4/§7.5: SMTP and registered-only uses blocked by the offer's terms; the
    flavour's bandwidth (000 §1) travels with the plan."""
    vm_id, owner = make_vm(api, cw)
    h = owner.headers
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=h).json()
    assert (fw["default_in"], fw["smtp_blocked"], fw["rules"]) == ("accept", True, [])
    r = api.post(f"/api/v1/vms/{vm_id}/firewall/rules", json=RULE, headers=h)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["port_from"], rule["cidr"], rule["state"]) == (22, "203.0.113.0/24", "active")
    r = api.post(
        f"/api/v1/vms/{vm_id}/firewall/rules",
        json=RULE | {"source": "0.0.0.0/0", "action": "drop", "priority": 200},
        headers=h,
    )
    assert r.status_code == 201, r.text
    p = plan(cw, vm_id)
    assert p.forwards == {22: api.get(f"/api/v1/vms/{vm_id}", headers=h).json()["ssh_port"]}
    assert p.policy.verdict_in("203.0.113.9", 22) is rules.Verdict.ACCEPT
    assert p.policy.verdict_in("198.51.100.1", 22) is rules.Verdict.DROP
    assert {25, 465, 587, 6660, 3128} <= {r.port_from for r in p.policy.egress_blocks()}
    assert p.bandwidth_mbps == 100  # virtualsr-svp flavour svp-s

    r = api.delete(f"/api/v1/vms/{vm_id}/firewall/rules/{rule['id']}", headers=h)
    assert r.status_code == 200, r.text
    assert [x["action"] for x in r.json()["rules"]] == ["drop"]
    with cw.database.unit() as session:
        actions = set(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == vm_id)
            ).scalars()
        )
    assert {"vm.firewall.rule_add", "vm.firewall.rule_delete"} <= actions


def test_003_s7_4_mail_server_declared_by_staff_may_send(api: TestClient, cw: ComputeWorld) -> None:
    """003 §7.4: only a VM staff declared a mail server sends SMTP; 003 §7.5: a
    registered use opens its ports. A client cannot declare it."""
    vm_id, owner = make_vm(api, cw)
    body = {"mail_server": True, "registered": ["irc"]}
    r = api.post(f"/api/v1/vms/{vm_id}/network", json=body, headers=owner.headers)
    assert r.status_code == 403
    admin = cw.world.admin()
    r = api.post(f"/api/v1/vms/{vm_id}/network", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["smtp_blocked"], r.json()["registered"]) == (False, ["irc"])
    ports = {x.port_from for x in plan(cw, vm_id).policy.egress_blocks()}
    assert 25 not in ports and 6660 not in ports and 3128 in ports


def test_003_s7_1_1_firewall_server_rule_waits_for_staff_approval(
    api: TestClient, cw: ComputeWorld
) -> None:
    """003 §7.1.1: on a firewall server (SVP-PF) a client's new rule is pending, not
    enforced, until staff approve it; a removal stays enforced until approved too."""
    vm_id, owner = make_vm(api, cw)
    admin = cw.world.admin()
    r = api.post(
        f"/api/v1/vms/{vm_id}/network", json={"firewall_server": True}, headers=admin.headers
    )
    assert r.json()["approval_needed"] is True
    r = api.post(f"/api/v1/vms/{vm_id}/firewall/rules", json=RULE, headers=owner.headers)
    assert r.json()["state"] == "pending"
    assert plan(cw, vm_id).policy.rules == ()
    rule_id = r.json()["id"]
    r = api.post(f"/api/v1/vms/{vm_id}/firewall/rules/{rule_id}/approve", headers=owner.headers)
    assert r.status_code == 403
    r = api.post(f"/api/v1/vms/{vm_id}/firewall/rules/{rule_id}/approve", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert len(plan(cw, vm_id).policy.rules) == 1
    r = api.delete(f"/api/v1/vms/{vm_id}/firewall/rules/{rule_id}", headers=owner.headers)
    assert [x["state"] for x in r.json()["rules"]] == ["removal_pending"]
    assert len(plan(cw, vm_id).policy.rules) == 1  # still enforced
    api.post(f"/api/v1/vms/{vm_id}/firewall/rules/{rule_id}/approve", headers=admin.headers)
    assert plan(cw, vm_id).policy.rules == ()


BAD_RULES = [
    ({"source": "10.0.0.300/8"}, "source"),
    ({"source": "10.0.0.1/8"}, "source"),
    ({"port": "70000"}, "port"),
    ({"port": "90-80"}, "port"),
    ({"port": "ssh"}, "port"),
    ({"protocol": "gre"}, "protocol"),
    ({"direction": "sideways"}, "direction"),
    ({"protocol": "icmp"}, "port"),  # icmp with a port
    ({"priority": 99999}, "priority"),
]


@pytest.mark.parametrize(
    ("change", "field"), BAD_RULES, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_RULES)]
)
def test_bad_rule_is_a_4xx_naming_the_field_and_writes_nothing(
    api: TestClient, cw: ComputeWorld, change: dict[str, Any], field: str
) -> None:
    vm_id, owner = make_vm(api, cw)
    r = api.post(f"/api/v1/vms/{vm_id}/firewall/rules", json=RULE | change, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert field in r.text
    assert count(cw, FirewallRule) == 0


def test_rule_on_another_clients_vm_is_a_404(api: TestClient, cw: ComputeWorld) -> None:
    vm_id, _owner = make_vm(api, cw)
    other = cw.world.user(Role.CLIENT_OWNER, cw.world.client("Other"))
    r = api.post(f"/api/v1/vms/{vm_id}/firewall/rules", json=RULE, headers=other.headers)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert api.get(f"/api/v1/vms/{vm_id}/firewall", headers=other.headers).status_code == 404
    assert count(cw, FirewallRule) == 0


def test_000_s11_1_cut_all_of_a_clients_vms_recorded_notified_lifted(
    api: TestClient, cw: ComputeWorld
) -> None:
    """000 §6, §11.1: staff block one VM or all of the client's VMs at once, with the
    ground; the owners are notified; staff lift it. A client cannot cut."""
    vm_id, owner = make_vm(api, cw)
    body = {"ground": "malicious-traffic", "reason": "SYN flood", "all_of_client": True}
    assert (
        api.post(f"/api/v1/vms/{vm_id}/network-cut", json=body, headers=owner.headers).status_code
        == 403
    )
    admin = cw.world.admin()
    r = api.post(f"/api/v1/vms/{vm_id}/network-cut", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["vm_ids"] == [vm_id]
    assert plan(cw, vm_id).policy.cut is True
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert (fw["cut"], fw["cut_ground"], fw["until_reinstall"]) == (
        True,
        "malicious-traffic",
        False,
    )
    with cw.database.unit() as session:
        kinds = list(
            session.execute(select(Notice.kind).where(Notice.object_id == vm_id)).scalars()
        )
    assert "network_cut" in kinds
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers)
    assert r.status_code == 200 and r.json()["cut"] is False
    assert plan(cw, vm_id).policy.cut is False
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers)
    assert r.status_code == 409


def test_003_s7_3_compromised_server_cut_lifted_only_by_reinstall(
    api: TestClient, cw: ComputeWorld
) -> None:
    """003 §7.3: a compromised server's connection stays cut until it is reinstalled;
    staff cannot lift it by hand, the reinstall does."""
    vm_id, owner = make_vm(api, cw)
    admin = cw.world.admin()
    body = {"ground": "compromised", "reason": "rootkit found"}
    assert (
        api.post(f"/api/v1/vms/{vm_id}/network-cut", json=body, headers=admin.headers).status_code
        == 200
    )
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers)
    assert r.status_code == 409 and "reinstalled" in r.json()["detail"]
    r = api.post(f"/api/v1/vms/{vm_id}/reinstall", headers=owner.headers)
    assert r.status_code == 202, r.text
    assert cw.run(r.json()["operation"]["id"]) == "succeeded"
    fw = api.get(f"/api/v1/vms/{vm_id}/firewall", headers=owner.headers).json()
    assert fw["cut"] is False
    with cw.database.unit() as session:
        net = session.get(VmNetwork, vm_id)
        assert net is not None and net.cut_at is None


def test_cut_ground_from_the_contracts_suspension_grounds(
    api: TestClient, cw: ComputeWorld
) -> None:
    """A contractual ground (the offer's suspension grounds, as holds name them) is
    accepted with its clause; an unknown ground is a 422 naming the field."""
    vm_id, _owner = make_vm(api, cw)
    admin = cw.world.admin()
    r = api.post(
        f"/api/v1/vms/{vm_id}/network-cut",
        json={"ground": "security-risk", "reason": "unpatched CMS"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    r = api.post(
        f"/api/v1/vms/{vm_id}/network-cut",
        json={"ground": "bad-mood", "reason": "x"},
        headers=admin.headers,
    )
    assert r.status_code == 422 and "ground" in r.json()["detail"]


def test_003_s7_9_new_ip_only_where_the_offer_provides_for_it(
    api: TestClient, cw: ComputeWorld
) -> None:
    """003 §7.9 read for the client: an offer without the clause (isstar-cloud) gives
    the provider no right to move a server to another address."""
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host()
    cw.image()
    owner = cw.world.user(Role.CLIENT_OWNER, client_id)
    r = api.post(
        "/api/v1/vms",
        json={"contract_id": contract, "flavour": "vm-s", "image": "base", "name": "w"},
        headers=owner.headers,
    )
    vm_id = r.json()["vm"]["id"]
    admin = cw.world.admin()
    r = api.post(f"/api/v1/vms/{vm_id}/new-ip", json={"reason": "report"}, headers=admin.headers)
    assert r.status_code == 409 and "003 §7.9" in r.json()["detail"]
    assert count(cw, QuarantinedAddress) == 0


def test_003_s7_9_new_ip_quarantines_the_old_address(cw: ComputeWorld) -> None:
    """003 §7.9: after a misuse report the VM moves to a fresh address of its pool; the
    old one is quarantined and no VM gets it meanwhile."""
    from nuages.compute.net import service

    client_id = cw.world.client()
    contract_id = cw.contract(client_id, offer_id="virtualsr-svp")
    host = cw.host(site="paris-1", country="FR")
    image_id = cw.image().id
    with cw.database.unit() as session:
        pool = ipam.create_pool(
            session,
            CLI,
            compute_schemas.IpPoolCreate(
                name="p", network="nuages-br0", site="paris-1", cidr="192.0.2.0/29",
                gateway="192.0.2.1", first="192.0.2.2", last="192.0.2.4",
            ),
        )  # fmt: skip
        vm = Vm(
            id="00000000-0000-4000-8000-000000000001", client_id=client_id,
            contract_id=contract_id, name="a",
            flavour_id="svp-s", image_id=image_id, host_id=host.id, vcpus=1, ram_mib=64,
            disk_gib=1, vm_state="running", power_state="running",
        )  # fmt: skip
        session.add(vm)
        session.flush()
        first = ipam.lease_address(session, session.get(type(host), host.id), vm)  # type: ignore[arg-type]
    assert first == "192.0.2.2"
    from nuages.compute.net import abuse

    with cw.database.unit() as session:
        report = abuse.record(
            session,
            CLI,
            kind="misuse",
            source="abuse desk",
            evidence="",
            received_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            vm_id=vm.id,
        )
        report_id = report.id
    with cw.database.unit() as session:
        _vm, old, new = service.new_ip(
            session,
            CLI,
            cw.runtime,
            vm.id,
            quarantine_days=30,
            reason="report 117",
            report_id=report_id,
        )
    assert (old, new) == ("192.0.2.2", "192.0.2.3")
    # The next VM of the pool does not get the quarantined address either.
    with cw.database.unit() as session:
        second = Vm(
            id="00000000-0000-4000-8000-000000000002", client_id=client_id,
            contract_id=contract_id, name="b", flavour_id="svp-s", image_id=image_id,
            host_id=host.id, vcpus=1, ram_mib=64, disk_gib=1, vm_state="running",
            power_state="running",
        )  # fmt: skip
        session.add(second)
        session.flush()
        assert ipam.lease_address(session, session.get(type(host), host.id), second) == (  # type: ignore[arg-type]
            "192.0.2.4"
        )
    with cw.database.unit() as session:
        assert session.execute(select(QuarantinedAddress.address)).scalars().all() == [old]
        held = session.execute(select(IpAddress.address).where(IpAddress.pool_id == pool.id))
        assert sorted(held.scalars().all()) == ["192.0.2.3", "192.0.2.4"]


def test_network_ground_of_no_contract_clause_places_no_hold(
    api: TestClient, cw: ComputeWorld
) -> None:
    """``malicious-traffic`` is a network measure under virtualsr-svp (not one of its
    suspension grounds): the cut places no contract hold, and restoring it "as
    wrongful" is a 409 (no suspension to credit, 000 §11.1); restored plainly it is."""
    from nuages.contracts.models import ContractHold

    vm_id, _owner = make_vm(api, cw)
    admin = cw.world.admin()
    body = {"ground": "malicious-traffic", "reason": "scan"}
    r = api.post(f"/api/v1/vms/{vm_id}/network-cut", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert count(cw, ContractHold) == 0
    r = api.post(
        f"/api/v1/vms/{vm_id}/network-restore", json={"wrongful": True}, headers=admin.headers
    )
    assert r.status_code == 409 and "000 §11.1" in r.json()["detail"]
    r = api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers)
    assert r.status_code == 200 and r.json()["cut"] is False


def test_003_s8_contractual_ground_cut_shares_one_hold_lifted_with_the_last_vm(
    api: TestClient, cw: ComputeWorld
) -> None:
    """A contractual ground (virtualsr-svp ``breach``, 003 §8; its ``security-risk`` is
    lifted only by a reinstall, 003 §7.3) cut on all of a client's VMs: one network hold
    for the contract, kept while any VM is still cut, lifted when the last is restored;
    the contract is never suspended."""
    from nuages.contracts.models import Contract, ContractHold

    vm_id, owner = make_vm(api, cw)
    r = api.post(
        "/api/v1/vms",
        json={"contract_id": _contract_of(cw, vm_id), "flavour": "svp-s", "image": "base",
              "name": "web-2"},
        headers=owner.headers,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    assert cw.run(r.json()["operation"]["id"]) == "succeeded"
    second = r.json()["vm"]["id"]
    admin = cw.world.admin()
    body = {"ground": "breach", "reason": "botnet", "all_of_client": True}
    r = api.post(f"/api/v1/vms/{vm_id}/network-cut", json=body, headers=admin.headers)
    assert r.status_code == 200 and sorted(r.json()["vm_ids"]) == sorted([vm_id, second])
    with cw.database.unit() as session:
        (hold,) = session.execute(select(ContractHold)).scalars()
        assert hold.scope == "network" and hold.lifted_at is None
        contract = session.get(Contract, hold.contract_id)
        assert contract is not None and contract.state == "active"
    assert (
        api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers).status_code == 200
    )
    with cw.database.unit() as session:
        (hold,) = session.execute(select(ContractHold)).scalars()
        assert hold.lifted_at is None  # the second VM is still cut
    assert (
        api.post(f"/api/v1/vms/{second}/network-restore", headers=admin.headers).status_code == 200
    )
    with cw.database.unit() as session:
        (hold,) = session.execute(select(ContractHold)).scalars()
        assert hold.lifted_at is not None


def _contract_of(cw: ComputeWorld, vm_id: str) -> str:
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        return vm.contract_id


def test_regression_user_networking_firewall_on_remote_host_refused_and_flagged(
    api: TestClient, cw: ComputeWorld
) -> None:
    """nftables runs on this machine only: a user-networking guest on a ``qemu+ssh://``
    host would have its rules stored and never enforced. A new rule there is a 409 that
    names the host (nothing written) and ``nuages doctor`` flags the VM's stored rules;
    a rule on the local kind of host is accepted as before."""
    from types import SimpleNamespace

    from nuages.cli_doctor import check_firewalls
    from nuages.compute.models import Host

    vm_id, owner = make_vm(api, cw)
    url = f"/api/v1/vms/{vm_id}/firewall/rules"
    assert api.post(url, json=RULE, headers=owner.headers).status_code == 201
    settings = SimpleNamespace(
        effective_database_url=cw.database.engine.url.render_as_string(hide_password=False)
    )
    assert [c.status for c in check_firewalls(settings)] == ["ok"]
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        host = session.get(Host, vm.host_id)
        assert host is not None
        host.uri = "qemu+ssh://hv9.example/system"
    before = count(cw, FirewallRule)
    r = api.post(url, json=RULE, headers=owner.headers)
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert "qemu+ssh://hv9.example/system" in r.json()["detail"]
    assert count(cw, FirewallRule) == before
    (check,) = check_firewalls(settings)
    assert check.status == "warn" and "web-1" in check.detail and "Remote hosts" in check.fix
