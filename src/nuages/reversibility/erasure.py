"""The erasure at the end of an exit (001 §7: destroyed in a way that keeps them
confidential, and the deletion recorded; 002 §10: the VM and all data erased).

``carry_on`` is one pass: compute's ``ending.erase`` asks for the deletion of each VM
left and, once none is left, deletes the snapshots', backups' and exports' files and
checks nothing is left. Then, in the same transaction, the erasure record goes into
the hash-chained history (what: every VM, disk, snapshot, backup and export; when; by
whom and why; the SHA-256 of that manifest and the provider's Ed25519 signature of it,
``signing.py``), the exit becomes ``erased`` and the
contract ``closed``. A pass killed half-way leaves the exit ``erasing``: the next pass
(after compute's crash recovery finished the deletions) completes it.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import ending
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.reversibility import notify, signing
from nuages.reversibility.models import ContractExit
from nuages.reversibility.service import SYSTEM, _move
from nuages.reversibility.states import ExitState


def carry_on(
    session: Session, runtime: ComputeRuntime, contract: Contract, exit_: ContractExit
) -> bool:
    """One erasure pass (idempotent; never commits); True once the contract is closed."""
    if exit_.state == ExitState.ERASING:
        done = ending.erase(session, runtime, contract.id, SYSTEM)
        if not done.done:
            return False
        manifest = {
            "contract_id": contract.id,
            "clause": exit_.clause,
            "reason": exit_.erasure_reason,
            "requested_by": exit_.erasure_by,
            "started_at": exit_.erasure_started_at.isoformat()
            if exit_.erasure_started_at
            else None,
            "finished_at": utc_now().isoformat(),
            **done.manifest,
        }
        # Redacted and made plain JSON first, so the parameters the history keeps are
        # exactly the bytes signed (a verifier re-serialises them).
        plain = json.loads(json.dumps(history.redact(manifest), default=str))
        entry = history.record(
            session,
            SYSTEM,
            object_type="contract",
            object_id=contract.id,
            action="contract.erasure",
            params=signing.sign(runtime.settings, plain),
            client_id=contract.client_id,
        )
        exit_.erasure_record_id, exit_.erasure_record_hash = entry.id, entry.hash
        session.flush()
        _move(session, exit_, ExitState.ERASED, SYSTEM, f"erasure record {entry.id}")
    if exit_.state == ExitState.ERASED:
        fresh = session.get(Contract, contract.id, populate_existing=True)
        assert fresh is not None
        if fresh.state != ContractState.CLOSED:
            contracts.transition(
                session, fresh, ContractState.CLOSED, SYSTEM, f"data erased ({exit_.clause})"
            )
        _move(session, exit_, ExitState.CLOSED, SYSTEM, "contract closed")
        notify.erased(session, SYSTEM, fresh, exit_)
    return exit_.state == ExitState.CLOSED
