"""nuages: sell, run and bill virtual machines under declarative contract terms."""

__version__ = "0.1.0"
