"""Fixtures of the notices tests: a real SMTP server on loopback, settings naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nuages.kernel.db import Database
from nuages.kernel.settings import Settings

from .smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_settings(tmp_path: Path, database: Database, smtp: SmtpServer) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database.url,
        smtp_url=smtp.url,
        mail_from="factures@isstar.example",
        smtp_timeout=2.0,
    )
