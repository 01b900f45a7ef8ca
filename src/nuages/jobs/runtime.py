"""What a job process needs: the database, built once per process (``kernel.jobs``)."""

from __future__ import annotations

from nuages.kernel.jobs import get_database

__all__ = ["get_database"]
