"""Running ``qemu-img``: bounded in time, its failures as ``DiskError`` (the disks
module states every format and checks every file; this only runs the tool)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable

# qemu-img reading a crafted file must not hang a job (a data file may name a FIFO).
QEMU_IMG_TIMEOUT_S = 120
# Copying a whole disk takes longer than reading its header.
COPY_TIMEOUT_S = 6 * 3600


class DiskError(RuntimeError):
    """``qemu-img`` failed on a disk for a reason that is not the caller's input."""


def run(*args: str, timeout_s: float = QEMU_IMG_TIMEOUT_S) -> str:
    try:
        done = subprocess.run(
            ["qemu-img", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise DiskError(f"qemu-img {args[0]} took over {timeout_s:.0f} s") from exc
    except FileNotFoundError as exc:
        raise DiskError("qemu-img is not installed (Debian package qemu-utils)") from exc
    except subprocess.CalledProcessError as exc:
        raise DiskError(f"qemu-img {args[0]} failed: {exc.stderr.strip()}") from exc
    return done.stdout


def run_with_progress(args: list[str], on_percent: Callable[[float], None]) -> None:
    """Run ``qemu-img <args> -p``, calling ``on_percent`` with each percentage it
    prints (``(12.50/100%)`` separated by carriage returns); killed after
    ``COPY_TIMEOUT_S`` like the quiet copy."""
    command = ["qemu-img", args[0], "-p", *args[1:]]
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError as exc:
            raise DiskError("qemu-img is not installed (Debian package qemu-utils)") from exc
        timer = threading.Timer(COPY_TIMEOUT_S, proc.kill)
        timer.start()
        assert proc.stdout is not None
        pending = b""
        try:
            while chunk := os.read(proc.stdout.fileno(), 4096):
                pending += chunk
                *marks, pending = re.split(rb"[\r\n]", pending)
                for mark in marks:
                    if found := _PERCENT.search(mark):
                        on_percent(float(found.group(1)))
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code < 0:
            raise DiskError(f"qemu-img {args[0]} took over {COPY_TIMEOUT_S:.0f} s")
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip()
            raise DiskError(f"qemu-img {args[0]} failed: {detail}")


_PERCENT = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")
