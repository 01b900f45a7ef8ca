"""What a job process needs: the database, built once per process."""

from __future__ import annotations

import functools

from nuages.kernel.db import Database
from nuages.kernel.settings import get_settings


@functools.cache
def get_database() -> Database:
    """The database of this process, from the settings."""
    return Database(get_settings().effective_database_url)
