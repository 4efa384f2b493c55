"""All tables, imported so that Alembic sees the whole schema."""

from __future__ import annotations

import strongbox.audit.models
import strongbox.auth.models
import strongbox.auth.oauth.models
import strongbox.auth.operator_models
import strongbox.banking.models
import strongbox.compliance.models
import strongbox.events.models
import strongbox.fx.models
import strongbox.idempotency.models
import strongbox.ledger.models
import strongbox.payments.models
import strongbox.privacy.models
import strongbox.reconciliation.models
import strongbox.routing.models
import strongbox.settlement.models
import strongbox.vault.models
import strongbox.webhooks.models  # noqa: F401
from strongbox.db.base import Base

target_metadata = Base.metadata
