"""One example per command, shown at the end of its ``--help`` (issue #19).

Kept in one table so every slice's commands get one without reshaping their
docstrings; a command whose docstring already has "Example:" keeps its own.
tests/foundation/test_cli_convention.py fails for a command that has neither.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "admin create": "nuages admin create ops@example.be",
    "admin set-email": "nuages admin set-email admin@localhost ops@example.be",
    "client create": (
        "nuages client create --name 'Acme SRL' --country BE --email billing@acme.be "
        "--address 'Rue Neuve 1' --postcode 1000 --city Bruxelles --vat BE0123456749"
    ),
    "billing meter": "nuages billing meter --now 2026-11-02T14:00:00Z",
    "billing import-statement": "nuages billing import-statement camt053-2026-11-02.xml",
    "billing sepa-batch": (
        "nuages billing sepa-batch --out pain008.xml --collection-date 2026-11-10"
    ),
    "billing settle-debit": "nuages billing settle-debit NUAGES-E2E-0001",
    "billing balance": "nuages billing balance CONTRACT_ID --json",
    "billing entries": "nuages billing entries CONTRACT_ID --kind topup --per-page 20",
    "billing topup": "nuages billing topup CONTRACT_ID 100.00 BANKREF-2026-0042",
    "billing adjust": (
        "nuages billing adjust CONTRACT_ID credit 5.00 --reason 'goodwill, ticket 812'"
    ),
    "billing usage": "nuages billing usage CONTRACT_ID --since 2026-11-01T00:00:00Z",
    "billing mandates": "nuages billing mandates CONTRACT_ID",
    "billing extensions": "nuages billing extensions CONTRACT_ID",
    "billing verify": "nuages billing verify",
    "compute reconcile": "nuages compute reconcile --json",
    "compute recover": "nuages compute recover",
    "compute snapshots": "nuages compute snapshots --vm VM_ID --json",
    "compute expire-snapshots": "nuages compute expire-snapshots",
    "backup targets add": "nuages backup targets add bx2 --site brussels-2 --path /srv/backups",
    "backup targets list": "nuages backup targets list --json",
    "backup run": "nuages backup run --vm VM_ID",
    "contract hold list": "nuages contract hold list CONTRACT_ID --json",
    "contract hold place": (
        "nuages contract hold place CONTRACT_ID --ground non_payment --reason 'invoice unpaid'"
    ),
    "contract hold lift": "nuages contract hold lift CONTRACT_ID HOLD_ID --reason 'paid'",
    "contract exit show": "nuages contract exit show CONTRACT_ID --json",
    "contract exit end": "nuages contract exit end CONTRACT_ID --cause client_notice",
    "contract exit erase": "nuages contract exit erase CONTRACT_ID --reason 'never claimed'",
    "contract exit run": "nuages contract exit run --json",
    "history verify": "nuages history verify",
    "host add": "nuages host add qemu:///system --all-sites",
    "host list": "nuages host list --json",
    "host set": "nuages host set kvm1 --cpu-ratio 4 --add-site bru-1",
    "host drain": "nuages host drain kvm1",
    "host refresh": "nuages host refresh kvm1 --json",
    "host disable": "nuages host disable kvm1",
    "host enable": "nuages host enable kvm1",
    "host remove": "nuages host remove kvm1",
    "image build-tiny": "nuages image build-tiny",
    "image import": "nuages image import debian-12-genericcloud-amd64.qcow2 --os debian-12",
    "image list": "nuages image list",
    "index set": "nuages index set syntec 2026-08 296.4",
    "index list": "nuages index list syntec",
    "invoicing legal-rate": "nuages invoicing legal-rate 2026-07-01 2027-01-01 6.65 --series FR",
    "invoicing run": "nuages invoicing run --on 2026-12-01 --dry-run",
    "invoicing dunning": "nuages invoicing dunning --on 2026-12-15",
    "invoicing pdf": "nuages invoicing pdf F-2026-000001 F-2026-000001.pdf",
    "invoicing deposit": "nuages invoicing deposit 6f1c2d3e-0000-4000-8000-000000000001 --json",
    "invoicing receipt record": (  # gdpr/dsn: a bounced invoice received another way
        "nuages invoicing receipt record F-2026-000001 --received-at 2026-01-25T10:00:00Z "
        "--means registered-letter --evidence 'LRAR 1A 234 567 8901 2' --json"
    ),
    "offers check": "nuages offers check offers/*.toml",
    "offers list": "nuages offers list --json",
    "sellers check": "nuages sellers check",
    "terms sla": (
        "nuages terms sla cloudbizz --month 2026-10 "
        "--outage 2026-10-05T09:30/2026-10-05T11:00 --monthly-amount 120"
    ),
    "terms deadline": "nuages terms deadline cloudbizz --event invoice_issued --at 2026-10-05",
    "terms revise": "nuages terms revise cloudbizz --price 100 --index syntec=280.2:291.5",
    "terms interest": (
        "nuages terms interest cloudbizz --amount 1200 --due 2026-03-31 --paid 2026-05-15"
    ),
    "doctor": "nuages doctor --json",
    "up": "nuages up",
    "serve": "nuages serve --host 0.0.0.0 --port 8700",
    "worker": "nuages worker --workers 4",
    # payments (issue 15)
    "payments import-statement": "nuages payments import-statement camt053-2026-11-20.xml --json",
    # issue 14 (console, metrics)
    "metrics collect": "nuages metrics collect --json",
    "metrics rollup": "nuages metrics rollup",
    "metrics show": "nuages metrics show VM_ID --from 2026-12-01T00:00:00Z --step 1h",
    "console open": "nuages console open VM_ID --base-url https://cloud.example.be",
    # issue 14 (network)
    "vm firewall list": "nuages vm firewall list VM_ID --json",
    "vm firewall add": (
        "nuages vm firewall add VM_ID --protocol tcp --port 22 --source 203.0.113.0/24"
    ),
    "vm firewall delete": "nuages vm firewall delete VM_ID RULE_ID",
    "vm firewall approve": "nuages vm firewall approve VM_ID RULE_ID",
    "vm network-declare": "nuages vm network-declare VM_ID --mail-server --register irc",
    "vm network-cut": (
        "nuages vm network-cut VM_ID --ground malicious-traffic --reason 'SYN flood 02:10'"
    ),
    "vm network-restore": "nuages vm network-restore VM_ID",
    "vm new-ip": (
        "nuages vm new-ip VM_ID --reason 'misuse report 117' --report REPORT_ID "
        "--quarantine-days 30"
    ),
    # contract life (issue #21)
    "contracts deadlines": "nuages contracts deadlines --within 30d --json",
    "contracts terminate": (
        "nuages contracts terminate CONTRACT_ID --received-at 2026-09-15T10:00:00Z --confirm"
    ),
    "contracts formal-notice": (
        "nuages contracts formal-notice CONTRACT_ID --ground client_breach --reason 'spam relay'"
    ),
    "contracts publish-terms": (
        "nuages contracts publish-terms isstar-cloud --summary 'support hours extended'"
    ),
    "contracts revise": "nuages contracts revise CONTRACT_ID --pct 4.5 --reason 'energy costs'",
    "contracts daily": "nuages contracts daily --now 2026-12-01T00:30:00Z --json",
    # reversibility (issue #21): relocations, partial recoveries, signed erasure records
    "contracts relocations list": "nuages contracts relocations list CONTRACT_ID --json",
    "contracts relocations record": (
        "nuages contracts relocations record CONTRACT_ID --site montreal-1 --country CA "
        "--reason 'data centre consolidation'"
    ),
    "contracts partial-recoveries list": (
        "nuages contracts partial-recoveries list CONTRACT_ID --json"
    ),
    "contracts partial-recoveries request": (
        "nuages contracts partial-recoveries request CONTRACT_ID --vm-id VM_ID --confirm"
    ),
    "contract exit signing-key": "nuages contract exit signing-key --json",
    "contract exit verify": (
        "nuages contract exit verify --file record.json --public-key provider.pem"
    ),
    # backups (issue 13): a VM's backups and their restore
    "backup list": "nuages backup list VM_ID --json",
    "backup restore": "nuages backup restore VM_ID BACKUP_ID --as-new web-1-restored --json",
}
