"""Back-office: infrastructure — hosts (active, draining, disabled), images, IP pools
(003 §4: each server a fixed IP from a pool, returned to it on deletion)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.compute import schemas
from nuages.compute.api import runtime
from nuages.compute.services import hosts, images, ipam
from nuages.compute.states import HostState
from nuages.portal.admin.common import Button, Column, Field, Form, Table, act, page, values_of
from nuages.portal.web import Paging, PostedStaff, Staff, Visit

router = APIRouter()
POOL_FIELDS = ("name", "network", "site", "cidr", "gateway", "first", "last")


def _hosts(visit: Visit, errors: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = hosts.list_hosts(session, visit.me, paging.page, paging.per_page)
        table = Table(
            "Hôtes",
            [
                Column("Nom", "name"),
                Column("URI", "uri", "code"),
                Column("État", "state", "state"),
                Column("Accélération", "accel"),
                Column("vCPU", "vcpus"),
                Column("RAM (Mio)", "ram_mib"),
                Column("Joignable", "reachable", "bool"),
                Column("Vu le", "last_seen", "when"),
            ],
            shown,
            buttons=[
                Button(
                    "Drainer",
                    "/admin/hosts/{id}/state",
                    lambda h: h.state == "active",
                    fields=(("state", "draining"),),
                ),
                Button(
                    "Désactiver",
                    "/admin/hosts/{id}/state",
                    lambda h: h.state != "disabled",
                    True,
                    (("state", "disabled"),),
                ),
                Button(
                    "Activer",
                    "/admin/hosts/{id}/state",
                    lambda h: h.state != "active",
                    fields=(("state", "active"),),
                ),
                # Its size read again from libvirt (RAM or disks changed, or added
                # before the driver counted all the memory).
                Button("Relire la taille", "/admin/hosts/{id}/refresh"),
            ],
            total=total,
            paging=paging,
        )
        notes = ["Ajouter un hôte : `nuages host add URI --all-sites` (le nœud est sondé)."]
        return page(visit, "Hôtes", tables=[table], notes=notes, errors=errors, status=status)


@router.get("/admin/hosts")
def host_list(visit: Staff) -> Response:
    """The hosts, their state and capacity."""
    return _hosts(visit, {}, 200)


@router.post("/admin/hosts/{host_id}/state")
def host_state(posted: PostedStaff, host_id: str) -> Response:
    """Drain, disable or enable a host."""
    visit = posted.visit

    def work(session: Session) -> object:
        return hosts.set_state(session, visit.me, host_id, HostState(posted.get("state")))

    return act(posted, "/admin/hosts", work, lambda e, s: _hosts(visit, e, s))


@router.post("/admin/hosts/{host_id}/refresh")
def host_refresh(posted: PostedStaff, host_id: str) -> Response:
    """Read a host's size again from its hypervisor (history ``host.refresh``)."""
    visit = posted.visit

    def work(session: Session) -> object:
        return hosts.refresh(session, visit.me, runtime(visit.request), host_id)

    return act(posted, "/admin/hosts", work, lambda e, s: _hosts(visit, e, s))


@router.get("/admin/images")
def image_list(visit: Staff) -> Response:
    """The images VMs are made from."""
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = images.list_images(session, visit.me, paging.page, paging.per_page)
        table = Table(
            "Images",
            [
                Column("Nom", "name"),
                Column("Système", "os"),
                Column("Démarrage", "boot_mode"),
                Column("Disque min. (Gio)", "min_disk_gib"),
                Column("Client", "client_id", "code"),
            ],
            shown,
            total=total,
            paging=paging,
        )
        notes = ["Ajouter une image : `nuages image add` ou `nuages image tiny`."]
        return page(visit, "Images", tables=[table], notes=notes)


def _pools(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = ipam.list_pools(session, visit.me, paging.page, paging.per_page)
        rows = []
        for pool in shown:
            used, size = ipam.pool_usage(session, pool)
            rows.append(
                {
                    "id": pool.id,
                    "name": pool.name,
                    "site": pool.site,
                    "cidr": pool.cidr,
                    "usage": f"{used} / {size}",
                }
            )
        table = Table(
            "Pools d'adresses",
            [
                Column("Nom", "name"),
                Column("Site", "site"),
                Column("Réseau", "cidr", "code"),
                Column("Utilisées", "usage"),
            ],
            rows,
            buttons=[Button("Supprimer", "/admin/ip-pools/{id}/delete", danger=True)],
            total=total,
            paging=paging,
        )
        form = Form(
            "Nouveau pool",
            "/admin/ip-pools",
            [
                Field("name", "Nom", required=True),
                Field("network", "Réseau libvirt (pont)", required=True),
                Field("site", "Site", required=True),
                Field("cidr", "Sous-réseau (CIDR)", required=True, hint="192.0.2.0/24"),
                Field("gateway", "Passerelle", required=True),
                Field("first", "Première adresse", required=True),
                Field("last", "Dernière adresse", required=True),
            ],
            "Créer le pool",
        )
        return page(
            visit,
            "Pools d'adresses",
            tables=[table],
            forms=[form],
            errors=errors,
            values=values,
            status=status,
        )


@router.get("/admin/ip-pools")
def pool_list(visit: Staff) -> Response:
    """The IP pools and how full they are."""
    return _pools(visit, {}, {}, 200)


@router.post("/admin/ip-pools")
def pool_create(posted: PostedStaff) -> Response:
    """Create a pool (its range is checked inside its network)."""
    visit = posted.visit
    values = values_of(posted, POOL_FIELDS)

    def work(session: Session) -> object:
        return ipam.create_pool(session, visit.me, schemas.IpPoolCreate.model_validate(values))

    def again(errors: dict[str, str], status: int) -> Response:
        return _pools(visit, errors, values, status)

    return act(posted, "/admin/ip-pools", work, again, POOL_FIELDS)


@router.post("/admin/ip-pools/{pool_id}/delete")
def pool_delete(posted: PostedStaff, pool_id: str) -> Response:
    """Delete an unused pool."""
    visit = posted.visit

    def work(session: Session) -> object:
        ipam.delete_pool(session, visit.me, pool_id)
        return None

    return act(posted, "/admin/ip-pools", work, lambda e, s: _pools(visit, e, {}, s))
