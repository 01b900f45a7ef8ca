"""The terms-file schema and loader: the shipped offers, versioning by content hash,
lookup of the offers directory, the TOML line index, and docs coverage of every key."""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from nuages.kernel.errors import NotFound
from nuages.kernel.settings import get_settings
from nuages.terms.errors_text import _model_of
from nuages.terms.loader import (
    TermsFileError,
    default_offers_dir,
    load_offer,
    load_offers,
    resolve_offer,
)
from nuages.terms.schema import Duration, Offer, Unit
from nuages.terms.toml_lines import key_lines

ROOT = Path(__file__).resolve().parents[2]
OFFERS = ROOT / "offers"
IDS = {
    "isstar-cloud": "000",
    "cloudbizz": "001",
    "axantis-cloud-datacenter": "002",
    "axantis-cloud-vm-avance": "002",
    "axantis-cloud-vm-essentiel": "002",
    "virtualsr-svp": "003",
    "virtualsr-pcv": "003",
    "optima-cloud-azure": "004",
}


def test_the_eight_seed_offers_load_with_their_ids() -> None:
    """Five seeds, eight offers, ids exactly as the platform names them."""
    offers = load_offers(OFFERS)
    assert {o.id: o.offer.source.seed for o in offers.values()} == IDS
    for offer in offers.values():
        assert Path(offer.source_path).name == f"{offer.id}.toml"


def test_content_hash_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    """An offer version is the SHA-256 of its file; a comment change is a new version."""
    source = OFFERS / "cloudbizz.toml"
    offer = load_offer(source)
    assert offer.content_hash == hashlib.sha256(source.read_bytes()).hexdigest()
    copy = tmp_path / "cloudbizz.toml"
    copy.write_bytes(source.read_bytes() + b"# a comment\n")
    assert load_offer(copy).content_hash != offer.content_hash
    assert load_offer(copy).model_dump() == offer.model_dump()


def test_flavour_and_option_ids_are_safe_slugs() -> None:
    """Flavour ids reach libvirt XML and URLs: lowercase letters, digits, inner dashes."""
    slug = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
    for offer in load_offers(OFFERS).values():
        for item in [*offer.catalogue.flavours, *offer.catalogue.options]:
            assert slug.match(item.id), (offer.id, item.id)


def test_seed_numbers_left_to_the_order_are_marked_example() -> None:
    """Every price line of every file is either stated by the seed or marked '# example'."""
    for path in OFFERS.glob("*.toml"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.match(r"^price = ", line) and not line.startswith('price = "0.00"'):
                assert "# example" in line or "§" in line, f"{path.name}:{number}: {line}"


def test_offers_are_frozen_values() -> None:
    """A loaded offer cannot be changed in place."""
    offer = load_offer(OFFERS / "isstar-cloud.toml")
    with pytest.raises(Exception, match="frozen"):
        offer.offer.id = "other"  # type: ignore[misc]


def test_duplicate_offer_ids_in_a_directory(tmp_path: Path) -> None:
    """Two files with one id: the directory does not load and both are named."""
    shutil.copy(OFFERS / "cloudbizz.toml", tmp_path / "a.toml")
    shutil.copy(OFFERS / "cloudbizz.toml", tmp_path / "b.toml")
    with pytest.raises(TermsFileError) as caught:
        load_offers(tmp_path)
    [problem] = caught.value.problems
    assert problem.path == "offer.id" and "a.toml" in problem.message
    assert problem.file.endswith("b.toml") and problem.line == 7


def test_one_bad_file_stops_the_whole_directory(tmp_path: Path) -> None:
    """No half-loaded catalogue: a broken file among good ones raises."""
    shutil.copy(OFFERS / "cloudbizz.toml", tmp_path / "cloudbizz.toml")
    (tmp_path / "bad.toml").write_text("schema_version = 1\n")
    with pytest.raises(TermsFileError) as caught:
        load_offers(tmp_path)
    assert {p.path for p in caught.value.problems} >= {"offer", "catalogue", "billing"}


def test_offers_dir_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NUAGES_OFFERS_DIR wins; without it, ./offers of the current directory is found."""
    monkeypatch.setenv("NUAGES_OFFERS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert default_offers_dir() == tmp_path
        with pytest.raises(NotFound):
            resolve_offer("cloudbizz")
        shutil.copy(OFFERS / "cloudbizz.toml", tmp_path / "renamed.toml")
        assert resolve_offer("cloudbizz").id == "cloudbizz"
    finally:
        monkeypatch.delenv("NUAGES_OFFERS_DIR")
        get_settings.cache_clear()
    monkeypatch.chdir(ROOT)
    assert default_offers_dir() == ROOT / "offers"


def test_offers_dir_found_next_to_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From another directory the source checkout's offers/ is still found."""
    monkeypatch.delenv("NUAGES_OFFERS_DIR", raising=False)
    get_settings.cache_clear()
    monkeypatch.chdir(tmp_path)
    assert default_offers_dir() == OFFERS


def test_resolve_offer_by_path_and_unknown_id() -> None:
    """OFFER is an id or a path; an unknown id lists the known ones."""
    assert resolve_offer(str(OFFERS / "optima-cloud-azure.toml")).id == "optima-cloud-azure"
    with pytest.raises(NotFound, match="known: axantis-cloud-datacenter"):
        resolve_offer("nope", OFFERS)


def test_duration_text() -> None:
    """Durations print as people write them."""
    assert str(Duration(amount=1, unit=Unit.months)) == "1 month"
    assert str(Duration(amount=15, unit=Unit.clear_days)) == "15 clear days"


def _walk(node: Any, path: tuple[str | int, ...] = ()) -> typing.Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _walk(value, (*path, index))


@pytest.mark.parametrize("name", sorted(IDS))
def test_line_index_places_every_key(name: str) -> None:
    """Every key path of every offer maps to the line that holds that key."""
    text = (OFFERS / f"{name}.toml").read_text()
    lines = key_lines(text)
    rows = text.splitlines()
    for path in _walk(tomllib.loads(text)):
        assert path in lines, path
        if isinstance(path[-1], str):
            assert path[-1] in rows[lines[path] - 1], (path, lines[path])


def test_line_index_handles_toml_corners() -> None:
    """Quoted keys, dotted keys, multi-line arrays and strings with brackets or '#'."""
    text = (
        'a = "x # not a comment ]"\n'
        "[t]\n"
        '"quoted.key" = 1\n'
        "d.e = [\n  1,\n  { f = 2 },\n]\n"
        "s = '''\nline [x]\n'''\n"
        "[[arr]]\nk = 1\n[[arr]]\nk = 2\n[arr.sub]\nz = 3\n"
    )
    lines = key_lines(text)
    assert lines[("a",)] == 1
    assert lines[("t", "quoted.key")] == 3
    assert lines[("t", "d", "e", 1, "f")] == 6
    assert lines[("t", "s")] == 8
    assert lines[("arr", 1, "k")] == 14
    assert lines[("arr", 1, "sub", "z")] == 16


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    found = {root}
    for info in root.model_fields.values():
        inner = _model_of(info.annotation)
        if inner is not None and inner not in found:
            found |= _models(inner)
    return found


def test_docs_describe_every_key() -> None:
    """docs/terms.md names every key of every table of the schema, as `key` or inside a
    table header such as `[billing.deposit]`."""
    docs = (ROOT / "docs" / "terms.md").read_text()
    prose = re.sub(r"```.*?```", "", docs, flags=re.DOTALL)  # the example does not count
    code = " ".join(re.findall(r"`([^`]+)`", prose))
    missing = sorted(
        f"{model.__name__}.{name}"
        for model in _models(Offer)
        for name in model.model_fields
        if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", code)
    )
    assert missing == []


def test_docs_example_is_a_valid_offer(tmp_path: Path) -> None:
    """The commented example of docs/terms.md loads, and its numbers flow: the example's
    weighted formula P = P0 × (0.15 + 0.85 × S/S0) with S +10 % gives 100 → 108.50."""
    from decimal import Decimal

    from nuages.terms.apply import revise_price

    docs = (ROOT / "docs" / "terms.md").read_text()
    block = docs.split("<!-- example:start -->")[1].split("<!-- example:end -->")[0]
    toml_text = block.strip().removeprefix("```toml").removesuffix("```")
    file = tmp_path / "example-vps.toml"
    file.write_text(toml_text)
    offer = load_offer(file)
    assert offer.id == "example-vps"
    result = revise_price(offer, Decimal(100), {"syntec": (Decimal(200), Decimal(220))})
    assert result.price == Decimal("108.500")
