"""The decorator that names a step's stage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def stage(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Mark a step function with the stage its failures are recorded under."""

    def mark(fn: Callable[..., Any]) -> Any:
        fn.stage = name  # type: ignore[attr-defined]
        return fn

    return mark
