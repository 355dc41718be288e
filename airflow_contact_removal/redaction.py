"""
Identifier arguments as Airflow's UI shows them: a count and a short digest, never the values.

The identifier arguments are template fields, so once they are rendered Airflow's task runner
stores each one in ``rendered_task_instance_fields`` and the UI's Rendered Templates tab shows it.
The task runner asks an object for its ``serialize()`` (its ``str()`` on older task SDKs) before
storing it; :class:`ShownAsDigest` answers that with a count and a digest while it keeps the real
value for the operator, so the removal itself is unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sized
from typing import Any, ClassVar

from airflow_contact_removal.exceptions import ContactRemovalConfigError

#: hex characters of the SHA-256 digest shown: enough to tell two inputs apart, short to read.
DIGEST_LENGTH = 12


class ShownAsDigest:
    """
    A rendered identifier argument: the value for the operator, a count and a digest for Airflow.

    :param value: the rendered value (a list, rows, a JSON array string, any iterable).
    :param noun: what one item is, for the description (``identifier``, ``batch record``).
    """

    __slots__ = ("noun", "value")

    def __init__(self, value: Any, noun: str = "identifier") -> None:
        self.value = value
        self.noun = noun

    def serialize(self) -> str:
        """What Airflow stores and shows, e.g. ``<450 identifier(s), sha256:3f2a9c01b7de>``."""
        return describe(self.value, self.noun)

    __str__ = __repr__ = serialize


def revealed(value: Any) -> Any:
    """The real value behind a :class:`ShownAsDigest`; any other value as it is."""
    return value.value if isinstance(value, ShownAsDigest) else value


def describe(value: Any, noun: str = "identifier") -> str:
    """
    A count and a digest of the items, without the items.

    The digest is the first characters of the SHA-256 of the items as JSON, in the order given, so
    the same input shows the same digest in every run. An iterator is never consumed to describe
    it: it is counted when it knows its length, and not digested.
    """
    items = _items(value)
    if items is None:
        if isinstance(value, Sized):
            return f"<{len(value)} {noun}(s) from a {type(value).__name__}>"
        return f"<{noun}s from a {type(value).__name__}, not counted>"
    digest = hashlib.sha256(json.dumps(items, default=str, ensure_ascii=False).encode()).hexdigest()
    return f"<{len(items)} {noun}(s), sha256:{digest[:DIGEST_LENGTH]}>"


def _items(value: Any) -> list | None:
    if isinstance(value, str):
        from airflow_contact_removal.identifiers import iter_input

        try:
            return list(iter_input(value, "value"))  # a string input's items, as the operator reads them
        except ContactRemovalConfigError:
            return [value]
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return None


class HidesIdentifierFields:
    """
    Operator mixin: after rendering, the fields named in ``identifier_fields`` are shown as digests.

    It hooks ``_do_render_template_fields``, the one step both a plain task and an expanded mapped
    task go through (a mapped task renders its unmapped copy through it, not through
    ``render_template_fields``), right before the task runner reads the fields to store them.
    """

    #: the template fields that hold identifiers (personal data).
    identifier_fields: ClassVar[tuple[str, ...]] = ()
    #: what one item of those fields is, for the description.
    identifier_noun: ClassVar[str] = "identifier"

    def _do_render_template_fields(self, parent, template_fields, context, jinja_env, seen_oids) -> None:
        # A mixin: the next class in the MRO is the operator's BaseOperator, which mypy cannot see.
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)  # type: ignore[misc]
        if parent is not self:
            return  # a nested templated object, not this operator's own fields
        for name in self.identifier_fields:
            value = getattr(self, name, None)
            if value is not None and not isinstance(value, ShownAsDigest):
                setattr(self, name, ShownAsDigest(value, self.identifier_noun))
