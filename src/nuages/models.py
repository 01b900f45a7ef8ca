"""Every slice's models, imported so the metadata (and Alembic) sees all tables."""

from __future__ import annotations

from nuages.accounts import models as accounts_models
from nuages.billing import models as billing_models
from nuages.compute import models as compute_models
from nuages.compute.console import models as console_models
from nuages.compute.metrics import models as metrics_models
from nuages.compute.net import models as network_models
from nuages.contracts import models as contracts_models
from nuages.gdpr import models as gdpr_models
from nuages.history import models as history_models
from nuages.invoicing import models as invoicing_models
from nuages.kernel.db import Base
from nuages.managed import models as managed_models
from nuages.notices import models as notices_models
from nuages.payments import models as payments_models
from nuages.portal import models as portal_models
from nuages.reversibility import models as reversibility_models
from nuages.sla import models as sla_models
from nuages.support import models as support_models

__all__ = [
    "Base",
    "accounts_models",
    "billing_models",
    "compute_models",
    "console_models",
    "contracts_models",
    "gdpr_models",
    "history_models",
    "invoicing_models",
    "managed_models",
    "metrics_models",
    "network_models",
    "notices_models",
    "payments_models",
    "portal_models",
    "reversibility_models",
    "sla_models",
    "support_models",
]
