"""The GDPR tests use the notices tests' real SMTP server on loopback."""

from tests.notices.conftest import smtp, smtp_settings  # noqa: F401
