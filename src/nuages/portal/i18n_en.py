"""The English catalogue: French source text → English (missing entries stay French)."""

from __future__ import annotations

EN: dict[str, str] = {}
