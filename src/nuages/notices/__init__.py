"""Notices: the e-mails the contracts require, written with the act, delivered after it."""
