"""Issue #21 item 6: the erasure record is signed by the provider (Ed25519), its public
key published, and a record can be checked by the API, the CLI, or by anyone holding
the public key; a record changed after signing fails. 001 §7: the client chooses
deletion and "la suppression ... sera consignée" — the record is that proof."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from nuages.cli import app as cli_app
from nuages.kernel.clock import set_now
from nuages.kernel.settings import Settings
from nuages.reversibility import signing
from tests.reversibility.conftest import Ex

UTC = dt.UTC


def _erased(ex: Ex) -> dict[str, object]:
    """A cloudbizz contract (001 §7) whose client chose deletion: erased and closed."""
    ex.setup("cloudbizz", vms=1)
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    ex.end("non_renewal")
    set_now(dt.datetime(2026, 5, 4, 9, tzinfo=UTC))
    r = ex.post("choice", {"choice": "deletion", "letter_at": "2026-04-30T10:00:00Z"})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    ex.daily()
    assert ex.daily()["state"] == "closed"
    r = ex.http.get(
        f"/api/v1/contracts/{ex.contract_id}/exit/erasure-record", headers=ex.owner.headers
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


@pytest.fixture
def cli(ex: Ex, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("NUAGES_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("NUAGES_DATA_DIR", str(settings.data_dir))
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    yield CliRunner()
    settings_module.get_settings.cache_clear()


def test_001_s7_erasure_record_signed_and_verifies_with_the_published_key(ex: Ex) -> None:
    """The record names the VM erased, when and why; its signature verifies with the
    public key published at GET /erasure-signing-key alone (raw base64 as well as PEM),
    and the API's own check says valid. The key was generated once under the data
    directory, private to the installation (mode 0600)."""
    body = _erased(ex)
    record = body["record"]
    assert isinstance(record, dict)
    assert body["verdict"] == {
        "valid": True,
        "reason": "signed by the provider's key; the record is unchanged",
        "key_id": record["signing_key_id"],
    }
    assert record["signature_algorithm"] == "Ed25519" and record["contract_id"] == ex.contract_id
    assert {v["id"] for v in record["vms"]} == set(ex.vm_ids)  # type: ignore[index, union-attr]
    assert "deletion" in str(record["reason"])
    r = ex.http.get("/api/v1/erasure-signing-key", headers=ex.owner.headers)
    assert r.status_code == 200, r.text
    published = r.json()
    assert published["key_id"] == record["signing_key_id"]
    # Anyone checks it with the 32 raw bytes: no nuages code involved.
    raw = Ed25519PublicKey.from_public_bytes(base64.b64decode(published["public_key"]))
    signed = {k: v for k, v in record.items() if k not in signing.SIGNATURE_FIELDS}
    data = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    raw.verify(bytes.fromhex(str(record["signature"])), data)  # raises if invalid
    assert signing.verify(signing.load_public(published["public_key_pem"]), record).valid
    # The history entry holds the same record; the exit points at it.
    assert ex.exit()["erasure_record_id"] == body["history_id"]
    key_file = ex.cw.runtime.settings.data_dir / "keys" / "erasure-signing.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_001_s7_tampered_erasure_record_fails_verification(ex: Ex) -> None:
    """A record whose content is changed after signing fails: a VM removed from the
    list, a date moved (with or without recomputing the SHA-256), a signature from
    another key."""
    record = _erased(ex)["record"]
    assert isinstance(record, dict)
    public = signing.load_public(
        ex.http.get("/api/v1/erasure-signing-key", headers=ex.owner.headers).json()["public_key"]
    )
    assert signing.verify(public, record).valid
    fewer = {**record, "vms": []}
    verdict = signing.verify(public, fewer)
    assert not verdict.valid and "SHA-256" in verdict.reason
    moved = {**record, "finished_at": "2026-01-01T00:00:00+00:00"}
    moved["manifest_sha256"] = signing.hashlib.sha256(
        signing.canonical(signing.manifest_of(moved))
    ).hexdigest()
    verdict = signing.verify(public, moved)
    assert not verdict.valid and verdict.reason == "the signature does not match the record"
    other = Settings(data_dir=ex.cw.tmp / "elsewhere")
    forged = signing.sign(other, signing.manifest_of(record))
    assert not signing.verify(public, forged).valid
    unsigned = signing.manifest_of(record)
    assert not signing.verify(public, unsigned).valid


def test_erasure_record_cli_verifies_and_refuses_a_tampered_file(ex: Ex, cli: CliRunner) -> None:
    """`nuages contract exit verify CONTRACT_ID` checks the stored record (exit 0);
    `--file` checks a record given as JSON with `--public-key` (a tampered one exits 1);
    `nuages contract exit signing-key` prints the same key the API publishes."""
    body = _erased(ex)
    r = cli.invoke(cli_app, ["contract", "exit", "verify", ex.contract_id, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["valid"] is True
    r = cli.invoke(cli_app, ["contract", "exit", "signing-key", "--json"])
    assert r.exit_code == 0, r.output
    key = json.loads(r.stdout)
    assert key["key_id"] == body["record"]["signing_key_id"]  # type: ignore[index]
    pem = ex.cw.tmp / "provider.pem"
    pem.write_text(key["public_key_pem"])
    good, bad = ex.cw.tmp / "good.json", ex.cw.tmp / "bad.json"
    good.write_text(json.dumps(body))
    tampered = dict(body["record"])  # type: ignore[call-overload]
    tampered["reason"] = "nothing was erased"
    bad.write_text(json.dumps(tampered))
    args = ["contract", "exit", "verify", "--public-key", str(pem), "--json", "--file"]
    r = cli.invoke(cli_app, [*args, str(good)])
    assert r.exit_code == 0 and json.loads(r.stdout)["valid"] is True, r.output
    r = cli.invoke(cli_app, [*args, str(bad)])
    assert r.exit_code == 1 and json.loads(r.stdout)["valid"] is False, r.output
    r = cli.invoke(cli_app, ["contract", "exit", "verify"])
    assert r.exit_code == 2 and "CONTRACT_ID or --file" in r.stderr


def test_erasure_record_before_the_erasure_is_404(ex: Ex) -> None:
    """A running contract has no erasure record yet: 404 problem, not an empty body."""
    ex.setup("cloudbizz", vms=0)
    r = ex.http.get(
        f"/api/v1/contracts/{ex.contract_id}/exit/erasure-record", headers=ex.owner.headers
    )
    assert r.status_code == 404 and "not erased" in r.json()["detail"]


def test_signing_key_generated_once_and_from_settings(tmp_path: Path) -> None:
    """The key is generated at first use and then read back (same key id); a key file
    named in the settings is used instead of the data directory's."""
    settings = Settings(data_dir=tmp_path / "d")
    first = signing.public_key(settings)
    assert signing.public_key(settings) == first
    assert (tmp_path / "d" / "keys" / "erasure-signing.pem").exists()
    named = Settings(data_dir=tmp_path / "d", erasure_signing_key_file=tmp_path / "k.pem")
    assert signing.public_key(named).key_id != first.key_id
    assert (tmp_path / "k.pem").exists()


def test_regression_signed_fields_survive_the_history_redaction(tmp_path: Path) -> None:
    """The key id was 16 hex digits; one shaped like an IBAN ("da70…") was redacted when
    the history stored the record, so the stored record no longer verified. Every field
    the signature adds must come out of the redaction unchanged, for any key."""
    from nuages.history.service import redact

    manifest = {"contract_id": "c", "reason": "deletion chosen", "vms": []}
    for n in range(200):
        signed = signing.sign(Settings(data_dir=tmp_path / str(n)), manifest)
        assert redact(signed) == signed, signed["signing_key_id"]


def test_signing_key_first_use_racing_yields_one_key(tmp_path: Path) -> None:
    """Workers starting together on a fresh install all end up with the same key, and
    no half-written or temporary file is left beside it."""
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(data_dir=tmp_path / "d")
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _n: signing.public_key(settings).key_id, range(16)))
    assert len(ids) == 1
    assert [p.name for p in (tmp_path / "d" / "keys").iterdir()] == ["erasure-signing.pem"]
