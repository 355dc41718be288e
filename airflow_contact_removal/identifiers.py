"""Turn whatever a DAG passes as identifiers into clean, valid, unique values.

Every item a user passed lands in exactly one place: the stream of valid unique values, the list of
invalid items (with the reason), or the duplicate count. Nothing is dropped silently, and no
identifier is ever logged (they are personal data).
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from airflow_contact_removal.exceptions import ContactRemovalConfigError


class InvalidIdentifier(ValueError):
    """Raised by a normaliser: the value cannot be sent, and why."""


# Emails ---------------------------------------------------------------------------------------------
# Permissive about characters (unicode local parts and IDN domains are valid, RFC 6531), strict about
# structure: one @, no whitespace or specials, dotted domain labels, a TLD that is not all digits.
# Plain string operations rather than one big regex: this runs a million times per large removal.
_FORBIDDEN = re.compile(r'[\s"(),:;<>\[\]\\]|([\x00-\x1f\x7f])')


# Control (Cc) and format (Cf: zero-width space and joiners, BOM, soft hyphen, bidi controls)
# characters, unassigned (Cn), private-use (Co) and surrogate (Cs) code points, and line or paragraph
# separators: invisible or meaningless in an address, so a vendor would store or look up a different
# one (a contact stored with a trailing NUL comes back "not found").
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INVISIBLE = "contains control or invisible characters"


def _has_invisible(text: str) -> bool:
    if _ASCII_CONTROL.search(text) is not None:
        return True
    if text.isascii():
        return False
    category = unicodedata.category
    return any(category(char) in _INVISIBLE_CATEGORIES for char in text if not char.isascii())


def normalise_email(value: str) -> str:
    """Trim and lower-case an email address and check its shape."""
    email = value.strip().lower()
    if not email:
        raise InvalidIdentifier("empty")
    if len(email) > 254:
        raise InvalidIdentifier("longer than 254 characters")
    local, at, domain = email.partition("@")
    # One search finds both specials and (in its group) control characters, which get their own
    # reason once the shape is otherwise right; whitespace controls (tab, newline) are specials.
    bad = _FORBIDDEN.search(email)
    if not at or not local or not domain or "@" in domain or (bad is not None and bad.group(1) is None):
        raise InvalidIdentifier("not an email address")
    if len(local) > 64:
        raise InvalidIdentifier("local part longer than 64 characters")
    if local[0] == "." or local[-1] == "." or ".." in email or "_" in domain:
        raise InvalidIdentifier("not an email address")
    labels = domain.split(".")
    tld = labels[-1]
    if len(labels) < 2 or len(tld) < 2 or tld.isdigit():
        raise InvalidIdentifier("not an email address")
    for label in labels:
        if not label or label[0] == "-" or label[-1] == "-":
            raise InvalidIdentifier("not an email address")
    if bad is not None or (not email.isascii() and _has_invisible(email)):
        raise InvalidIdentifier(_INVISIBLE)
    return email


# Phone numbers --------------------------------------------------------------------------------------
_PHONE_SEPARATORS = str.maketrans("", "", " -().\u00a0")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def normalise_phone(value: str) -> str:
    """Strip spaces, dashes, dots and brackets, and require E.164 (``+`` country code, 7-15 digits)."""
    phone = value.strip().translate(_PHONE_SEPARATORS)
    if not phone:
        raise InvalidIdentifier("empty")
    if not _E164.fullmatch(phone):
        raise InvalidIdentifier("not an E.164 phone number (expected + country code and 7-15 digits)")
    return phone


# Ids ------------------------------------------------------------------------------------------------
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalise_uuid(value: str) -> str:
    """Trim and lower-case a UUID and check its canonical 8-4-4-4-12 form."""
    text = value.strip().lower()
    if not text:
        raise InvalidIdentifier("empty")
    if not _UUID.fullmatch(text):
        raise InvalidIdentifier("not a UUID")
    return text


def normalise_opaque_id(value: str) -> str:
    """Trim an id the vendor defines (contact id, user id): case is kept, it may be significant."""
    text = value.strip()
    if not text:
        raise InvalidIdentifier("empty")
    if len(text) > 256:
        raise InvalidIdentifier("longer than 256 characters")
    if _has_invisible(text):
        raise InvalidIdentifier(_INVISIBLE)
    return text


#: The normaliser used for each identifier kind unless a hook says otherwise.
DEFAULT_NORMALISERS: dict[str, Callable[[str], str]] = {
    "emails": normalise_email,
    "contact_ids": normalise_opaque_id,
    "phone_numbers": normalise_phone,
    "user_ids": normalise_opaque_id,
}


# Input shapes ---------------------------------------------------------------------------------------
def iter_input(value: object, kind: str) -> Iterable[object]:
    """
    Accept the shapes a DAG hands an operator and return an iterable of items.

    ``None`` is empty. A string must be a JSON array (or the Python repr of a list, which is what a
    Jinja template renders without ``render_template_as_native_obj``). Any other iterable (list,
    tuple, set, generator, rows from a SQL operator) is used as it is. Anything else is refused with
    a clear error, since guessing could remove the wrong contacts.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return _parse_string_input(value, kind)
    if isinstance(value, bytes | bytearray):
        raise ContactRemovalConfigError(f"{kind}: got bytes; decode them to text first")
    if isinstance(value, Mapping):
        raise ContactRemovalConfigError(
            f"{kind}: got a mapping with {len(value)} key(s); pass a list of identifiers"
        )
    if isinstance(value, Iterable):
        return value
    raise ContactRemovalConfigError(f"{kind}: expected a list of identifiers, got {type(value).__name__}")


def parse_rendered(text: str) -> object:
    """
    A value a Jinja template rendered as text, read back: JSON, or else a Python literal (the repr a
    template renders without ``render_template_as_native_obj``). Nothing is evaluated.

    :raises ValueError: ``text`` is neither.
    """
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):  # the last two: hostile nesting
            continue
    raise ValueError("not JSON or a Python literal")


def _parse_string_input(text: str, kind: str) -> list[object]:
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[(":
        try:
            parsed = parse_rendered(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list | tuple):
            return list(parsed)
    raise ContactRemovalConfigError(
        f"{kind}: got a single string; pass a list, or a JSON array string such as "
        '\'["a@example.com", "b@example.com"]\''
    )


def _unwrap_row(item: object) -> object:
    """A 1-column row from a SQL operator (tuple or list of one value) stands for its value."""
    if isinstance(item, list | tuple) and len(item) == 1:
        return item[0]
    return item


class UnreadableItem:
    """An input item a reader could not parse (e.g. a line of a JSON-lines file that is not JSON)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<unreadable: {self.reason}>"


def _describe_bad_item(item: object) -> tuple[str, str]:
    """A short, printable form of an item that is not a string, and why it was refused."""
    if isinstance(item, UnreadableItem):
        return "<unreadable>", item.reason
    if item is None:
        return "None", "null value"
    if isinstance(item, list | tuple):
        return f"<row of {len(item)} values>", f"row has {len(item)} columns; select exactly one"
    if isinstance(item, bytes | bytearray):
        return repr(bytes(item[:100])), "bytes, not text"
    text = repr(item)
    return (text[:100] + "...") if len(text) > 100 else text, f"expected a string, got {type(item).__name__}"


# Cleaning -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InvalidRecord:
    """One input item that will not be sent, and why. Pushed to XCom under ``invalid``."""

    kind: str
    value: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value, "reason": self.reason}


class IdentifierCleaner:
    """
    Normalise, validate and de-duplicate identifiers, counting every item exactly once.

    Call :meth:`clean` for each identifier kind; it yields the valid, first-seen values in input
    order. Afterwards ``requested == valid + invalid_count + duplicates``.

    :param normalisers: the normaliser for each kind (defaults to :data:`DEFAULT_NORMALISERS`).
    :param on_invalid: called with each invalid item instead of keeping it in :attr:`invalid` (for
        inputs too large to keep every rejected item in memory).
    """

    def __init__(
        self,
        normalisers: Mapping[str, Callable[[str], str]] | None = None,
        *,
        on_invalid: Callable[[InvalidRecord], None] | None = None,
    ) -> None:
        self.normalisers = dict(DEFAULT_NORMALISERS if normalisers is None else normalisers)
        self.on_invalid = on_invalid
        self.requested = 0
        self.valid = 0
        self.duplicates = 0
        self.invalid_count = 0
        self.invalid: list[InvalidRecord] = []

    def clean(self, kind: str, values: object) -> Iterator[str]:
        """Yield the valid, unique, normalised values of one kind from ``values``, lazily."""
        normalise = self.normalisers[kind]
        seen: set[str] = set()
        add_seen = seen.add
        record_invalid = self._record_invalid
        for raw in iter_input(values, kind):
            self.requested += 1
            item = raw if raw.__class__ is str else _unwrap_row(raw)
            if not isinstance(item, str):
                shown, reason = _describe_bad_item(item)
                record_invalid(InvalidRecord(kind, shown, reason))
                continue
            try:
                value = normalise(item)
            except InvalidIdentifier as exc:
                record_invalid(InvalidRecord(kind, item[:300], str(exc)))
                continue
            if value in seen:
                self.duplicates += 1
                continue
            add_seen(value)
            self.valid += 1
            yield value

    def _record_invalid(self, record: InvalidRecord) -> None:
        self.invalid_count += 1
        if self.on_invalid is not None:
            self.on_invalid(record)
        else:
            self.invalid.append(record)


# Keeping identifiers out of logs -----------------------------------------------------------------
_EMAIL_LIKE = re.compile(r"[^\s@\"'<>(),;:\[\]]+@[^\s@\"'<>(),;:\[\]]+")
_PHONE_LIKE = re.compile(r"\+[0-9][0-9 ().-]{5,}[0-9]")


def redact(text: object, identifiers: Iterable[str] = ()) -> str:
    """
    ``text`` with identifiers taken out: vendor error text, an exception, file content.

    Anything shaped like an email address or a phone number becomes ``<email>`` / ``<phone>``,
    whoever's it is; every value of ``identifiers`` (e.g. the batch the text is about: user ids,
    contact ids) becomes ``<id>`` wherever it stands as a whole word, in any case. The kind is kept
    so an operator can still tell what the vendor complained about.
    """
    text = _EMAIL_LIKE.sub("<email>", str(text))
    text = _PHONE_LIKE.sub("<phone>", text)
    lowered = text.lower()
    values = sorted(
        {value for value in identifiers if value and value.lower() in lowered}, key=len, reverse=True
    )
    if values:
        # Whole values only, longest first: a short id ("u1") must not eat part of a word or a number.
        pattern = "|".join(re.escape(value) for value in values)
        text = re.sub(rf"(?<![\w-])(?:{pattern})(?![\w-])", "<id>", text, flags=re.IGNORECASE)
    return text
