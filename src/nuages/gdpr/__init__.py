"""Data protection as 001 §15–16 writes it: the register of processing (Art. 30.2), the
sub-processors, breach notices, audits and staff access to a client's personal data."""
