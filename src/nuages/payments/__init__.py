"""Payments: bank statements reconciled against both prepaid top-ups (billing) and
invoices (invoicing), and the SEPA pre-notification rule (docs/payments.md)."""
