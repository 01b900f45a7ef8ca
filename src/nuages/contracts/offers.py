"""The offers in force, and the exact version each contract accepted.

Offers are read from the terms files of one directory; each version a contract accepts
is stored (``offer_versions``) so that a later edit of the file never changes a running
contract's terms (000 §4).

What is stored is exactly the bytes that were parsed into the offer the client ordered,
checked against the SHA-256 the contract records; the file on disk is never read again
for that. (It was: an edit under a running server stored the new file under the old
hash, and the API and the worker then priced one contract differently.)

The catalogue changes only when a file changes, or on request:

- **on a file change**: at most every ``check_interval`` seconds (2 s), an access to the
  registry compares each ``*.toml``'s name, mtime and size with what was loaded; only a
  file whose stamp moved is read and hashed, and only a file whose hash moved is parsed;
- **on request**: ``reload()`` (``POST /api/v1/offers/reload`` for staff) re-reads every
  file whatever its stamp.

A reload is atomic: the new catalogue is built aside, then swapped in one assignment.
A file that does not load keeps the offer it held before (or stays out of the catalogue
if it never loaded), and its problems are logged (one line each, no traceback) and kept
in ``problems``; the server and the CLI start with the files that load.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from nuages.contracts.models import Contract, OfferVersion
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NotFound, NuagesError
from nuages.terms.loader import Problem, TermsFileError, check_bytes, default_offers_dir
from nuages.terms.schema import Offer
from nuages.terms.toml_lines import key_lines

log = logging.getLogger("nuages.offers")

Stamp = tuple[int, int]
"""(mtime in nanoseconds, size in bytes) of a terms file: the cheap change check."""


class CorruptOfferVersion(NuagesError):
    """A stored offer version whose content does not hash to its recorded key."""

    status = 500
    slug = "corrupt-offer-version"
    title = "A stored offer version is corrupt"


@dataclass
class ReloadReport:
    """What a reload changed, and the files it could not load."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _File:
    stamp: Stamp
    content_hash: str
    offer: Offer | None  # the offer this file holds in the catalogue (the last that loaded)
    problems: tuple[Problem, ...] = ()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OfferRegistry:
    """The offers loaded from one directory, by id."""

    CHECK_INTERVAL = 2.0

    def __init__(
        self,
        offers: dict[str, Offer],
        directory: Path | None = None,
        *,
        check_interval: float | None = None,
    ) -> None:
        self._offers = dict(offers)
        self.directory = directory
        self.check_interval = self.CHECK_INTERVAL if check_interval is None else check_interval
        self.problems: list[Problem] = []
        self._files: dict[str, _File] = {}
        self._checked_at = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def from_directory(
        cls, directory: Path | str | None = None, *, check_interval: float | None = None
    ) -> OfferRegistry:
        """Load every terms file of a directory (default: ``default_offers_dir()``).

        A file that does not load is reported (logged, and kept in ``problems``) and left
        out; the others load. A missing directory raises ``NotFound``.
        """
        folder = Path(directory) if directory is not None else default_offers_dir()
        if not folder.is_dir():
            raise NotFound(f"offers directory {folder} does not exist")
        registry = cls({}, folder, check_interval=check_interval)
        registry.reload()
        return registry

    # ------------------------------------------------------------------ reading

    @property
    def offers(self) -> dict[str, Offer]:
        """The catalogue in force, by id (checked for file changes first, throttled)."""
        self.refresh()
        return self._offers

    def current(self, offer_id: str) -> Offer:
        """The offer in force with this id, else 404."""
        offer = self.offers.get(offer_id)
        if offer is None:
            raise NotFound(f"no offer {offer_id!r}")
        return offer

    # ---------------------------------------------------------------- reloading

    def refresh(self) -> ReloadReport | None:
        """Reload if a file changed since the last check; at most every
        ``check_interval`` seconds. Returns the report when something was looked at."""
        if self.directory is None:
            return None
        now = time.monotonic()
        if now - self._checked_at < self.check_interval:
            return None
        self._checked_at = now
        if self._stamps() == {path: f.stamp for path, f in self._files.items()}:
            return None
        return self.reload(force=False)

    def reload(self, *, force: bool = True) -> ReloadReport:
        """Re-read the directory and swap the new catalogue in at once.

        ``force`` reads every file; otherwise only those whose stamp moved. A file that
        does not load keeps the offer it held (SPEC: a running catalogue is never lost to
        a bad edit) and is reported.
        """
        if self.directory is None:
            return ReloadReport()
        with self._lock:
            report = self._rebuild(force)
        for problem in report.problems:
            log.warning("terms file not loaded (its offer, if it had one, is kept): %s", problem)
        if report.added or report.changed or report.removed:
            log.info(
                "offers reloaded: added %s, changed %s, removed %s",
                report.added,
                report.changed,
                report.removed,
            )
        return report

    def _stamps(self) -> dict[str, Stamp]:
        assert self.directory is not None
        stamps: dict[str, Stamp] = {}
        for path in sorted(self.directory.glob("*.toml")):
            try:
                info = path.stat()
            except OSError:  # removed between the listing and the stat
                continue
            stamps[str(path)] = (info.st_mtime_ns, info.st_size)
        return stamps

    def _rebuild(self, force: bool) -> ReloadReport:
        files: dict[str, _File] = {}
        for path, stamp in self._stamps().items():
            files[path] = self._load_file(path, stamp, self._files.get(path), force)
        offers: dict[str, Offer] = {}
        problems: list[Problem] = []
        for path, entry in files.items():
            problems.extend(entry.problems)
            if entry.offer is None:
                continue
            first = offers.get(entry.offer.id)
            if first is not None:
                line = key_lines(entry.offer.source_bytes.decode("utf-8")).get(("offer", "id"), 1)
                problems.append(
                    Problem(
                        path,
                        line,
                        "offer.id",
                        f"id {entry.offer.id!r} is also used by {first.source_path}",
                        "one file per offer id",
                    )
                )
                continue
            offers[entry.offer.id] = entry.offer
        old = self._offers
        report = ReloadReport(
            added=sorted(set(offers) - set(old)),
            changed=sorted(
                i for i in set(offers) & set(old) if offers[i].content_hash != old[i].content_hash
            ),
            removed=sorted(set(old) - set(offers)),
            problems=problems,
        )
        # One assignment each: a reader sees the old catalogue or the new, never a mix.
        self._files = files
        self._offers = dict(sorted(offers.items()))
        self.problems = problems
        return report

    @staticmethod
    def _load_file(path: str, stamp: Stamp, previous: _File | None, force: bool) -> _File:
        if previous is not None and previous.stamp == stamp and not force:
            return previous
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            problem = Problem(path, 0, "(file)", f"cannot be read: {exc.strerror}", "a file")
            kept = previous.offer if previous is not None else None
            return _File(stamp, "", kept, (problem,))
        content_hash = _sha256(raw)
        if previous is not None and previous.content_hash == content_hash:
            # Touched but not changed (same bytes): nothing to parse.
            return _File(stamp, content_hash, previous.offer, previous.problems)
        result = check_bytes(raw, path)
        if isinstance(result, list):
            kept = previous.offer if previous is not None else None
            return _File(stamp, content_hash, kept, tuple(result))
        return _File(stamp, content_hash, result)

    # ------------------------------------------------------------ versions kept

    def record(self, session: Session, offer: Offer) -> OfferVersion:
        """Store the exact bytes the offer was parsed from, under their hash (once).

        The bytes are checked against ``offer.content_hash`` (the hash the contract
        records); a row stored by the old code with other content under that hash is
        put right, since these bytes are the ones that hash to it.
        """
        content = _content_of(offer)
        version = session.get(OfferVersion, offer.content_hash)
        if version is None:
            version = OfferVersion(
                content_hash=offer.content_hash,
                offer_id=offer.id,
                content=content,
                first_seen_at=utc_now(),
            )
            session.add(version)
            session.flush()
        elif _sha256(version.content.encode("utf-8")) != version.content_hash:
            log.warning("offer version %s held other content; rewritten", version.content_hash)
            version.content = content
            session.flush()
        return version

    def version(self, session: Session, offer_id: str, content_hash: str) -> Offer:
        """One version of an offer: the one in force if it has this hash, else a stored
        version (one that was ordered), else 404."""
        current = self.offers.get(offer_id)
        if current is not None and current.content_hash == content_hash:
            return current
        stored = session.get(OfferVersion, content_hash)
        if stored is None or stored.offer_id != offer_id:
            raise NotFound(f"no version {content_hash} of offer {offer_id!r}")
        return parse_version(stored.content_hash, stored.content)

    def for_contract(self, session: Session, contract: Contract) -> Offer:
        """The terms a contract accepted: the offer in force if it is that version, else
        the stored version (checked against its hash)."""
        current = self.offers.get(contract.offer_id)
        if current is not None and current.content_hash == contract.offer_hash:
            return current
        version = session.get(OfferVersion, contract.offer_hash)
        if version is None:
            raise NotFound(f"offer version {contract.offer_hash} is not stored")
        return parse_version(version.content_hash, version.content)


def _content_of(offer: Offer) -> str:
    """The stored text of an offer: its parsed bytes, which must hash to its version."""
    raw = offer.source_bytes
    if not raw or _sha256(raw) != offer.content_hash:
        raise CorruptOfferVersion(
            f"offer {offer.id}: the bytes parsed do not hash to {offer.content_hash}"
        )
    return raw.decode("utf-8")  # the loader decoded them already: they are UTF-8


@functools.lru_cache(maxsize=64)
def parse_version(content_hash: str, content: str) -> Offer:
    """A stored version as an offer, through the same checks as a file; refused when
    its content does not hash to the key it is stored under."""
    raw = content.encode("utf-8")
    if _sha256(raw) != content_hash:
        raise CorruptOfferVersion(
            f"offer version {content_hash}: the stored content hashes to {_sha256(raw)}"
        )
    result = check_bytes(raw, f"offer_versions/{content_hash}")
    if isinstance(result, list):
        raise TermsFileError(result)
    return result
