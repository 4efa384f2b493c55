"""Secret values whose repr and str are masked, so they never leak into logs or errors."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Secret(Generic[T]):
    """Wraps a sensitive value (PAN, CVC, key, token). Only ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            import hmac

            a, b = self._value, other._value
            if isinstance(a, str) and isinstance(b, str):
                return hmac.compare_digest(a.encode(), b.encode())
            return bool(a == b)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")
