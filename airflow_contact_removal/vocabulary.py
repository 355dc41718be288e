"""The words the package's records use, typed: operations, batch statuses, confirmation kinds.

They are ``StrEnum``\\ s, so each compares equal to its plain string: ``BatchStatus.OK == "ok"``.
Records turn them back into plain strings at their edges (``to_dict()``), so XCom, checkpoints and
results files hold exactly the strings they always did.
"""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    """What a run does: remove the contacts from the account, or only from one list."""

    REMOVE_CONTACTS = "remove_contacts"
    REMOVE_FROM_LIST = "remove_from_list"


class BatchStatus(StrEnum):
    """
    A batch record's status: ``ok`` (every identifier accounted for without failure), ``partial``
    (some failed), ``failed`` (the whole batch failed), ``planned`` (a dry run).
    """

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    PLANNED = "planned"


#: The statuses of records that carry identifiers to re-queue.
FAILED_STATUSES = frozenset({BatchStatus.FAILED, BatchStatus.PARTIAL})


class Confirmation(StrEnum):
    """Whether the vendor's answer is the outcome (``synchronous``) or only says it was accepted."""

    SYNCHRONOUS = "synchronous"
    ASYNCHRONOUS = "asynchronous"
