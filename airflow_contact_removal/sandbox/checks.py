"""The value checks shared by the sandbox's options, its fault settings and its control endpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def is_number(value: Any) -> bool:
    """An int or a float; JSON's ``true`` and ``false`` are not numbers here."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return _is_integer(value) and value >= 0


def _is_amount(value: Any) -> bool:
    return is_number(value) and value >= 0


def _is_fraction(value: Any) -> bool:
    return is_number(value) and 0 <= value <= 1


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


@dataclass(frozen=True)
class Check:
    """
    What a value must be, and how a refusal says it.

    :param accepts: whether a value is acceptable.
    :param expected: the end of the refusal, e.g. ``an integer >= 0``.
    """

    accepts: Callable[[Any], bool]
    expected: str

    def message(self, name: str) -> str:
        """The refusal of a bad ``name``, e.g. ``retry_after must be an integer >= 0``."""
        return f"{name} must be {self.expected}"


INTEGER = Check(_is_integer, "an integer")
COUNT = Check(_is_count, "an integer >= 0")
AMOUNT = Check(_is_amount, "a number >= 0")
FRACTION = Check(_is_fraction, "a number between 0 and 1")
BOOLEAN = Check(_is_boolean, "a boolean")
