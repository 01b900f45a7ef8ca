"""The offers in force, and the exact version each contract accepted.

Offers are read from the terms files at start; each version a contract accepts is
stored (``offer_versions``) so that a later edit of the file never changes a running
contract's terms (000 §4).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from nuages.contracts.models import Contract, OfferVersion
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NotFound
from nuages.terms.loader import load_offer, load_offers
from nuages.terms.schema import Offer


class OfferRegistry:
    """The offers loaded from one directory, by id."""

    def __init__(self, offers: dict[str, Offer]) -> None:
        self.offers = offers

    @classmethod
    def from_directory(cls, directory: Path | None = None) -> OfferRegistry:
        """Load every terms file; a bad file stops the start with every problem listed."""
        return cls(load_offers(directory))

    def current(self, offer_id: str) -> Offer:
        """The offer in force with this id, else 404."""
        offer = self.offers.get(offer_id)
        if offer is None:
            raise NotFound(f"no offer {offer_id!r}")
        return offer

    def record(self, session: Session, offer: Offer) -> OfferVersion:
        """Store the offer's exact file content under its hash (once)."""
        version = session.get(OfferVersion, offer.content_hash)
        if version is None:
            version = OfferVersion(
                content_hash=offer.content_hash,
                offer_id=offer.id,
                content=Path(offer.source_path).read_text("utf-8"),
                first_seen_at=utc_now(),
            )
            session.add(version)
            session.flush()
        return version

    def for_contract(self, session: Session, contract: Contract) -> Offer:
        """The terms a contract accepted: the current file if unchanged, else the
        stored version."""
        current = self.offers.get(contract.offer_id)
        if current is not None and current.content_hash == contract.offer_hash:
            return current
        version = session.get(OfferVersion, contract.offer_hash)
        if version is None:
            raise NotFound(f"offer version {contract.offer_hash} is not stored")
        return _parse_version(version.content_hash, version.content)


@functools.lru_cache(maxsize=64)
def _parse_version(content_hash: str, content: str) -> Offer:
    # The loader validates files; a stored version goes through the same checks.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{content_hash}.toml"
        path.write_text(content, "utf-8")
        return load_offer(path)
