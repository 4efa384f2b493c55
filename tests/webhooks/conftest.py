from __future__ import annotations

import pytest

from strongbox.core.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Receivers in these tests listen on 127.0.0.1 (STRONGBOX_WEBHOOKS_ALLOW_PRIVATE=true).
    return settings.model_copy(update={"webhooks_allow_private": True})
