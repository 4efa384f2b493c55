"""Structured JSON logging with redaction, and the request id of every log line.

``configure_logging(level, fmt)`` installs one handler on the root logger that writes one
JSON object per line (python-json-logger): ``time``, ``level``, ``logger``, ``message``,
``request_id`` (from ``request_id_var``, set by the API middleware for the duration of a
request; ``null`` outside requests), any ``extra={...}`` fields, and ``exc_info`` for
exceptions. ``fmt="text"`` keeps a plain one-line format, redacted the same way.

Redaction is the last line of defence (secrets live in ``core.secret.Secret`` and are never
logged on purpose). ``redact(text)`` masks, in the message after argument substitution, in
every string of ``extra`` fields (recursively) and in tracebacks:

- card numbers: 13-19 digits passing the Luhn check, contiguous or grouped with single spaces
  or dashes (``4242 4242 4242 4242``), not part of a longer digit run;
- CVC values: ``cvc``/``cvv``/``cvc2``/``cvv2``/``csc``/``security_code`` followed by ``=`` or
  ``:`` (form, JSON, ``card[cvc]=…``); fields of ``extra`` with such a name are masked whole;
- API keys ``sk_…``, ``pk_…``, ``rk_…``, webhook secrets ``whsec_…``, and the credentials of
  ``Bearer …`` / ``Basic …`` authorization values.

Amounts, timestamps, ids and other numbers stay as they are.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Final, Literal

from pythonjsonlogger.json import JsonFormatter

from strongbox.core.luhn import luhn_valid

__all__ = [
    "REDACTED",
    "JsonLogFormatter",
    "RedactingFilter",
    "TextLogFormatter",
    "configure_logging",
    "luhn_valid",
    "redact",
    "redact_value",
    "request_id_var",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "strongbox_request_id", default=None
)
"""The id of the request being served (``req_…``), or None outside requests."""

REDACTED: Final = "[REDACTED]"
PAN_MASK: Final = "[REDACTED PAN]"

_SENSITIVE_FIELDS: Final = re.compile(
    r"(?i)^(?:cvc2?|cvv2?|csc|security_code|card_?number|number|pan|password|passwd|secret|"
    r"api_?key|secret_?key|authorization|token|access_token|client_secret)$"
)
# Digits in groups separated by one space or dash; never glued to other digits or to a
# separator followed by more digits on either side (checked in _mask_pans).
_DIGIT_RUN: Final = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
_CVC: Final = re.compile(
    r"(?i)((?<![a-z0-9])(?:cvc2?|cvv2?|csc|security_code)(?![a-z0-9])[\]\"']*\s*[:=]\s*[\"']?)"
    r"[0-9]{3,4}(?![0-9])"
)
_KEYS: Final = re.compile(
    r"(?<![A-Za-z0-9])((?:sk|pk|rk)_(?:test|live)_|(?:sk|pk|rk)_|whsec_)[A-Za-z0-9+/=_-]{4,}"
)
# A credential has a digit, "_", "+", "/" or "=" in it: "Basic information" stays.
_AUTH: Final = re.compile(
    r"(?i)(?<![a-z0-9])(bearer|basic)(\s+)(?=[A-Za-z0-9._~+/=:-]*[0-9_+/=])[A-Za-z0-9._~+/=:-]{8,}"
)


def _mask_run(run: str) -> str:
    """Mask every Luhn-valid 13-19 digit span made of whole groups of ``run``."""
    groups = re.split(r"([ -])", run)  # digits, sep, digits, sep, ...
    digit_groups = groups[0::2]
    n = len(digit_groups)
    masked = [False] * n
    for start in range(n):
        length = 0
        for end in range(start, n):
            length += len(digit_groups[end])
            if length > 19:
                break
            if length >= 13 and luhn_valid("".join(digit_groups[start : end + 1])):
                for i in range(start, end + 1):
                    masked[i] = True
    if not any(masked):
        return run
    out: list[str] = []
    for i, group in enumerate(digit_groups):
        if masked[i]:
            if i > 0 and masked[i - 1]:
                continue  # already inside a mask: drop the group and its separator
            if i > 0:
                out.append(groups[2 * i - 1])
            out.append(PAN_MASK)
        else:
            if i > 0:
                out.append(groups[2 * i - 1])
            out.append(group)
    return "".join(out)


def redact(text: str) -> str:
    """``text`` with card numbers, CVCs, API keys, webhook secrets and credentials masked."""
    if not text:
        return text
    text = _CVC.sub(lambda m: m.group(1) + REDACTED, text)
    text = _KEYS.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTH.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _DIGIT_RUN.sub(lambda m: _mask_run(m.group(0)), text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """Redact strings inside ``value`` (dicts, lists, tuples), masking sensitive field names."""
    if isinstance(value, str):
        return redact(value)
    if depth > 8:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and _SENSITIVE_FIELDS.match(key) and value[key]
                else redact_value(item, depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item, depth + 1) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line, with the request id, every string value redacted."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["request_id"] = getattr(record, "request_id", None) or request_id_var.get()
        log_record.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message

    def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
        redacted: dict[str, Any] = redact_value(log_record)
        return redacted


class TextLogFormatter(logging.Formatter):
    """The plain format, with the request id and the same redaction."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return redact(super().format(record))


class RedactingFilter(logging.Filter):
    """Redacts a record in place (message with its args, extra fields): for handlers that do
    not use the formatters above."""

    _STANDARD: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in self._STANDARD:
                if _SENSITIVE_FIELDS.match(key) and value:
                    record.__dict__[key] = REDACTED
                else:
                    record.__dict__[key] = redact_value(value)
        return True


def configure_logging(level: str = "INFO", fmt: Literal["json", "text"] = "json") -> None:
    """Send every log record (uvicorn's included) to stderr, formatted and redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if fmt == "json" else TextLogFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the root level decides (uvicorn.run may set its own)
