"""Invoicing: invoices and credit notes a French accountant accepts (SPEC §8, §9).

Runs per contract schedule, immutable documents with gapless numbering, EN 16931 VAT
totals, Factur-X (CII XML in a PDF/A-3), payments and SEPA direct debits, dunning with
interest and fees, disputes. See docs/invoicing.md.
"""
