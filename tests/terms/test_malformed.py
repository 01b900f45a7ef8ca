"""Broken terms files: each variant of a valid offer must fail with one precise problem,
on the right line and key path, saying what is wrong and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from nuages.terms.loader import Problem, TermsFileError, check_files, load_offer

BASE = (Path(__file__).resolve().parents[2] / "offers" / "axantis-cloud-vm-avance.toml").read_text()

WEIGHTED = """formula = "weighted_indices"
indices = [{ name = "syntec", weight = "0.30" }, { name = "elecvert", weight = "0.60" }]"""

# (name, text replaced, replacement, anchor of the expected line, key path, message part,
#  expected part)
VARIANTS: list[tuple[str, str, str, str, str, str, str]] = [
    (
        "wrong type",
        "vcpu = 2                           #",
        'vcpu = "two"                       #',
        'vcpu = "two"',
        "catalogue.flavours[0].vcpu",
        "wrong type: 'two'",
        "a whole number",
    ),
    (
        "unknown key",
        "rolling_days = 30 ",
        "rolling_dayz = 30 ",
        "rolling_dayz",
        "sla.caps.rolling_dayz",
        "unknown key",
        "rolling_days",
    ),
    (
        "negative duration",
        'period = { amount = 3, unit = "months", clause = "002 §4" }',
        'period = { amount = -3, unit = "months", clause = "002 §4" }',
        "amount = -3",
        "sla.probation.period.amount",
        "-3 is too small",
        "≥ 0",
    ),
    (
        "overlapping tiers",
        'upper_pct = "97"',
        'upper_pct = "98"',
        'upper_pct = "98"',
        "sla.credit_tiers[2].upper_pct",
        "overlaps tier 1",
        "not overlapping",
    ),
    (
        "gap between tiers",
        'upper_pct = "97"',
        'upper_pct = "96"',
        'upper_pct = "96"',
        "sla.credit_tiers[2].upper_pct",
        "earns no credit",
        "contiguous",
    ),
    (
        "credits falling with availability",
        'credit_pct = "20"',
        'credit_pct = "8"',
        'credit_pct = "8"',
        "sla.credit_tiers[2].credit_pct",
        "pays less",
        "growing as availability falls",
    ),
    (
        "tier at the objective",
        'upper_pct = "99.85"\nupper_inclusive = false',
        'upper_pct = "99.85"\nupper_inclusive = true',
        'upper_pct = "99.85"',
        "sla.credit_tiers[0].upper_pct",
        "at or above the objective",
        "below the objective",
    ),
    (
        "cap above 100 %",
        'rolling_pct = "20"',
        'rolling_pct = "120"',
        'rolling_pct = "120"',
        "sla.caps.rolling_pct",
        "'120' is too large",
        "≤ 100",
    ),
    (
        "unknown holiday country",
        'holidays = "FR"',
        'holidays = "XX"',
        'holidays = "XX"',
        "offer.holidays",
        "'XX' is not allowed",
        "'FR' or 'BE'",
    ),
    (
        "bad time zone",
        'timezone = "Europe/Paris"',
        'timezone = "Europe/Pariss"',
        "Europe/Pariss",
        "offer.timezone",
        "not an IANA time zone",
        "Europe/Paris",
    ),
    (
        "money as a TOML float",
        'price = "45.00"',
        "price = 45.0",
        "price = 45.0",
        "catalogue.flavours[0].price",
        "TOML float",
        "a decimal written as a string",
    ),
    (
        "missing required key",
        'provider = "Axantis"\n',
        "",
        "[offer]",
        "offer.provider",
        "required key is missing",
        "a string",
    ),
    (
        "unsafe flavour id",
        'id = "avance-2-4"',
        'id = "Avance 2/4"',
        "Avance 2/4",
        "catalogue.flavours[0].id",
        "not allowed here",
        "lowercase slug",
    ),
    (
        "duplicate ids",
        'id = "avance-4-8"',
        'id = "avance-2-4"',
        'id = "avance-2-4"                  # example\nname = "VM Avancé 4',
        "catalogue.flavours[1].id",
        "used twice",
        "unique",
    ),
    (
        "unknown unit",
        'retention = { amount = 7, unit = "calendar_days"',
        'retention = { amount = 7, unit = "fortnights"',
        "fortnights",
        "snapshots.retention.unit",
        "'fortnights' is not allowed",
        "'clear_days'",
    ),
    (
        "syntax error",
        "vcpu = 2                           #",
        "vcpu =                             #",
        "vcpu =  ",
        "(syntax)",
        "Invalid value",
        "valid TOML",
    ),
    (
        "retentions out of order",
        "retention_days_choices = [7, 31]",
        "retention_days_choices = [31, 7]",
        "retention_days_choices = [31, 7]",
        "backups.retention_days_choices",
        "ascending",
        "[7, 31]",
    ),
    (
        "weights not summing to 1",
        'formula = "none"',
        WEIGHTED,
        "indices = [",
        "indexation.indices",
        "sum to 0.90",
        "Σ weights = 1",
    ),
    (
        "coverage ending before it starts",
        'end = "18:00"',
        'end = "07:00"',
        'end = "07:00"',
        "sla.coverage.end",
        "ends before it starts",
        "end after start",
    ),
    (
        "not a clock time",
        'start = "08:00"',
        'start = "8h"',
        'start = "8h"',
        "sla.coverage.start",
        "'8h' is not a clock time",
        '"HH:MM"',
    ),
    (
        "site outside the allowed countries",
        'name = "Axantis DC 1"\ncountry = "FR"',
        'name = "Axantis DC 1"\ncountry = "DE"',
        'country = "DE"',
        "catalogue.hosting.sites[0].country",
        "outside the allowed countries",
        "FR",
    ),
    (
        "negative price",
        'price = "85.00"',
        'price = "-85.00"',
        'price = "-85.00"',
        "catalogue.flavours[1].price",
        "too small",
        "≥ 0",
    ),
    (
        "unknown schema version",
        "schema_version = 1",
        "schema_version = 2",
        "schema_version = 2",
        "schema_version",
        "2 is not allowed",
        "1",
    ),
    (
        "invoiced mode without its table",
        'mode = "invoiced"',
        'mode = "prepaid"',
        "[billing]",
        "billing",
        "needs a [billing.prepaid] table",
        "[billing.prepaid]",
    ),
]


def line_of(text: str, anchor: str) -> int:
    position = text.index(anchor)
    assert text.count(anchor) == 1 or anchor.startswith("id ="), f"ambiguous anchor {anchor!r}"
    return text[:position].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "anchor", "path", "message", "expected"),
    [v[1:] for v in VARIANTS],
    ids=[v[0] for v in VARIANTS],
)
def test_broken_variant_reports_line_path_and_expectation(
    tmp_path: Path, old: str, new: str, anchor: str, path: str, message: str, expected: str
) -> None:
    """Each variant yields exactly one problem: right line, key path, message, expectation."""
    assert BASE.count(old) >= 1
    text = BASE.replace(old, new, 1)
    file = tmp_path / "broken.toml"
    file.write_text(text)
    problems = check_files([file])
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert problem.path == path
    assert problem.line == line_of(text, anchor)
    assert message in problem.message
    assert expected in problem.expected
    assert str(problem) == (
        f"{file}:{problem.line}: {path}: {problem.message} (expected {problem.expected})"
    )


def test_variant_table_is_large_enough() -> None:
    """The brief asks for at least 15 distinct broken variants."""
    assert len({v[0] for v in VARIANTS}) >= 15


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """Three independent mistakes → three problems, sorted by line; nothing is loaded."""
    text = (
        BASE.replace('holidays = "FR"', 'holidays = "XX"')
        .replace("vcpu = 2 ", 'vcpu = "2"')
        .replace('rolling_pct = "20"', 'rolling_pct = "120"')
    )
    file = tmp_path / "three.toml"
    file.write_text(text)
    with pytest.raises(TermsFileError) as caught:
        load_offer(file)
    problems = caught.value.problems
    assert [p.path for p in problems] == [
        "offer.holidays",
        "catalogue.flavours[0].vcpu",
        "sla.caps.rolling_pct",
    ]
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert caught.value.status == 422
    assert str(caught.value).count("\n") == 2


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    """A missing file and a Latin-1 file are problems, not tracebacks."""
    latin = tmp_path / "latin.toml"
    latin.write_bytes('title = "Avancé"\n'.encode("latin-1"))
    problems = check_files([tmp_path / "missing.toml", latin])
    assert [p.path for p in problems] == ["(file)", "(file)"]
    assert "cannot be read" in problems[0].message
    assert problems[1] == Problem(
        str(latin), 1, "(file)", "not UTF-8 text", "a UTF-8 encoded TOML file"
    )
