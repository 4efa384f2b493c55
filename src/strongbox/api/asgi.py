"""ASGI entry point for multi-process serving: ``uvicorn --factory strongbox.api.asgi:create``.

Each process builds its own runtime from the environment (``STRONGBOX_*``). Background
workers run in every process; they claim work with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.
"""

from __future__ import annotations

from fastapi import FastAPI

from strongbox.api.app import create_app
from strongbox.core.logging import configure_logging
from strongbox.core.settings import Settings
from strongbox.runtime import build_runtime


def create() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)  # a fresh process per worker
    # The parent process applied migrations before starting the workers.
    return create_app(build_runtime(settings, migrate=False))
