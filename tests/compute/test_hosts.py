"""Hosts are no longer write-once (issue 9.4): one machine serves several sites, staff
change, drain, disable, enable and remove hosts, through the services, the API and the
CLI, on libvirt's test driver (the same driver code as real hosts) and both databases.

Sites of the shipped offers: isstar-cloud (000) runs in waterloo-1 (BE), cloudbizz
(001 §5) in interxion-zav-1/-2 (BE), optima-cloud-azure (004 §4) in France.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute import schemas
from nuages.compute.models import Host, Vm, VmOutage
from nuages.compute.services import hosts, reconcile, vms
from nuages.compute.states import Action, HostState
from nuages.history.models import HistoryEntry
from nuages.kernel import migrate
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.errors import CapacityExhausted, Conflict, Forbidden, InvalidTransition
from tests.compute.test_service_cli import Ran, nuages  # noqa: F401
from tests.compute.world import CLI, ComputeWorld, cw_fixture, host_xml  # noqa: F401
from tests.conftest import fresh_postgres_database

PROBLEM = "application/problem+json"


def client_with(cw: ComputeWorld, offer_id: str) -> tuple[str, Principal]:
    client_id = cw.world.client()
    return cw.contract(client_id, offer_id), cw.owner(client_id)[1]


def create(cw: ComputeWorld, who: Principal, contract: str, name: str, flavour: str = "vm-s") -> Vm:
    body = schemas.VmCreate(contract_id=contract, flavour=flavour, image="base", name=name)
    with cw.database.unit() as session:
        vm, op = vms.create_vm(session, who, cw.runtime, cw.offers, body)
        op_id = op.id
    assert cw.run(op_id) == "succeeded"
    return vm


def host_row(cw: ComputeWorld, host_id: str) -> Host:
    with cw.database.unit() as session:
        host = session.get(Host, host_id)
        assert host is not None
        host.sites  # noqa: B018 - loaded before the session closes
        return host


def actions(cw: ComputeWorld, object_id: str) -> list[str]:
    with cw.database.unit() as session:
        return list(
            session.execute(
                select(HistoryEntry.action)
                .where(HistoryEntry.object_id == object_id)
                .order_by(HistoryEntry.seq)
            ).scalars()
        )


def test_regression_one_uri_serves_several_sites(cw: ComputeWorld) -> None:
    """A second site on the same libvirt URI was refused. Now the machine is one host
    serving both: a waterloo-1 offer's VM and a Zaventem offer's VM land on it, and its
    capacity is counted once (an 8-vCPU host at ratio 4 holds 32 vCPU across sites)."""
    cw.image()
    host = cw.host(site="waterloo-1", country="BE", cpus=8)
    with cw.database.unit() as session:
        hosts.add_sites(session, CLI, host.id, [("interxion-zav-1", "BE")])
    assert host_row(cw, host.id).site_ids == ["interxion-zav-1", "waterloo-1"]
    isstar, isstar_owner = client_with(cw, "isstar-cloud")
    bizz, bizz_owner = client_with(cw, "cloudbizz")
    assert create(cw, isstar_owner, isstar, "a").host_id == host.id
    assert create(cw, bizz_owner, bizz, "b", "server-m").host_id == host.id
    with cw.database.unit() as session:
        with pytest.raises(Conflict):  # already served: said, not silently kept
            hosts.add_sites(session, CLI, host.id, [("waterloo-1", "BE")])
    assert actions(cw, host.id) == ["host.add", "host.update"]


def test_regression_second_host_add_on_a_uri_adds_the_site(
    nuages: Callable[..., Ran],  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    """`nuages host add qemu:///system --site …` a second time failed ("exists"); it now
    adds the site to that host (no second probe), the country taken from the offers;
    `--all-sites` serves every site the offers name (a single-machine install)."""
    xml = host_xml(tmp_path / "h.xml", cpus=4, ram_mib=8192)
    data = tmp_path / "data"
    uri = f"test://{xml}"
    first = nuages(database, data, "host", "add", uri, "--site", "waterloo-1", "--name", "one")
    assert first.returncode == 0, first.stderr
    second = nuages(database, data, "host", "add", uri, "--site", "interxion-zav-1")
    assert second.returncode == 0, second.stderr
    assert "sites added" in second.stdout
    assert "sites=interxion-zav-1/BE,waterloo-1/BE" in second.stdout
    unknown = nuages(database, data, "host", "add", uri, "--site", "nowhere-1")
    assert unknown.returncode == 1 and "give its --country" in unknown.stderr
    every = nuages(database, data, "host", "add", uri, "--all-sites")
    assert every.returncode == 0, every.stderr
    with database.unit() as session:
        [host] = session.execute(select(Host)).scalars().all()
        served = {(s.site, s.country) for s in host.sites}
    # Every offer's site, each with the country its terms give it.
    assert {("waterloo-1", "BE"), ("interxion-zav-2", "BE"), ("ikoula-fr", "FR")} <= served
    assert ("azure-france-central", "FR") in served
    again = nuages(database, data, "host", "add", uri, "--all-sites")
    assert again.returncode == 1 and "already serves" in again.stderr


def test_regression_hosts_can_be_drained_disabled_enabled_removed(cw: ComputeWorld) -> None:
    """Hosts could not be drained, disabled or removed. Drain moves nothing but stops
    new placements; disable also stops watching (power unknown); enable brings it back;
    remove refuses while a VM is on it, then frees the URI for a new add."""
    cw.image()
    host = cw.host()
    contract, owner = client_with(cw, "isstar-cloud")
    vm = create(cw, owner, contract, "web-1")

    with cw.database.unit() as session:
        assert hosts.set_state(session, CLI, host.id, HostState.DRAINING).state == "draining"
    with pytest.raises(CapacityExhausted):
        create(cw, owner, contract, "web-2")
    assert reconcile.run_pass(cw.database, cw.runtime).vms_checked == 1  # still watched
    with cw.database.unit() as session:
        assert session.get(Vm, vm.id).vm_state == "running"  # type: ignore[union-attr]

    with cw.database.unit() as session:
        hosts.set_state(session, CLI, host.id, HostState.DISABLED)
    with cw.database.unit() as session:
        assert session.get(Vm, vm.id).power_state == "unknown"  # type: ignore[union-attr]
    assert reconcile.run_pass(cw.database, cw.runtime).hosts == 0  # not looked at

    with cw.database.unit() as session:
        hosts.set_state(session, CLI, host.id, HostState.ACTIVE)
        with pytest.raises(InvalidTransition):
            hosts.set_state(session, CLI, host.id, HostState.ACTIVE)
    assert create(cw, owner, contract, "web-2").host_id == host.id

    with cw.database.unit() as session, pytest.raises(Conflict, match="2 VM"):
        hosts.remove(session, CLI, host.id)
    for name in ("web-1", "web-2"):
        with cw.database.unit() as session:
            row = session.execute(select(Vm).where(Vm.name == name)).scalar_one()
            _vm, op = vms.request(session, owner, cw.runtime, row.id, Action.DELETE)
            op_id = op.id
        assert cw.run(op_id) == "succeeded"
    with cw.database.unit() as session:
        hosts.remove(session, CLI, host.id)
    with cw.database.unit() as session:
        assert session.get(Host, host.id) is None
        assert session.get(Vm, vm.id).host_id is None  # type: ignore[union-attr]
    assert actions(cw, host.id) == [
        "host.add", "host.drain", "host.disable", "host.enable", "host.remove",
    ]  # fmt: skip
    again = cw.host(uri=host.uri, name=host.name)  # the URI is free again
    assert again.id != host.id


def test_outage_on_a_disabled_host_starts_when_it_was_last_seen(cw: ComputeWorld) -> None:
    """A disabled host is not looked at; a VM found down once it is enabled again gets
    an outage from the last pass that saw it up (SPEC §17: the client's favour). Hand
    count: seen up 09:00, disabled 09:05, destroyed meanwhile, enabled and seen down
    10:00 → outage from 09:00, cause "destroyed"."""
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    set_now(t0 - dt.timedelta(minutes=1))
    cw.image()
    host = cw.host()
    contract, owner = client_with(cw, "isstar-cloud")
    vm = create(cw, owner, contract, "web-1")
    set_now(t0)
    reconcile.run_pass(cw.database, cw.runtime)
    set_now(t0 + dt.timedelta(minutes=5))
    with cw.database.unit() as session:
        hosts.set_state(session, CLI, host.id, HostState.DISABLED)
    cw.runtime.hypervisor(host.uri).destroy(uuid.UUID(vm.id))
    set_now(t0 + dt.timedelta(minutes=30))
    assert reconcile.run_pass(cw.database, cw.runtime).outages_opened == []  # not watched
    set_now(t0 + dt.timedelta(hours=1))
    with cw.database.unit() as session:
        hosts.set_state(session, CLI, host.id, HostState.ACTIVE)
    assert reconcile.run_pass(cw.database, cw.runtime).outages_opened == [vm.id]
    with cw.database.unit() as session:
        outage = session.execute(select(VmOutage).where(VmOutage.vm_id == vm.id)).scalar_one()
    assert (outage.start, outage.cause) == (t0, "destroyed")


def test_host_state_is_a_compare_and_swap(cw: ComputeWorld) -> None:
    """Two staff draining and disabling at once: the second move is checked against the
    state the first left (the table allows draining → disabled, not disabled →
    disabled)."""
    host = cw.host()
    with cw.database.unit() as session:
        hosts.set_state(session, CLI, host.id, HostState.DISABLED)
    with cw.database.unit() as session, pytest.raises(InvalidTransition, match="already"):
        hosts.set_state(session, CLI, host.id, HostState.DISABLED)
    with cw.database.unit() as session:
        assert hosts.set_state(session, CLI, host.id, HostState.DRAINING).state == "draining"


def test_concurrent_host_changes_one_wins(cw: ComputeWorld) -> None:
    """Six staff draining the same host at once, six adding the same site at once: one
    of each succeeds, the others get a 409 (InvalidTransition, AlreadyExists) — never a
    database error, never two rows."""
    host = cw.host()

    def drain() -> str:
        try:
            with cw.database.unit() as session:
                hosts.set_state(session, CLI, host.id, HostState.DRAINING)
            return "ok"
        except Conflict as exc:
            return type(exc).__name__

    def add() -> str:
        try:
            with cw.database.unit() as session:
                hosts.add_sites(session, CLI, host.id, [("paris-1", "FR")])
            return "ok"
        except Conflict as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(6) as pool:
        drained = list(pool.map(lambda _n: drain(), range(6)))
        added = list(pool.map(lambda _n: add(), range(6)))
    assert sorted(drained) == ["InvalidTransition"] * 5 + ["ok"]
    assert sorted(added) == ["AlreadyExists"] * 5 + ["ok"]
    assert host_row(cw, host.id).site_ids == ["paris-1", "waterloo-1"]
    assert actions(cw, host.id).count("host.drain") == 1


@pytest.fixture
def api(client: TestClient, cw: ComputeWorld) -> TestClient:
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    return client


def test_regression_host_api_is_staff_admin_only(api: TestClient, cw: ComputeWorld) -> None:
    """set/drain/disable/enable/remove over the API: provider admin (admin scope) only;
    an operator (no admin scope) and the client a host is dedicated to get 403; bad
    input is a 4xx problem naming the field; removing a host with a VM is 409."""
    cw.image()
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    host = cw.host(dedicated_to=client_id)
    admin = cw.world.admin()
    operator = cw.world.user(Role.PROVIDER_OPERATOR, None)
    owner = cw.world.user(Role.CLIENT_OWNER, client_id)
    url = f"/api/v1/hosts/{host.id}"

    for who in (operator, owner):
        for method, path in (("POST", "/drain"), ("POST", "/disable"), ("DELETE", "")):
            r = api.request(method, url + path, headers=who.headers)
            assert r.status_code == 403, (who, path, r.text)
        r = api.patch(url, json={"name": "mine"}, headers=who.headers)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)

    r = api.patch(
        url,
        json={"add_sites": [{"site": "interxion-zav-1", "country": "BE"}], "cpu_ratio": "2"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert [s["site"] for s in out["sites"]] == ["interxion-zav-1", "waterloo-1"]
    assert (out["cpu_ratio"], out["state"]) == ("2.00", "active")
    r = api.patch(
        url, json={"remove_sites": ["interxion-zav-1", "waterloo-1"]}, headers=admin.headers
    )
    assert r.status_code == 422 and "remove_sites" in r.json()["detail"]
    twice = [{"site": "paris-1", "country": "FR"}] * 2
    r = api.patch(url, json={"add_sites": twice}, headers=admin.headers)
    assert r.status_code == 422 and "add_sites" in r.json()["detail"]
    r = api.patch(url, json={"sites": ["x"]}, headers=admin.headers)
    assert r.status_code == 422 and "sites" in r.text
    r = api.patch(url, json={"add_sites": [{"site": "x", "country": "be"}]}, headers=admin.headers)
    assert r.status_code == 422 and "country" in r.text

    r = api.post(url + "/drain", headers=admin.headers)
    assert (r.status_code, r.json()["state"]) == (200, "draining")
    r = api.post(url + "/drain", headers=admin.headers)
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert api.post(url + "/enable", headers=admin.headers).json()["state"] == "active"

    r = api.post("/api/v1/vms", json={"contract_id": contract, "flavour": "vm-s",
                 "image": "base", "name": "web-1"}, headers=owner.headers)  # fmt: skip
    assert r.status_code == 202, r.text
    r = api.delete(url, headers=admin.headers)
    assert r.status_code == 409 and "1 VM" in r.json()["detail"]
    assert api.get(url, headers=owner.headers).json()["state"] == "active"
    with cw.database.unit() as session:
        entries = session.execute(
            select(HistoryEntry.action, HistoryEntry.actor_id).where(
                HistoryEntry.object_id == host.id
            )
        ).all()
    assert ("host.update", admin.user_id) in entries and ("host.drain", admin.user_id) in entries


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with fresh_postgres_database("nuages_h") as url:
        yield url


def test_migration_0006_moves_each_hosts_site_and_enabled_flag(empty_url: str) -> None:
    """0006_comp: a host's one site becomes its first host_sites row (country kept) and
    ``enabled = false`` becomes ``disabled``; downgrading gives both back."""
    url = empty_url
    migrate.upgrade(url, "0003")
    engine = create_engine(url)
    with engine.begin() as conn:
        for n, enabled in ((1, True), (2, False)):
            conn.execute(
                text(
                    "INSERT INTO hosts (id, name, uri, site, country, vcpus, ram_mib, disk_gib,"
                    " cpu_ratio, ram_ratio, disk_ratio, accel, enabled, reachable, created_at,"
                    " updated_at) VALUES (:id, :name, :uri, 'waterloo-1', 'BE', 4, 4096, 10,"
                    " 4, 1, 1, 'tcg', :enabled, true, '2026-01-01 00:00:00+00',"
                    " '2026-01-01 00:00:00+00')"
                ),
                {"id": str(uuid.UUID(int=n)), "name": f"h{n}", "uri": f"test:///h{n}",
                 "enabled": enabled},
            )  # fmt: skip
    migrate.upgrade(url)
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT h.name, h.state, s.site, s.country FROM hosts h "
                "JOIN host_sites s ON s.host_id = h.id ORDER BY h.name"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("h1", "active", "waterloo-1", "BE"),
        ("h2", "disabled", "waterloo-1", "BE"),
    ]
    migrate.downgrade(url, "0006_comp-1")
    with engine.begin() as conn:
        back = conn.execute(text("SELECT name, site, country, enabled FROM hosts ORDER BY name"))
        assert [(n, s, c, bool(e)) for n, s, c, e in back] == [
            ("h1", "waterloo-1", "BE", True),
            ("h2", "waterloo-1", "BE", False),
        ]
    engine.dispose()


def test_scope_admin_is_needed_even_for_staff(cw: ComputeWorld) -> None:
    """An admin whose token lacks the admin scope cannot drain (recorded staff acts need
    the admin permission)."""
    host = cw.host()
    narrow = Principal(
        user_id="x", email="x", role=Role.PROVIDER_ADMIN, client_id=None,
        scopes=frozenset({Scope.READ, Scope.WRITE}),
    )  # fmt: skip
    with cw.database.unit() as session, pytest.raises(Forbidden, match="admin"):
        hosts.set_state(session, narrow, host.id, HostState.DRAINING)


def test_host_cli_set_drain_disable_enable_remove(
    nuages: Callable[..., Ran],  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    """`nuages host set|drain|disable|enable|remove`: one line each, errors on stderr
    with exit 1 and the field named."""
    xml = host_xml(tmp_path / "h.xml", cpus=4, ram_mib=8192)
    data = tmp_path / "data"
    run = lambda *args: nuages(database, data, "host", *args)  # noqa: E731
    assert run("add", f"test://{xml}", "--site", "waterloo-1", "--name", "hv1").returncode == 0
    done = run("set", "hv1", "--add-site", "paris-1", "--country", "FR", "--cpu-ratio", "2")
    assert done.returncode == 0, done.stderr
    assert "sites=paris-1/FR,waterloo-1/BE" in done.stdout and "ratios=2.00/" in done.stdout
    bad = run("set", "hv1", "--cpu-ratio", "-1")
    assert bad.returncode == 1 and "cpu_ratio" in bad.stderr
    assert run("set", "nope", "--name", "x").returncode == 1
    for verb, state in (("drain", "draining"), ("disable", "disabled"), ("enable", "active")):
        moved = run(verb, "hv1")
        assert moved.returncode == 0 and f"host {state}:" in moved.stdout, moved.stderr
    again = run("enable", "hv1")
    assert again.returncode == 1 and "already active" in again.stderr
    listed = run("list")
    assert "hv1" in listed.stdout and "  active  " in listed.stdout
    gone = run("remove", "hv1")
    assert gone.returncode == 0 and "host removed: hv1" in gone.stdout
    with database.unit() as session:
        assert session.execute(select(Host)).first() is None


def _undersize(cw: ComputeWorld, host_id: str) -> None:
    """The row as a host added before e03360a may hold it (getInfo counted only the
    NUMA cells' memory): smaller than the machine."""
    with cw.database.unit() as session:
        session.execute(
            text("UPDATE hosts SET vcpus = 2, ram_mib = 2048 WHERE id = :id"), {"id": host_id}
        )


def test_refresh_records_the_hosts_size_once_when_it_moved(cw: ComputeWorld) -> None:
    """A registered host's size is read again from libvirt: what moved is written with
    one `host.refresh` history entry naming before and after; a second refresh finds
    nothing moved and writes nothing; a staff member without admin scope is refused."""
    host = cw.host(cpus=4, ram_mib=8192)
    disk = host.disk_gib
    _undersize(cw, host.id)
    with cw.database.unit() as session:
        done = hosts.refresh(session, CLI, cw.runtime, host.id)
        assert done.changes == {"vcpus": [2, 4], "ram_mib": [2048, 8192]}
    row = host_row(cw, host.id)
    assert (row.vcpus, row.ram_mib, row.disk_gib) == (4, 8192, disk)
    with cw.database.unit() as session:
        assert hosts.refresh(session, CLI, cw.runtime, host.id).changes == {}
    assert actions(cw, host.id).count("host.refresh") == 1
    narrow = Principal(
        user_id="x", email="x", role=Role.PROVIDER_ADMIN, client_id=None,
        scopes=frozenset({Scope.READ, Scope.WRITE}),
    )  # fmt: skip
    with cw.database.unit() as session, pytest.raises(Forbidden, match="admin"):
        hosts.refresh(session, narrow, cw.runtime, host.id)


def test_host_refresh_api_is_staff_admin_only(api: TestClient, cw: ComputeWorld) -> None:
    """`POST /hosts/{id}/refresh`: the provider admin gets the host with its size read
    again; an operator and the client it is dedicated to get 403, an unknown id 404."""
    client_id = cw.world.client()
    host = cw.host(cpus=4, ram_mib=8192, dedicated_to=client_id)
    _undersize(cw, host.id)
    url = f"/api/v1/hosts/{host.id}/refresh"
    for who in (
        cw.world.user(Role.PROVIDER_OPERATOR, None),
        cw.world.user(Role.CLIENT_OWNER, client_id),
    ):
        assert api.post(url, headers=who.headers).status_code == 403
    admin = cw.world.admin()
    r = api.post(url, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["vcpus"], r.json()["ram_mib"]) == (4, 8192)
    missing = api.post(f"/api/v1/hosts/{uuid.uuid4()}/refresh", headers=admin.headers)
    assert missing.status_code == 404
    assert actions(cw, host.id).count("host.refresh") == 1


def test_host_cli_refresh_reads_the_machine_again(
    nuages: Callable[..., Ran],  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    """`nuages host refresh`: the machine grew (its test-driver description now says 8
    CPUs and 16 GiB), the command says what moved; run again, "host unchanged"; a host
    libvirt cannot open is an error on stderr with exit 1 and the row stays."""
    xml = host_xml(tmp_path / "h.xml", cpus=4, ram_mib=8192)
    data = tmp_path / "data"
    run = lambda *args: nuages(database, data, "host", *args)  # noqa: E731
    assert run("add", f"test://{xml}", "--site", "waterloo-1", "--name", "hv1").returncode == 0
    host_xml(xml, cpus=8, ram_mib=16384)
    grown = run("refresh", "hv1")
    assert grown.returncode == 0, grown.stderr
    assert "host resized (vcpus 4 → 8, ram_mib 8192 → 16384)" in grown.stdout
    same = run("refresh", "hv1", "--json")
    assert same.returncode == 0 and '"changes": {}' in same.stdout, same.stdout
    xml.unlink()
    lost = run("refresh", "hv1")
    assert lost.returncode == 1 and lost.stderr.startswith("error: cannot reach"), lost.stderr
    with database.unit() as session:
        row = session.execute(select(Host)).scalar_one()
    assert (row.vcpus, row.ram_mib) == (8, 16384)
