"""The register of processing activities kept for each client (GDPR Art. 30.2,
001 §16.4 (iv)): built from live data each time it is read, so it is always current —
a host added in another country, or a sub-processor replaced, shows at once.

Transfers outside the EU are derived from the countries of the hosts that run the
client's VMs and of the sub-processors (``countries.transfer_basis``), never typed."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client, User
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.models import Host, HostSite, Vm, VmBackupPlan
from nuages.compute.states import VmState
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.gdpr.countries import transfer_basis
from nuages.gdpr.models import StaffAccess
from nuages.gdpr.subprocessors import current
from nuages.kernel import personal_data
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NotFound
from nuages.managed.models import SupportAgreement

CLAUSE = "GDPR Art. 30.2; 001 §16.4 (iv)"


def build(
    session: Session, actor: Principal, registry: OfferRegistry, client_id: str
) -> dict[str, Any]:
    """The register for ``client_id`` as plain data (its users and staff read it). It
    names the client's people (owners, DPO): staff export it with a live access grant to
    the client's users (001 §15.3), the use in the client's history."""
    actor.require(Scope.READ)
    actor.check_client(client_id, "client")
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound("no such client")
    personal_data.check(session, actor, client_id, "users", "GDPR register export")
    owners = session.execute(
        select(User.name, User.email)
        .where(
            User.client_id == client_id, User.role == Role.CLIENT_OWNER.value, User.active.is_(True)
        )
        .order_by(User.email)
    ).all()
    contracts = list(
        session.execute(
            select(Contract)
            .where(Contract.client_id == client_id, Contract.state != ContractState.CLOSED.value)
            .order_by(Contract.accepted_at)
        ).scalars()
    )
    offers = [registry.for_contract(session, c) for c in contracts]
    providers = sorted({o.offer.provider for o in offers})
    vms = session.execute(
        select(Vm.id, Vm.host_id, Vm.managed).where(
            Vm.client_id == client_id, Vm.vm_state != VmState.DELETED.value
        )
    ).all()
    host_ids = sorted({h for _, h, _ in vms if h})
    centres = session.execute(
        select(Host.name, HostSite.site, HostSite.country)
        .join(HostSite, HostSite.host_id == Host.id)
        .where(Host.id.in_(host_ids))
        .order_by(HostSite.site, Host.name)
    ).all()
    backups = session.execute(
        select(func.count()).select_from(VmBackupPlan).where(VmBackupPlan.client_id == client_id)
    ).scalar_one()
    managed = any(m for _, _, m in vms) or bool(
        session.execute(
            select(func.count())
            .select_from(SupportAgreement)
            .where(SupportAgreement.client_id == client_id, SupportAgreement.managed.is_(True))
        ).scalar_one()
    )
    categories = []
    if contracts:
        categories.append(
            "hosting and storage of the client's data on virtual machines, processed only "
            "on its documented instructions (001 §16.1, §16.4 (i))"
        )
        categories.append("support, including remote control at the client's request (001 §16.1)")
    if backups:
        categories.append(f"backups and their restoration ({backups} VM backup plans)")
    if managed:
        categories.append("administration of managed servers (infogérance, 002 §3.8)")
    subs = current(session)
    transfers = []
    for name, site, country in centres:
        basis = transfer_basis(country)
        if basis is not None:
            transfers.append(
                {"country": country, "via": f"data centre {site} (host {name})", "safeguard": basis}
            )
    for sub in subs:
        basis = transfer_basis(sub.country, sub.safeguard)
        if basis is not None:
            transfers.append(
                {"country": sub.country, "via": f"sub-processor {sub.name}", "safeguard": basis}
            )
    accesses = session.execute(
        select(StaffAccess)
        .where(StaffAccess.client_id == client_id)
        .order_by(StaffAccess.granted_at.desc())
        .limit(50)
    ).scalars()
    dpo = (
        {"name": client.dpo_name, "email": client.dpo_email, "phone": client.dpo_phone}
        if client.dpo_email
        else None
    )
    return {
        "clause": CLAUSE,
        "generated_at": utc_now().isoformat(),
        "controller": {
            "id": client.id,
            "legal_name": client.legal_name,
            "country": client.country,
            "vat_number": client.vat_number,
            "address": ", ".join(
                p
                for p in (
                    client.address_line1,
                    client.address_line2,
                    f"{client.postcode} {client.city}".strip(),
                    client.country,
                )
                if p
            ),
            "billing_email": client.billing_email,
            "owners": [{"name": n, "email": e} for n, e in owners],
        },
        "dpo": dpo,
        "contact": dpo or ({"name": owners[0][0], "email": owners[0][1]} if owners else None),
        "processor": {"providers": providers, "contracts": [c.id for c in contracts]},
        "categories": categories,
        "data_centres": [{"site": s, "country": c, "host": n} for n, s, c in centres],
        "sub_processors": [
            {
                "id": s.id,
                "name": s.name,
                "service": s.service,
                "country": s.country,
                "address": s.address,
                "since": s.active_from.isoformat(),
                "outside_eu": transfer_basis(s.country) is not None,
            }
            for s in subs
        ],
        "transfers_outside_eu": transfers,
        "staff_accesses": [
            {
                "staff": a.staff_email,
                "what": a.what,
                "reason": a.reason,
                "granted_at": a.granted_at.isoformat(),
                "expires_at": a.expires_at.isoformat(),
                "revoked_at": a.revoked_at.isoformat() if a.revoked_at else None,
            }
            for a in accesses
        ],
    }


def _rows(items: list[dict[str, Any]], keys: list[str]) -> str:
    if not items:
        return "<p>—</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(i.get(k) or ''))}</td>" for k in keys) + "</tr>"
        for i in items
    )
    return f"<table><tr>{head}</tr>{body}</table>"


STYLE = (
    "body { font-family: sans-serif; font-size: 10pt; }"
    " table { border-collapse: collapse; width: 100%; }"
    " td, th { border: 1px solid #999; padding: 3px; text-align: left; vertical-align: top; }"
)


def to_pdf(register: dict[str, Any]) -> bytes:
    """The register as a PDF (WeasyPrint, as the invoices), French then English titles."""
    from weasyprint import HTML  # heavy: loaded only when a PDF is asked for

    e = html.escape
    c = register["controller"]
    contact = register["contact"] or {}
    who = " ".join(e(str(contact.get(k) or "")) for k in ("name", "email", "phone"))
    categories = "".join(f"<li>{e(x)}</li>" for x in register["categories"])
    sections = [
        ("Responsable du traitement / Controller",
         f"<p>{e(c['legal_name'])}<br>{e(c['address'])}<br>{e(c['billing_email'])}</p>"
         + _rows(c["owners"], ["name", "email"])),
        ("DPO / contact", f"<p>{who}</p>"),
        ("Sous-traitant / Processor", f"<p>{e(', '.join(register['processor']['providers']))}</p>"),
        ("Catégories de traitements / Categories of processing", f"<ul>{categories}</ul>"),
        ("Centres de données / Data centres",
         _rows(register["data_centres"], ["site", "country", "host"])),
        ("Sous-traitants ultérieurs / Sub-processors",
         _rows(register["sub_processors"], ["name", "service", "country", "address", "since"])),
        ("Transferts hors UE / Transfers outside the EU",
         _rows(register["transfers_outside_eu"], ["country", "via", "safeguard"])),
        ("Accès du personnel / Staff access (001 §15.3)",
         _rows(register["staff_accesses"],
               ["staff", "what", "reason", "granted_at", "expires_at", "revoked_at"])),
    ]  # fmt: skip
    body = "".join(f"<h2>{e(title)}</h2>{content}" for title, content in sections)
    page = (
        f'<html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>'
        "<h1>Registre des activités de traitement / Register of processing</h1>"
        f"<p>{e(register['clause'])} — {e(register['generated_at'])}</p>{body}</body></html>"
    )
    data: bytes = HTML(string=page).write_pdf()
    return data
