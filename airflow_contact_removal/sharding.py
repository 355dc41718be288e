"""Split one removal over N task instances by a stable hash of the normalised identifier.

Every shard streams the whole input and keeps only its own items, so no worker holds more than its
share of the de-duplication set, and the shards together count every input item exactly once:

* a valid identifier belongs to ``crc32(normalised value) % shards``: the normalised value is what
  de-duplication compares, so an identifier and all its duplicates (``Jane@X.com``, `` jane@x.com``)
  always meet in one shard, which keeps one and counts the others as duplicates;
* an invalid string belongs to ``crc32(its text) % shards`` (the same bad value always lands in the
  same shard);
* an item that is not text at all (``None``, an unreadable line, a multi-column row) belongs to
  ``position % shards``, its position in the input.

CRC-32 of the UTF-8 bytes is the same on every machine and Python run (Python's ``hash()`` of a
string is salted per process, so two workers would disagree), and costs a fraction of normalising.

Used through the operators: ``RemoveContactsOperator.sharded(task_id=..., input_path=..., shards=8)``,
which is ``.partial(..., shards=8).expand(shard=list(range(8)))``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_contact_removal.accounting import whole_number
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.identifiers import InvalidIdentifier, iter_input

#: ``{shard}`` (and ``{shards}``) in a sharded task's ``results_path`` are replaced by its numbers.
SHARD_PLACEHOLDER = "{shard}"
_PLACEHOLDERS = re.compile(r"\{(shard|shards)(?::([0-9]*d))?\}")
_SHARD_FIELD = re.compile(r"\{shard(?::[0-9]*d)?\}")


def shard_numbers(shards: Any) -> list[int]:
    """``[0, 1, ..., shards - 1]``, to expand a sharded operator over (a list: see ``sharded()``)."""
    return list(range(whole_number(shards, "shards", minimum=1)))


def shard_of(value: str, shards: int) -> int:
    """The shard of a text value: CRC-32 of its UTF-8 bytes, modulo ``shards``."""
    return zlib.crc32(value.encode("utf-8", "surrogatepass")) % shards


@dataclass(frozen=True)
class Shard:
    """
    One shard of a removal: shard ``index`` of ``count``.

    :param index: this shard, from 0 to ``count - 1``.
    :param count: how many shards the removal is split into.
    """

    index: int
    count: int

    @classmethod
    def build(cls, shard: Any, shards: Any) -> Shard | None:
        """The shard for an operator's ``shard``/``shards`` arguments; ``None`` when not sharded."""
        if shard is None and shards is None:
            return None
        if shard is None or shards is None:
            raise ContactRemovalConfigError(
                "pass both shard and shards, e.g. RemoveContactsOperator.sharded(shards=8, ...)"
            )
        index, count = whole_number(shard, "shard"), whole_number(shards, "shards", minimum=1)
        if not 0 <= index < count:
            raise ContactRemovalConfigError(
                f"shard must be from 0 to {count - 1} (shards={count}), got {index}"
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"shard {self.index} of {self.count}"

    def select(
        self, inputs: Mapping[str, Any], normalisers: Mapping[str, Callable[[str], str]]
    ) -> dict[str, Any]:
        """The inputs by kind, each keeping only this shard's items (lazily, re-iterable)."""
        return {kind: ShardInput(value, kind, self, normalisers[kind]) for kind, value in inputs.items()}

    def results_path(self, path: Any) -> str:
        """``path`` with ``{shard}`` (zero-padded ``{shard:03d}`` too) and ``{shards}`` filled in."""
        text = str(path)
        if not _SHARD_FIELD.search(text):
            raise ContactRemovalConfigError(
                f"results_path of a sharded removal must contain {SHARD_PLACEHOLDER} so that every shard "
                "writes its own file, e.g. s3://audit/{{ run_id }}/results-{shard}.jsonl"
            )
        values = {"shard": self.index, "shards": self.count}
        return _PLACEHOLDERS.sub(lambda match: format(values[match[1]], match[2] or "d"), text)


class ShardInput:
    """
    The items of one input that belong to one shard, read lazily each time it is iterated.

    :param value: any input the operators take (list, rows, JSON string, a streamed file).
    :param kind: the identifier kind (``emails``...).
    :param shard: which shard to keep.
    :param normalise: the kind's normaliser, the same one the removal de-duplicates with.
    """

    def __init__(self, value: Any, kind: str, shard: Shard, normalise: Callable[[str], str]) -> None:
        self.value = value
        self.kind = kind
        self.shard = shard
        self.normalise = normalise

    def __repr__(self) -> str:
        return f"ShardInput({self.value!r}, {self.shard})"

    def __iter__(self) -> Iterator[object]:
        return select_shard(iter_input(self.value, self.kind), self.shard, self.normalise)

    def estimated_count(self) -> int | None:
        """About how many input items this shard gets: the input's own estimate, divided evenly."""
        estimate = getattr(self.value, "estimated_count", None)
        total = estimate() if callable(estimate) else None
        return None if total is None else -(-total // self.shard.count)


def select_shard(items: Iterable[object], shard: Shard, normalise: Callable[[str], str]) -> Iterator[object]:
    """Yield the items of ``items`` that belong to ``shard`` (see the module docstring), unchanged."""
    index, count = shard.index, shard.count
    if count == 1:
        yield from items
        return
    crc32 = zlib.crc32
    for position, item in enumerate(items):
        text = item if item.__class__ is str else _text_of(item)
        if text is None:
            if position % count == index:
                yield item
            continue
        try:
            key = normalise(text)
        except InvalidIdentifier:
            key = text
        if crc32(key.encode("utf-8", "surrogatepass")) % count == index:
            yield item


def _text_of(item: object) -> str | None:
    """The string an item stands for (a 1-column row stands for its value), or ``None``."""
    if isinstance(item, str):
        return item
    if isinstance(item, list | tuple) and len(item) == 1 and isinstance(item[0], str):
        return item[0]
    return None
