"""Identifiers read from, and results written to, files of any Airflow object storage.

Paths are Airflow ``ObjectStoragePath`` URLs (``file://``, ``s3://``, ``gs://``... where the user has
that provider) or plain local paths. Reading is streamed: memory grows with one line, not with the
file.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import posixpath
from collections.abc import Iterator, Mapping
from typing import IO, Any

from airflow_contact_removal._compat import AirflowFailException
from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError
from airflow_contact_removal.identifiers import UnreadableItem, redact

#: Input formats and the file suffixes that select them when ``input_format`` is ``auto``.
INPUT_FORMATS = {"csv": (".csv",), "jsonl": (".jsonl", ".ndjson"), "text": (".txt", ".text", "")}
#: Bytes of an input file looked at, before any request, to refuse a file that is not text.
SNIFF_BYTES = 64 * 1024


class InputFileError(ContactRemovalError, AirflowFailException):
    """
    ``input_path`` cannot be read as the text its format says, e.g. a binary line half way.

    Raised when the reader reaches the bad part (the batches before it were sent and are accounted);
    retrying the task cannot cure it, so Airflow fails the task without using up its retries. The
    message names the file and the line, never its content.
    """


def storage_path(path: Any):
    """An ``ObjectStoragePath`` for a URL or a plain local path."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(path, ObjectStoragePath):
        return path
    text = str(path)
    if "://" not in text:
        text = "file://" + text
    return ObjectStoragePath(text)


def is_local(path) -> bool:
    """Whether an ``ObjectStoragePath`` is a file on this machine."""
    return path.protocol in ("", "file", "local")


def open_path(path: Any, mode: str, **kwargs: Any) -> IO[Any]:
    """
    Open an ``ObjectStoragePath`` as text; local files with plain :func:`open`.

    fsspec's and Airflow's file wrappers cost about 1 us per line read and 0.2 ms per line written
    (the tracking wrapper rebuilds the path's URL on every call): 40% of the preparation of a million
    identifiers, and a fifth of the operator's CPU per request when results are written. For a write,
    a local file's folder is created first.
    """
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    if not is_local(path):
        return path.open(mode, **kwargs)
    if "r" not in mode:
        os.makedirs(os.path.dirname(path.path) or ".", exist_ok=True)
    return open(path.path, mode, **kwargs)


def resolved(path: Any) -> tuple[str, str]:
    """
    Where a path points, for comparing two paths: ``("file", real path)`` for a local file (links
    followed, ``file://`` or plain), else ``(protocol, normalised path)`` on the object store.
    """
    target = storage_path(path)
    if is_local(target):
        return "file", os.path.realpath(target.path)
    return str(target.protocol), posixpath.normpath("/" + str(target.path).lstrip("/"))


def same_file(first: Any, second: Any) -> bool:
    """Whether two paths name the same file (also through a hard link, for local files that exist)."""
    a, b = resolved(first), resolved(second)
    if a == b:
        return True
    if a[0] == b[0] == "file" and os.path.exists(a[1]) and os.path.exists(b[1]):
        return os.path.samefile(a[1], b[1])
    return False


def check_outputs(input_path: Any, outputs: Mapping[str, Any]) -> None:
    """
    Refuse, before anything is opened for writing, an output that is the input or another output.

    :param input_path: the input file, or ``None``.
    :param outputs: the files the run will write, by setting name (``results_path``, ...); ``None``
        values are skipped.
    """
    named = [(name, path) for name, path in outputs.items() if path]
    if input_path:
        for name, path in named:
            if same_file(path, input_path):
                raise ContactRemovalConfigError(
                    f"{name} {str(path)!r} is the input_path: writing it would destroy the input. "
                    "Nothing was sent; choose another path."
                )
    for number, (name, path) in enumerate(named):
        for other_name, other in named[number + 1 :]:
            if same_file(path, other):
                raise ContactRemovalConfigError(f"{name} and {other_name} are the same file {str(path)!r}")


def detect_format(path: str, input_format: str) -> str:
    if input_format != "auto":
        if input_format not in INPUT_FORMATS:
            raise ContactRemovalConfigError(
                f"input_format must be auto, {', '.join(INPUT_FORMATS)}; got {input_format!r}"
            )
        return input_format
    name = str(path).lower().rsplit("/", 1)[-1]
    for fmt, suffixes in INPUT_FORMATS.items():
        if any(suffix and name.endswith(suffix) for suffix in suffixes):
            return fmt
    return "text"


class FileIdentifiers:
    """
    The identifiers in a file, read lazily each time it is iterated (so a count pass is possible).

    :param path: the file: an ``ObjectStoragePath`` URL or a local path.
    :param input_format: ``csv`` (one column, chosen by ``column``), ``text`` (one identifier per line;
        blank lines are skipped), ``jsonl`` (one JSON string per line, or an object whose ``column``
        key holds the identifier), or ``auto`` to choose by the file suffix.
    :param column: the CSV header or JSON key; required for ``csv`` and for ``jsonl`` objects.
    """

    def __init__(self, path: Any, input_format: str = "auto", column: str | None = None) -> None:
        self.path = path
        self.format = detect_format(str(path), input_format)
        self.column = column
        if self.format == "csv" and not column:
            raise ContactRemovalConfigError(
                "a CSV input_path needs column= (the header of the identifier column)"
            )

    def __repr__(self) -> str:
        return f"FileIdentifiers({str(self.path)!r}, format={self.format!r})"

    def check(self) -> None:
        """
        Refuse, before any request, a file that does not exist or is not text.

        Looks at the first :data:`SNIFF_BYTES`: a NUL byte or bytes that are not UTF-8 mean a binary
        file (or another encoding), which would otherwise fail half way through the run.
        """
        path = storage_path(self.path)
        try:
            with open_path(path, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except FileNotFoundError:
            raise ContactRemovalConfigError(f"input_path {str(self.path)!r} does not exist") from None
        except IsADirectoryError:
            raise ContactRemovalConfigError(
                f"input_path {str(self.path)!r} is a folder, not a file"
            ) from None
        except OSError as exc:
            raise ContactRemovalConfigError(
                f"input_path {str(self.path)!r} cannot be read ({type(exc).__name__}: {exc.strerror or exc})"
            ) from None
        if b"\0" in head:
            raise ContactRemovalConfigError(
                f"input_path {str(self.path)!r} is not a text file (it holds NUL bytes); expected UTF-8 {self.format}"
            )
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        except UnicodeDecodeError as exc:
            raise ContactRemovalConfigError(
                f"input_path {str(self.path)!r} is not UTF-8 text (byte {exc.start} is not UTF-8); "
                f"expected UTF-8 {self.format}"
            ) from None

    def estimated_count(self) -> int | None:
        """
        About how many items the file holds, without parsing it: for the progress log's totals.

        A local file's lines are counted (bytes only, about 1 s per GB); for object storage the size
        is divided by the mean length of the first 64 KB's lines. Blank, invalid and duplicate lines
        are included, so the real count of contacts sent is at most this. ``None`` if unknown.
        """
        path = storage_path(self.path)
        header = 1 if self.format == "csv" else 0
        try:
            if is_local(path):
                lines, last = 0, b"\n"
                with open(path.path, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        lines += chunk.count(b"\n")
                        last = chunk[-1:]
                return max(lines + (last != b"\n") - header, 0)
            size = path.stat().get("size")
            with path.open("rb") as handle:
                head = handle.read(1 << 16)
        except (OSError, ValueError, AttributeError, TypeError):
            return None
        newlines = head.count(b"\n")
        if not size or not newlines:
            return None
        return max(round(size / (len(head) / newlines)) - header, 0)

    def __iter__(self) -> Iterator[object]:
        path = storage_path(self.path)
        try:
            # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first value.
            handle = open_path(path, "r", newline="", encoding="utf-8-sig")
        except FileNotFoundError:
            raise ContactRemovalConfigError(f"input_path {str(self.path)!r} does not exist") from None
        with handle:
            if self.format == "csv":
                yield from self._csv(handle)
            elif self.format == "jsonl":
                yield from self._jsonl(handle)
            else:
                number = 0
                try:
                    for number, line in enumerate(handle, start=1):  # noqa: B007 - read after the loop
                        line = line.strip()
                        if line:
                            yield line
                except UnicodeDecodeError as exc:
                    raise self._not_text(number, exc) from None

    def _not_text(self, line: int, exc: UnicodeDecodeError) -> InputFileError:
        return InputFileError(
            f"input_path {str(self.path)!r} is not UTF-8 text after line {line} "
            f"({exc.reason}); is part of it binary?"
        )

    def _csv(self, handle: IO[str]) -> Iterator[object]:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                return
            try:
                # __init__ made sure a CSV input has its column.
                index = [name.strip() for name in header].index(self.column or "")
            except ValueError:
                # The first line may be data (a file without a header): never quote it as it is.
                shown = redact(", ".join(header))[:300]
                raise ContactRemovalConfigError(
                    f"input_path {str(self.path)!r} has no column {self.column!r} in its first line "
                    f"({len(header)} field(s): {shown}); a file without a header needs input_format='text'"
                ) from None
            for row in reader:
                if not row:
                    continue
                yield row[index] if index < len(row) else None
        except csv.Error as exc:
            # csv's messages name the problem, never the content ("field larger than field limit").
            raise InputFileError(
                f"input_path {str(self.path)!r}, CSV line {reader.line_num}: {exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise self._not_text(reader.line_num, exc) from None

    def _jsonl(self, handle: IO[str]) -> Iterator[object]:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    # Counted as an invalid item (its text may be personal data: not in the message).
                    yield UnreadableItem(f"line {number} is not JSON")
                    continue
                except RecursionError:
                    yield UnreadableItem(f"line {number} is nested too deeply to read")
                    continue
                if isinstance(item, dict):
                    if not self.column:
                        raise ContactRemovalConfigError(
                            "JSON-lines objects need column= (the key holding the identifier)"
                        )
                    yield item.get(self.column)
                else:
                    yield item
        except UnicodeDecodeError as exc:
            raise self._not_text(number, exc) from None


class JsonLinesWriter:
    """
    Writes one JSON object per line to a storage path, as results arrive.

    :param path: an ``ObjectStoragePath`` URL or a local path; its parent folder is created for local
        files.
    """

    def __init__(self, path: Any) -> None:
        self.path = storage_path(path)
        try:
            self._handle = open_path(self.path, "w")
        except OSError as exc:
            # Checked before the first request: a run whose results cannot be written does not start.
            raise ContactRemovalConfigError(
                f"results_path {str(path)!r} cannot be written ({type(exc).__name__}: {exc.strerror or exc})"
            ) from None
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.lines += 1

    def close(self) -> None:
        """Close the file with what it has; a failure to flush the last lines is raised."""
        self._handle.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
