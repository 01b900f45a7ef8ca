"""Benchmark: ``list_domains`` over many domains against the naive per-domain loop.

Defines N domains (default 500) that are never started, then times the driver's
``list_domains`` (one bulk ``getAllDomainStats`` call) against the loop a first version
would write (``listAllDomains`` then ``state()`` and ``info()`` per domain). Prints the
medians and the ratio driver / naive (below 1.00 = the driver is faster).

On ``test:///default`` everything is in-process; on ``qemu:///system`` each call is a
round trip to libvirtd, which is where the bulk call matters. Domains are only defined
(their disk paths do not exist), and all are undefined at the end.

    .venv/bin/python bench/list_domains.py --uri qemu:///system --domains 500
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import libvirt

from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.drivers.libvirt.domxml import domain_xml
from nuages.compute.hypervisor import DiskBoot, DomainSpec


def naive_listing(conn: libvirt.virConnect) -> int:
    rows = [(d.name(), d.UUIDString(), d.state(), d.info()) for d in conn.listAllDomains()]
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="list_domains against a per-domain loop")
    parser.add_argument("--uri", default="test:///default")
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    hv = LibvirtHypervisor(args.uri)
    conn = libvirt.open(args.uri)
    made: list[libvirt.virDomain] = []
    try:
        for n in range(args.domains):
            vm_id = uuid.uuid4()
            spec = DomainSpec(
                name=f"bench-list-{n}-{vm_id.hex[:6]}",
                uuid=vm_id,
                vcpus=1 + n % 4,
                memory_mib=128,
                disk=Path(f"/nonexistent/nuages-bench/{vm_id}.qcow2"),
                boot=DiskBoot(),
            )
            made.append(conn.defineXML(domain_xml(spec)))
        total = len(conn.listAllDomains())
        ours, naive = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            assert len(hv.list_domains()) == total
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert naive_listing(conn) == total
            naive.append(time.perf_counter() - start)
    finally:
        for dom in made:
            dom.undefine()
        hv.close()
        conn.close()

    a, b = statistics.median(ours), statistics.median(naive)
    print(f"{args.uri}: {total} domains, median of {args.repeat}")
    print(
        f"  list_domains {a * 1000:8.1f} ms | per-domain loop {b * 1000:8.1f} ms | "
        f"ratio {a / b:5.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
