"""The demo's data: what the vendor sandbox holds, what the SQL source says, and what must remain.

Deterministic, so the demo and the end-to-end tests can check exact numbers.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

MIGMA_PROJECT = "demo-project"
WOOXY_LIST = "churn-list"
BIRD_WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
BIRD_LIST = "123e4567-e89b-12d3-a456-426614174000"
PURGE_TOTAL = 9_000  # the fan-out DAG purges purge0..purge8999
PURGE_SEEDED = 8_500  # of which Migma has these
ERASE_TOTAL = 5_000  # the sharded DAG's file names erase0..erase4999 (plus duplicates and bad lines)
ERASE_SEEDED = 4_000  # of which Migma has these
ERASE_DUPLICATES = 50  # lines repeating an address in another case or with spaces
ERASE_INVALID = 5  # lines that are no email address
WOOXY_PROCESSING_DELAY_S = 2.0  # Wooxy processes removals this long after accepting them


def bird_contact_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.bird.demo"))


def churn_phone(i: int) -> str:
    return f"+3161000{i:04d}"


def suppression_rows() -> list[tuple[str, str]]:
    """(email, reason) rows: unsubscribes, hard bounces, duplicates, bad values, and complaints."""
    rows = [(f"unsub{i}@example.com", "unsubscribe") for i in range(300)]
    rows += [(f"  UNSUB{i}@Example.com ", "unsubscribe") for i in range(20)]  # duplicates after cleaning
    rows += [(f"bounce{i}@example.com", "hard_bounce") for i in range(150)]
    rows += [(bad, "hard_bounce") for bad in ("not-an-email", "", "x@", "bounce@@example.com", "   ")]
    rows += [(f"complaint{i}@example.com", "complaint") for i in range(50)]  # not selected
    return rows


def churn_rows() -> list[tuple[str | None, str | None, str | None, str | None]]:
    """(email, phone, user_id, bird_contact_id) of churned customers; some have only a phone or a user id."""
    rows = [
        (f"churn{i}@example.com", churn_phone(i), f"user-{i}", bird_contact_id(f"churn{i}"))
        for i in range(120)
    ]
    rows += [(None, churn_phone(i), None, None) for i in range(120, 130)]
    rows += [(None, None, f"user-{i}", None) for i in range(130, 140)]
    rows.append((None, "0612345678", None, None))  # not E.164: invalid
    return rows


def sandbox_seed() -> dict:
    """What the vendors hold before the demo runs."""
    keep = [f"keep{i}@example.com" for i in range(300)]
    return {
        "autosend": {
            "contacts": [f"unsub{i}@example.com" for i in range(250)]
            + [f"bounce{i}@example.com" for i in range(150)]
            + keep[:200],
        },
        "migma": {
            "projects": {
                MIGMA_PROJECT: [f"unsub{i}@example.com" for i in range(300)]
                + [f"bounce{i}@example.com" for i in range(100)]
                + keep
                + [f"purge{i}@example.com" for i in range(PURGE_SEEDED)]
                + [f"erase{i}@example.com" for i in range(ERASE_SEEDED)]
            }
        },
        "wooxy": {
            "lists": {
                WOOXY_LIST: [
                    {"email": f"churn{i}@example.com", "phone": churn_phone(i), "userId": f"user-{i}"}
                    for i in range(120)
                ]
                + [{"phone": churn_phone(i)} for i in range(120, 130)]
                + [{"userId": f"user-{i}"} for i in range(130, 140)]
                + [{"email": email} for email in keep[:50]]
            }
        },
        "bird": {
            "workspaces": {
                BIRD_WORKSPACE: {
                    "contacts": [
                        {"id": bird_contact_id(f"churn{i}"), "emailaddress": f"churn{i}@example.com"}
                        for i in range(90)
                    ]
                    + [{"id": bird_contact_id(email), "emailaddress": email} for email in keep[:30]],
                    "lists": {
                        BIRD_LIST: [bird_contact_id(f"churn{i}") for i in range(90)]
                        + [bird_contact_id(email) for email in keep[:30]]
                    },
                }
            }
        },
    }


def write_source_db(path: Path) -> None:
    """The SQL source the example DAGs read (SQLite)."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE suppressions (email TEXT, reason TEXT)")
        db.executemany("INSERT INTO suppressions VALUES (?, ?)", suppression_rows())
        db.execute(
            "CREATE TABLE churned_customers (email TEXT, phone TEXT, user_id TEXT, bird_contact_id TEXT)"
        )
        db.executemany("INSERT INTO churned_customers VALUES (?, ?, ?, ?)", churn_rows())


def write_erasure_file(path: Path) -> int:
    """The sharded DAG's input: one email per line, with duplicates and bad lines. Returns the line count."""
    lines = [f"erase{i}@example.com" for i in range(ERASE_TOTAL)]
    lines += [f"  ERASE{i}@Example.com " for i in range(0, ERASE_TOTAL, ERASE_TOTAL // ERASE_DUPLICATES)]
    lines += ["not-an-email", "x@", "erase@@example.com", "@example.com", "erase 1@example.com"]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


#: What each DAG must leave in the sandbox: vendor -> contacts left after that DAG.
EXPECTED_LEFT = {
    "contact_removal_suppression_pipeline": {"autosend": 200, "migma": 300 + PURGE_SEEDED + ERASE_SEEDED},
    "contact_removal_churn_cleanup": {"wooxy": 50, "bird": 30},
    "contact_removal_large_list_fanout": {"migma": 300 + ERASE_SEEDED},
    "contact_removal_sharded_purge": {"migma": 300},
}
