"""Support and managed services: tickets in the offer's business hours (001 §10,
003 §5.1.3, 002 §3.8.3), out-of-hours interventions billed, and managed-service change
requests with their monthly quota and probation (002 §3.8.4, §4)."""
