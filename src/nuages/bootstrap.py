"""What ``nuages up`` prepares so a visitor needs nothing more (issue #12, item 1): the
local libvirt registered as a host serving every site the offers name, the tiny image
available, and on request one demo client per offer with an owner login.

Each step runs through the services as the operator (``Principal.operator()``), in its
own unit, and never stops the start: a libvirt that is missing, refuses, or hangs
(``/dev/kvm`` stuck) is given a time limit, and ``up`` says what it could not do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select

from nuages.accounts.principal import Principal
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import Settings

log = logging.getLogger("nuages")
T = TypeVar("T")
IMAGE_TIMEOUT_S = 300.0
DEMO_DOMAIN = "demo.nuages.example"


class TimedOut(Exception):
    """A step did not finish within its time limit."""


def within(seconds: float, work: Callable[[], T]) -> T:
    """Run ``work`` in a daemon thread; TimedOut if it is not done in time. The thread
    is left behind (a libvirt call stuck on /dev/kvm cannot be interrupted) and, being a
    daemon, never holds the process at exit (an executor's worker would)."""
    box: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="up-step", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimedOut(f"no answer within {seconds:.0f} s")
    if failure:
        raise failure[0]
    return box[0]


def local_host(settings: Settings, database: Database, timeout: float | None = None) -> str:
    """Register ``NUAGES_LIBVIRT_URI`` as a host serving every offer site, unless some
    host is registered already; one sentence saying what happened."""
    from nuages.compute.models import Host
    from nuages.compute.runtime import ComputeRuntime
    from nuages.compute.services import hosts
    from nuages.contracts.offers import OfferRegistry

    uri = settings.libvirt_uri
    timeout = timeout or settings.up_libvirt_timeout
    with database.unit(readonly=True) as session:
        known = session.execute(select(Host.name).limit(1)).scalar_one_or_none()
    if known is not None:
        return f"host:         {known} (registered)"
    runtime = ComputeRuntime(settings, database=database)
    hung = False
    try:
        facts = within(timeout, lambda: hosts.inspect(runtime, uri, probe=True))
        sites = list(hosts.offer_sites(OfferRegistry.from_directory(settings.offers_dir)).items())
        if not sites:
            return f"WARNING:      no offer names a site; {uri} not registered"
        with database.unit() as session:
            host = hosts.register(
                session,
                Principal.operator(),
                runtime,
                uri=uri,
                site=sites[0][0],
                country=sites[0][1],
                facts=facts,
                more_sites=sites[1:],
            )
            name, accel = host.name, host.accel
        return f"host:         {name} registered ({uri}, {accel}, {len(sites)} sites)"
    except TimedOut as exc:
        hung = True  # the stuck call still holds the runtime: leave it alone
        return (
            f"WARNING:      could not register {uri} as a host: libvirt gave {exc} "
            "(is /dev/kvm hanging?); VMs cannot be created until `nuages host add` works"
        )
    except Exception as exc:  # missing libvirt, refused connection: say it, start anyway
        detail = exc.detail if isinstance(exc, NuagesError) else str(exc)
        return (
            f"WARNING:      could not register {uri} as a host ({detail}); VMs cannot be "
            "created until `nuages host add` works"
        )
    finally:
        if not hung:
            runtime.close()


def tiny_image(settings: Settings, database: Database, timeout: float = IMAGE_TIMEOUT_S) -> str:
    """Build and register the tiny guest image when no image exists; one sentence."""
    from nuages.compute.models import Image
    from nuages.compute.runtime import ComputeRuntime
    from nuages.compute.services import images

    with database.unit(readonly=True) as session:
        known = session.execute(select(Image.name).limit(1)).scalar_one_or_none()
    if known is not None:
        return f"image:        {known} (registered)"
    runtime = ComputeRuntime(settings, database=database)
    try:
        tiny = within(timeout, lambda: images.build_tiny(runtime))
        with database.unit() as session:
            image = images.register_tiny(session, Principal.operator(), tiny)
            name = image.name
        return f"image:        {name} built and registered"
    except TimedOut as exc:
        return f"WARNING:      could not build the tiny image: {exc}"
    except Exception as exc:  # a missing kernel or busybox: say it, start anyway
        detail = exc.detail if isinstance(exc, NuagesError) else str(exc)
        return f"WARNING:      could not build the tiny image ({detail}); see `nuages image`"
    finally:
        runtime.close()


@dataclass(frozen=True)
class DemoLogin:
    offer_id: str
    email: str
    password: str  # "" when the login existed already (shown once, at creation)


def demo_clients(settings: Settings, database: Database) -> list[DemoLogin]:
    """One demo client per offer, each with an owner login and a contract on that offer,
    formed where the services allow it (prepaid: the minimum amount credited by a
    recorded transfer; invoiced: the order confirmed by staff)."""
    from nuages.contracts.offers import OfferRegistry

    registry = OfferRegistry.from_directory(settings.offers_dir)
    made = []
    for offer_id in sorted(registry.offers):
        try:
            with database.unit() as session:
                made.append(_demo_client(session, registry, offer_id))
        except NuagesError as exc:
            log.warning("demo client for %s not made: %s", offer_id, exc.detail)
    return made


def _demo_client(session: object, registry: object, offer_id: str) -> DemoLogin:
    from pydantic import SecretStr
    from sqlalchemy.orm import Session

    from nuages.accounts import schemas as account_schemas
    from nuages.accounts import service as accounts
    from nuages.accounts.models import User
    from nuages.accounts.roles import Role
    from nuages.accounts.security import generate_password
    from nuages.billing import schemas as billing_schemas
    from nuages.billing import topups
    from nuages.billing.pricing import OfferPricing
    from nuages.contracts import schemas as contract_schemas
    from nuages.contracts import service as contracts
    from nuages.contracts.offers import OfferRegistry

    assert isinstance(session, Session) and isinstance(registry, OfferRegistry)
    email = f"owner@{offer_id}.{DEMO_DOMAIN}"
    if session.execute(select(User.id).where(User.email == email)).first():
        return DemoLogin(offer_id, email, "")
    staff = Principal.operator()
    offer = registry.current(offer_id)
    country = offer.offer.law if offer.offer.law in ("FR", "BE") else "FR"
    line1, postcode, city = (
        ("Rue de la Démo 1", "1000", "Bruxelles")
        if country == "BE"
        else ("1 rue de la Démo", "75001", "Paris")
    )
    kind = "business" if "business" in offer.offer.clients else "consumer"
    client = accounts.create_client(
        session,
        staff,
        account_schemas.ClientCreate(
            kind=kind,
            legal_name=f"Démo {offer.offer.title}"[:200],
            country=country,
            billing_email=f"billing@{offer_id}.{DEMO_DOMAIN}",
            address=account_schemas.PostalAddress(line1=line1, postcode=postcode, city=city),
        ),
    )
    password = generate_password(20)
    accounts.create_user(
        session,
        staff,
        client.id,
        account_schemas.UserCreate(
            email=email,
            name="Démo",
            role=Role.CLIENT_OWNER,
            password=SecretStr(password),
            is_terms_decider=True,
        ),
    )
    features = offer.catalogue.features
    features = features if features is not None and features.firewall_at_order else None
    contract = contracts.create_contract(
        session,
        staff,
        registry,
        contract_schemas.ContractCreate(
            offer_id=offer_id,
            client_id=client.id,
            accept_terms=True,
            # 002 §3.6: an offer asking for a firewall tier at order gets its first one.
            firewall_tier=features.firewall_at_order[0] if features else None,
        ),
    )
    if offer.billing.mode == "prepaid":
        minimum = OfferPricing(offer).prepaid.minimum_amount
        topups.record_transfer(
            session,
            staff,
            registry,
            contract.id,
            billing_schemas.TransferCreate(
                amount=max(Decimal(minimum), Decimal("100.00")),
                currency=offer.offer.currency,
                reference=f"DEMO-{contract.id[:8]}",
            ),
        )
    else:
        contracts.confirm(session, staff, registry, contract.id, "demo order confirmed")
    return DemoLogin(offer_id, email, password)
