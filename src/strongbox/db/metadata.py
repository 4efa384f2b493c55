"""All tables, imported so that Alembic sees the whole schema."""

from __future__ import annotations

import strongbox.auth.models
import strongbox.events.models
import strongbox.idempotency.models
import strongbox.payments.models
import strongbox.routing.models  # noqa: F401
from strongbox.db.base import Base

target_metadata = Base.metadata
