"""Benchmark: a monthly invoicing run, XML and Factur-X PDFs included.

Sets up N contracts of offer ``virtualsr-svp`` (prices VAT included, so every invoice
also derives exact nets) with 10 ordered lines each (default N = 200; the issue's figure
is ``--contracts 10000``), then times:

1. the run: pricing, VAT, gapless numbers, CII XML, rows and history, one transaction
   per contract (``nuages.invoicing.runs.run``);
2. the PDFs: the XML checked against the XSD by ``facturx``, the French one-page
   PDF/A-3 drawn and written directly with factur-x.xml and its Factur-X XMP
   (``drawing``, ``pdfa``; Typst for longer documents, none here), stored
   (``pdf.render_many``, 100 a transaction), on ``--workers`` processes.

Baseline, same documents and workers: the ``factur-x`` library alone embedding each
invoice's pre-built XML (taken from the database before timing) into one pre-rendered
PDF/A-3 (``facturx.generate_from_binary``). Prints invoices per second for both and the
ratio nuages / baseline (below 1.00 = nuages is slower; it also prices, numbers, writes
and lays out each document).

    .venv/bin/python bench/invoicing.py                       # N = 200, SQLite
    .venv/bin/python bench/invoicing.py --contracts 10000     # the issue's figure
    .venv/bin/python bench/invoicing.py --database postgresql     # NUAGES_TEST_POSTGRES_URL
    .venv/bin/python bench/invoicing.py --database postgresql+psycopg://…/db
    .venv/bin/python bench/invoicing.py --overlap # PDFs rendered while the run goes
    .venv/bin/python bench/invoicing.py --steps   # plus CPU per step, one process

``--steps`` then times each step of a PDF in this one process (``time.process_time``,
so other processes' load counts less than in wall time; medians over up to 200
invoices, the steps interleaved invoice by invoice), the library's own embedding
(``generate_from_binary``) among them.

On PostgreSQL the run always gets a database of its own, created on that server and
dropped at the end: the bench never writes into an existing database. ``--overlap``: the
PDF workers render what the run has committed while it goes on (as a provider's job
workers do), and the figure is the wall time from the run's start to the last PDF.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import facturx as facturx_lib
from sqlalchemy import insert, select

from nuages.accounts.models import Client
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import drawing, embedding, pdf, pdfa, runs
from nuages.invoicing.models import ContractLine, Invoice, InvoiceDocument, InvoiceLine
from nuages.kernel import migrate
from nuages.kernel.clock import UTC, frozen_at, utc_now
from nuages.kernel.db import Database, new_id
from nuages.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import postgres_database_on  # noqa: E402
from tests.invoicing.factories import SVP_ITEMS  # noqa: E402

# The tests' fictional seller identities (the example one issues nothing).
SELLERS = Path(os.environ.get("NUAGES_SELLERS_DIR", ROOT / "tests" / "data" / "sellers"))
OFFER = "virtualsr-svp"
ITEMS = SVP_ITEMS
FORMED = dt.datetime(2026, 2, 28, 23, tzinfo=UTC)  # 1 March 2026, 00:00 in Paris
RUN_AT = dt.datetime(2026, 3, 1, 6, tzinfo=UTC)


def setup(database: Database, registry: OfferRegistry, count: int) -> None:
    """N formed contracts with 10 lines each, bulk-inserted (setup is not timed)."""
    offer = registry.current(OFFER)
    with database.unit() as session:
        registry.record(session, offer)
        client_id = new_id()
        session.add(
            Client(
                id=client_id,
                kind="business",
                legal_name="Client Bench SARL",
                country="FR",
                vat_number=None,
                billing_email="bench@example.com",
                address_line1="3 avenue du Banc",
                postcode="69002",
                city="Lyon",
            )
        )
        session.flush()
        now = utc_now()
        contracts, lines = [], []
        for n in range(count):
            contract_id = str(uuid.UUID(int=n + 1))
            contracts.append(
                {
                    "id": contract_id,
                    "client_id": client_id,
                    "offer_id": OFFER,
                    "offer_hash": offer.content_hash,
                    "state": "active",
                    "accepted_at": FORMED,
                    "activated_at": FORMED,
                    "state_reason": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for k, item in enumerate(ITEMS):
                lines.append(
                    {
                        "id": new_id(),
                        "contract_id": contract_id,
                        "client_id": client_id,
                        "item_id": item,
                        "quantity": 1 + (n + k) % 3,
                        "since": FORMED.date() + dt.timedelta(days=1),
                        "description": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        for start in range(0, len(contracts), 2000):
            session.execute(insert(Contract), contracts[start : start + 2000])
        for start in range(0, len(lines), 5000):
            session.execute(insert(ContractLine), lines[start : start + 5000])


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its finished children: the
    pool's workers count once the pool has shut down."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _render_chunk(url: str, ids: list[str]) -> int:
    database = Database(url)
    done = pdf.render_many(database, ids)
    database.dispose()
    return done


def _render_following(url: str, index: int, workers: int, finished: str) -> int:
    """One PDF worker following a run as it goes (``--overlap``): render what the run
    has committed (this worker's share, ``index`` of ``workers``) until the run says it
    is done (the file ``finished``) and nothing is left. What a provider's job workers
    do while the run issues: PDFs rendered outside its transactions, on the other core."""
    database = Database(url)
    done = 0
    while True:
        last = Path(finished).exists()  # read before the query: nothing issued after it
        with database.unit() as session:
            ids = [
                i
                for i in session.execute(
                    select(Invoice.id).where(
                        ~select(InvoiceDocument.invoice_id)
                        .where(InvoiceDocument.invoice_id == Invoice.id)
                        .exists()
                    )
                ).scalars()
                if int(i[-6:], 16) % workers == index
            ]
        if ids:
            done += pdf.render_many(database, ids)
        elif last:
            break
        else:
            time.sleep(0.05)
    database.dispose()
    return done


def _embed_chunk(base_pdf: bytes, xmls: list[bytes]) -> int:
    for xml in xmls:
        facturx_lib.generate_from_binary(
            base_pdf, xml, flavor="factur-x", level="en16931", check_xsd=True, lang="fr-FR"
        )
    return len(xmls)


def steps(database: Database, invoice_ids: list[str]) -> dict[str, float]:
    """Median CPU milliseconds of each step of ``pdf.render`` (and of the library's
    embedding, for comparison) over ``invoice_ids``, measured in this process."""
    with database.unit() as session:
        invoices = [session.get_one(Invoice, i) for i in invoice_ids]
        lines = {
            i: list(
                session.execute(
                    select(InvoiceLine)
                    .where(InvoiceLine.invoice_id == i)
                    .order_by(InvoiceLine.position)
                ).scalars()
            )
            for i in invoice_ids
        }
        session.expunge_all()
    times: dict[str, list[float]] = {}

    def timed(name: str, step, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.process_time()
        out = step(*args, **kwargs)
        times.setdefault(name, []).append((time.process_time() - start) * 1000)
        return out

    pdf.layout_pdf(pdf.layout_data(invoices[0], lines[invoice_ids[0]], None))  # warm
    pdf.render(invoices[0], lines[invoice_ids[0]], None)  # the fonts subset once
    for invoice in invoices:
        rows = lines[invoice.id]
        values = timed("layout values", pdf.layout_values, invoice, rows, None)
        data = timed("layout data (JSON, for Typst)", pdf.layout_data, invoice, rows, None)
        timed("XSD check (facturx)", pdf.check_xsd, invoice.xml)
        content = timed("page drawn (drawing.draw)", drawing.draw, values)
        timed(
            "PDF/A-3 written (pdfa.write)",
            pdfa.write,
            content,
            invoice.xml.encode(),
            title="t",
            author="a",
            subject="s",
            keywords="k",
            at=RUN_AT,
        )
        bare = timed("Typst compile, no attachment", pdf.layout_pdf, data)
        attached = timed("Typst compile + factur-x.xml", pdf.layout_pdf, data, invoice.xml)
        timed("Factur-X XMP update", embedding.add_facturx_xmp, attached)
        timed("render, Typst's path (with_typst)", pdf.render, invoice, rows, None, with_typst=True)
        timed("render (values, XSD, drawn, written)", pdf.render, invoice, rows, None)
        timed(
            "library embedding (generate_from_binary)",
            pdf.embed_xml,
            bare,
            invoice.xml,
            invoice.number,
            "Nuages",
            False,
        )
    return {name: statistics.median(values) for name, values in times.items()}


def _chunks(items: list, parts: int) -> list[list]:  # type: ignore[type-arg]
    return [items[i::parts] for i in range(parts) if items[i::parts]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="monthly invoicing run with XML and PDFs")
    parser.add_argument("--contracts", type=int, default=200, help="N (the issue: 10000)")
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (default), postgresql (a fresh database on NUAGES_TEST_POSTGRES_URL's "
        "server) or a PostgreSQL URL (a fresh database on that server)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", action="store_true", help="also CPU ms per PDF step")
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="PDF workers render while the run goes (as job workers do), not after it",
    )
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="nuages-bench-invoicing-")
    with contextlib.ExitStack() as stack:
        if args.database == "sqlite":
            url = f"sqlite:///{folder}/bench.db"
        else:
            server = args.database
            if server == "postgresql":
                server = os.environ.get("NUAGES_TEST_POSTGRES_URL", "")
            if not server.startswith("postgresql"):
                parser.error("--database: sqlite, postgresql or a postgresql+psycopg:// URL")
            url = stack.enter_context(postgres_database_on(server, "nuages_bench_inv"))
        return _bench(args, url, folder)


def _bench(args: argparse.Namespace, url: str, folder: str) -> int:
    migrate.upgrade(url)
    database = Database(url)
    registry = OfferRegistry.from_directory(ROOT / "offers")
    t0 = time.perf_counter()
    setup(database, registry, args.contracts)
    print(
        f"setup: {args.contracts} contracts × {len(ITEMS)} lines in "
        f"{time.perf_counter() - t0:.1f} s ({database.dialect})"
    )

    settings = Settings(database_url=url, sellers_dir=SELLERS)
    cpu0 = _cpu()
    if args.overlap:
        # The PDF workers follow the run as it commits (what job workers do in
        # production); the figure is the wall time from the run's start to the last PDF.
        finished = Path(folder) / "run-finished"
        with ProcessPoolExecutor(args.workers) as pool:
            start = time.perf_counter()
            futures = [
                pool.submit(_render_following, url, i, args.workers, str(finished))
                for i in range(args.workers)
            ]
            with frozen_at(RUN_AT):
                report = runs.run(
                    database, Actor.system("bench"), registry, RUN_AT.date(), settings=settings
                )
            run_seconds = time.perf_counter() - start
            finished.touch()
            done = sum(f.result() for f in futures)
            total_seconds = time.perf_counter() - start
        pdf_seconds = total_seconds - run_seconds  # the PDFs still to render after the run
    else:
        with frozen_at(RUN_AT):
            start = time.perf_counter()
            report = runs.run(
                database, Actor.system("bench"), registry, RUN_AT.date(), settings=settings
            )
            run_seconds = time.perf_counter() - start
        cpu_run = _cpu() - cpu0
        issued = [d["invoice_id"] for d in report.issued]
        start = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            chunks = _chunks(issued, args.workers)
            done = sum(pool.map(_render_chunk, [url] * len(chunks), chunks))
        pdf_seconds = time.perf_counter() - start
        total_seconds = run_seconds + pdf_seconds
    cpu_ours = _cpu() - cpu0  # this process's run and the PDF workers, all CPUs
    split = ""
    if not args.overlap:
        split = f" = run {1000 * cpu_run / args.contracts:.1f} + PDFs "
        split += f"{1000 * (cpu_ours - cpu_run) / args.contracts:.1f}"
    issued = [d["invoice_id"] for d in report.issued]
    assert len(issued) == args.contracts and not report.problems, report.problems
    assert done == len(issued), (done, len(issued))
    ours = len(issued) / total_seconds

    with database.unit() as session:
        xmls = [x.encode() for x in session.execute(select(Invoice.xml)).scalars()]
        # The baseline embeds every XML into one PDF/A-3 rendered before timing.
        sample = session.execute(select(Invoice).limit(1)).scalar_one()
        rows = list(
            session.execute(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id == sample.id)
                .order_by(InvoiceLine.position)
            ).scalars()
        )
        base = pdf.layout_pdf(pdf.layout_data(sample, rows, None))
    start, cpu0 = time.perf_counter(), _cpu()
    with ProcessPoolExecutor(args.workers) as pool:
        embedded = sum(pool.map(_embed_chunk, [base] * args.workers, _chunks(xmls, args.workers)))
    base_seconds = time.perf_counter() - start
    cpu_base = _cpu() - cpu0
    assert embedded == len(xmls)
    baseline = len(xmls) / base_seconds

    print(f"N = {len(issued)} invoices of {len(ITEMS)} lines, {args.workers} PDF worker(s)")
    print(
        f"  run (price, VAT, number, XML, rows): {run_seconds:7.1f} s "
        f"= {len(issued) / run_seconds:7.1f} invoices/s"
    )
    if args.overlap:
        print(f"  PDFs left to render after the run:   {pdf_seconds:7.1f} s (rendered as it ran)")
    else:
        print(
            f"  PDFs (PDF/A-3 drawn + factur-x.xml): {pdf_seconds:7.1f} s "
            f"= {len(issued) / pdf_seconds:7.1f} invoices/s"
        )
    print(f"nuages, run + PDFs:                  {ours:7.1f} invoices/s")
    print(f"baseline, factur-x embedding only:   {baseline:7.1f} invoices/s")
    print(f"ratio nuages / baseline:             {ours / baseline:7.3f}")
    # On a shared machine the wall-clock rates follow the other jobs' load; the CPU
    # each invoice took (every process, user + system) does much less, and bounds what
    # the machine's cores could do idle (perfect overlap, no waiting).
    cores = os.cpu_count() or 1
    ms, ms_base = 1000 * cpu_ours / len(issued), 1000 * cpu_base / len(xmls)
    print(
        f"CPU per invoice: nuages {ms:.1f} ms{split} (run + PDFs, every process), "
        "embedding alone "
        f"{ms_base:.1f} ms; on {cores} idle cores at most {1000 * cores / ms:.0f} /s "
        f"against {1000 * cores / ms_base:.0f} /s (load {os.getloadavg()[0]:.1f})"
    )
    if args.steps:
        picked = issued[:200]
        print(f"CPU per invoice, one process, medians over {len(picked)} (ms):")
        for name, ms in steps(database, picked).items():
            print(f"  {name:42s} {ms:6.2f}")
    database.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
