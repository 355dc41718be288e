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
from typing import IO, Any

from airflow_contact_removal.batching import Batch
from airflow_contact_removal.exceptions import ContactRemovalConfigError
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


def checkpoint_file(folder: str, dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
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
    :param root: the checkpoint folder it lives under: when the file is removed, the folders between
        it and ``root`` that are left empty are removed too (never ``root``, never a folder that holds
        anything).
    """

    def __init__(self, path: str, root: str | None = None) -> None:
        self.path = storage_path(path)
        self.root = storage_path(root) if root is not None else None
        self.records: dict[int, dict[str, Any]] = {}
        self._local = is_local(self.path)
        self._pending: list[str] = []
        self._last_write = time.monotonic()
        self._handle: IO[str] | None = None
        self._added = 0
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

    def prepare(self) -> None:
        """
        Check, before the first request, that the checkpoint can be written: a run that could not
        remember its batches would re-send them all on a retry.
        """
        try:
            if self._local:
                self._open_for_append()
            elif not self.path.exists() or self.records:
                self._rewrite()
        except OSError as exc:
            raise ContactRemovalConfigError(
                f"checkpoint_path: {str(self.path)!r} cannot be written ({type(exc).__name__}: "
                f"{exc.strerror or exc}); choose a writable checkpoint_path or set checkpoint=False"
            ) from None

    def _open_for_append(self) -> IO[str]:
        try:
            handle = open_path(self.path, "a")
        except FileNotFoundError:
            # Another task instance of this run removed the shared, empty folder between our
            # makedirs and open: try once more.
            handle = open_path(self.path, "a")
        self._handle = handle
        return handle

    def finished(self, batch: Batch) -> dict[str, Any] | None:
        """The record of this batch if an earlier try finished it with the same content."""
        record = self.records.get(batch.index)
        if record is not None and record.get("fingerprint") == fingerprint(batch):
            return record
        return None

    def add(self, batch: Batch, record: dict[str, Any]) -> None:
        """Remember a batch that finished without failure."""
        line = json.dumps({**record, "fingerprint": fingerprint(batch)}, separators=(",", ":")) + "\n"
        self._added += 1
        if self._local:
            handle = self._handle if self._handle is not None else self._open_for_append()
            handle.write(line)
            handle.flush()
            return
        self._pending.append(line)
        if time.monotonic() - self._last_write >= _REWRITE_EVERY_S:
            self._rewrite()

    def close(self) -> None:
        """Flush and keep the checkpoint for the next try; one that holds no batch is not kept."""
        self._flush()
        if not self.records and not self._added:
            self.remove()  # made by prepare() for a run that finished no batch: nothing to resume

    def _flush(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._pending:
            self._rewrite()

    def remove(self) -> None:
        """Forget the checkpoint (the run finished with nothing failed), and the folders it leaves empty."""
        self._flush()
        if self.path.exists():
            self.path.unlink()
        self._remove_empty_folders()

    def _remove_empty_folders(self) -> None:
        """``<root>/<dag>/<run>/<task>/``: remove those left empty, from the task's up, below ``root``."""
        if self.root is None or not self._local or not is_local(self.root):
            return  # object stores have no folders of their own to leave behind
        root = os.path.realpath(self.root.path)
        folder = os.path.dirname(os.path.realpath(self.path.path))
        while folder != root and folder.startswith(root + os.sep):
            try:
                os.rmdir(folder)  # only ever removes an empty folder
            except OSError:
                return  # not empty (another task instance's checkpoint), or already gone
            folder = os.path.dirname(folder)

    def _rewrite(self) -> None:
        lines = [json.dumps(record, separators=(",", ":")) + "\n" for record in self.records.values()]
        with self.path.open("w", encoding="utf-8") as handle:
            handle.writelines(lines + self._pending)
        for line in self._pending:
            record = json.loads(line)
            self.records[record["index"]] = record
        self._pending = []
        self._last_write = time.monotonic()
