"""Minimal Django settings for benchmarking django-hordak (benchmarks/ledger_bench.py only)."""

import os

SECRET_KEY = "benchmark-only"  # noqa: S105 - a throwaway settings module for a benchmark
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "mptt",
    "djmoney",
    "hordak",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("HORDAK_BENCH_DB", "ledger_bench_hordak"),
        "USER": os.environ.get("HORDAK_BENCH_USER", "postgres"),
        "HOST": os.environ.get("HORDAK_BENCH_HOST", "127.0.0.1"),
        "PORT": os.environ.get("HORDAK_BENCH_PORT", "5432"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
HORDAK_CURRENCIES = ["USD"]
CURRENCIES = ["USD"]
DEFAULT_CURRENCY = "USD"
