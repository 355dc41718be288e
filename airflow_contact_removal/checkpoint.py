"""Remember which batches a task instance finished, so a retry after a crash does not send them again.

A checkpoint is a JSON-lines file per task instance (dag, run, task, map index), under a folder the
user chooses (any ``ObjectStoragePath``) or, by default, under ``$AIRFLOW_HOME``. Each line is the
record of a batch that finished without failure, with a fingerprint of its content. On the next
try, a batch with the same index *and* the same fingerprint is taken from the checkpoint instead of
being sent; anything else (a failed batch, a changed input) is sent again. The file is removed when
a run ends with nothing failed.

Local files are appended and flushed after every batch, so a SIGKILL loses at most the batches in
flight (which are re-sent: removal is safe to repeat, and Migma's idempotency key turns the repeat
into a replay). Object stores that cannot append get the whole file rewritten about every 10 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from typing import Any

from airflow_contact_removal.batching import Batch
from airflow_contact_removal.files import is_local, open_path, storage_path

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_REWRITE_EVERY_S = 10.0


def fingerprint(batch: Batch) -> str:
    """A digest of the batch's identifiers: the same batch content gives the same fingerprint."""
    return batch.digest[:32]


def default_checkpoint_folder() -> str:
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(home, "contact_removal_checkpoints")


def checkpoint_file(folder: str, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The checkpoint of one task instance: ``<folder>/<dag>/<run>/<task>/<map index>.jsonl``."""
    parts = [
        _safe(dag_id),
        _safe(run_id),
        _safe(task_id),
        f"{map_index if map_index is not None else -1}.jsonl",
    ]
    return "/".join([str(folder).rstrip("/"), *parts])


def _safe(name: str) -> str:
    cleaned = _UNSAFE.sub("_", str(name)).strip("._") or "_"
    if cleaned != name:  # keep distinct names distinct after cleaning
        cleaned = f"{cleaned[:80]}-{hashlib.sha256(str(name).encode()).hexdigest()[:8]}"
    return cleaned


class Checkpoint:
    """
    The finished batches of one task instance.

    :param path: the checkpoint file (URL or local path); read if it exists.
    """

    def __init__(self, path: str) -> None:
        self.path = storage_path(path)
        self.records: dict[int, dict[str, Any]] = {}
        self._local = is_local(self.path)
        self._pending: list[str] = []
        self._last_write = time.monotonic()
        self._handle = None
        if self.path.exists():
            with self.path.open("r", encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by the crash: that batch is simply sent again
                    self.records[record["index"]] = record
        if self.records:
            log.info(
                "Checkpoint %s: %d batch(es) already done by an earlier try", self.path, len(self.records)
            )

    def finished(self, batch: Batch) -> dict[str, Any] | None:
        """The record of this batch if an earlier try finished it with the same content."""
        record = self.records.get(batch.index)
        if record is not None and record.get("fingerprint") == fingerprint(batch):
            return record
        return None

    def add(self, batch: Batch, record: dict[str, Any]) -> None:
        """Remember a batch that finished without failure."""
        line = json.dumps({**record, "fingerprint": fingerprint(batch)}, separators=(",", ":")) + "\n"
        if self._local:
            if self._handle is None:
                self._handle = open_path(self.path, "a")
            self._handle.write(line)
            self._handle.flush()
            return
        self._pending.append(line)
        if time.monotonic() - self._last_write >= _REWRITE_EVERY_S:
            self._rewrite()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._pending:
            self._rewrite()

    def remove(self) -> None:
        """Forget the checkpoint (the run finished with nothing failed)."""
        self.close()
        if self.path.exists():
            self.path.unlink()

    def _rewrite(self) -> None:
        lines = [json.dumps(record, separators=(",", ":")) + "\n" for record in self.records.values()]
        with self.path.open("w", encoding="utf-8") as handle:
            handle.writelines(lines + self._pending)
        for line in self._pending:
            record = json.loads(line)
            self.records[record["index"]] = record
        self._pending = []
        self._last_write = time.monotonic()
