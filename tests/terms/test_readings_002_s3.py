"""002 §3.8.2 and §3 read again (issue 20, SPEC §4, §13): managed servers give the
client no direct access; the three Axantis tiers gate their features as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from nuages.kernel.errors import Forbidden, ValidationFailed
from nuages.terms import apply
from nuages.terms.loader import load_offer

OFFERS = Path(__file__).resolve().parents[2] / "offers"
DATACENTER = load_offer(OFFERS / "axantis-cloud-datacenter.toml")
AVANCE = load_offer(OFFERS / "axantis-cloud-vm-avance.toml")
ESSENTIEL = load_offer(OFFERS / "axantis-cloud-vm-essentiel.toml")


@pytest.mark.parametrize("offer", [DATACENTER, AVANCE, ESSENTIEL], ids=lambda o: o.id)
@pytest.mark.parametrize("feature", ["console", "ssh_keys", "power", "resources"])
def test_002_s3_8_2_managed_server_gives_the_client_no_direct_access(offer, feature) -> None:  # type: ignore[no-untyped-def]
    """002 §3.8.2 "entièrement administré par le Prestataire … pas d'accès direct": on a
    managed server the client is refused console, SSH keys and self-service actions (403
    naming the clause); staff are not."""
    with pytest.raises(Forbidden, match=r"002 §3\.8\.2"):
        apply.check_client_feature(offer, feature, managed=True, staff=False)
    apply.check_client_feature(offer, feature, managed=True, staff=True)


def test_002_s3_essentiel_features_limited_exclusively() -> None:
    """002 §3 Cloud VM Essentiel "se limitent exclusivement": creation from the interface
    (the service's own sentence), resources, snapshots, history, firewall basic; console,
    SSH keys, power actions (Avancé's line says "arrêt, redémarrage", Essentiel's not),
    backups and graphs are refused."""
    for feature in ("create_vm", "resources", "snapshots", "history", "firewall_basic"):
        apply.check_client_feature(ESSENTIEL, feature, managed=False, staff=False)
    for feature in ("console", "ssh_keys", "power", "backups", "monitoring"):
        with pytest.raises(Forbidden, match="se limitent exclusivement"):
            apply.check_client_feature(ESSENTIEL, feature, managed=False, staff=False)
    # Avancé's list is "sans que cette liste soit exhaustive": nothing refused.
    apply.check_client_feature(AVANCE, "console", managed=False, staff=False)


def test_002_s3_6_datacenter_firewall_standard_or_advanced_at_order() -> None:
    """002 §3.6: Cloud Datacenter's firewall is standard or advanced, chosen at order; a
    missing or basic choice is a 422 naming firewall_tier."""
    assert apply.check_firewall_at_order(DATACENTER, "advanced") == "advanced"
    for bad in (None, "basic"):
        with pytest.raises(ValidationFailed, match="firewall_tier"):
            apply.check_firewall_at_order(DATACENTER, bad)
    assert apply.check_firewall_at_order(AVANCE, None) is None
