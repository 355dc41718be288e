"""Create the Airflow pools that hold each vendor account's budget, from the connections.

::

    python -m airflow_contact_removal.pools create wooxy_default autosend_default
    python -m airflow_contact_removal.pools show wooxy_default        # what would be created, as JSON

Run it where ``airflow`` commands run (it writes to the metadata database, like ``airflow pools
set``). For each connection it creates or updates the pool the connection names (extra ``pool``, else
``contact_removal_<conn_id>``) with as many slots as the account may have requests in flight (Wooxy
10, AutoSend 2, Bird 5, Migma 8), and with ``include_deferred``: a task deferred to the Wooxy trigger
keeps its slots while the trigger polls ``request/find`` within them, so the slots a trigger uses are
never handed to another task. Connections naming the same pool get the smallest of their budgets.

From Python: :func:`pool_specs` (nothing written) and :func:`create_pools`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from airflow.models.pool import Pool

from airflow_contact_removal.budget import AccountBudget
from airflow_contact_removal.exceptions import ContactRemovalError
from airflow_contact_removal.hooks import get_removal_hook


@dataclass(frozen=True)
class PoolSpec:
    """
    One account's pool.

    :param name: the pool name.
    :param slots: the account's in-flight budget.
    :param include_deferred: deferred tasks keep their slots (always true here).
    :param description: what the pool is for, shown in the Airflow UI.
    :param conn_ids: the connections whose account it holds.
    """

    name: str
    slots: int
    include_deferred: bool
    description: str
    conn_ids: tuple[str, ...]


def pool_specs(conn_ids: Sequence[str]) -> list[PoolSpec]:
    """The pools the connections need, one per pool name; reads the connections, writes nothing."""
    by_pool: dict[str, list[AccountBudget]] = {}
    for conn_id in dict.fromkeys(conn_ids):
        budget = AccountBudget.of(get_removal_hook(conn_id))
        by_pool.setdefault(budget.pool, []).append(budget)
    specs = []
    for name, budgets in by_pool.items():
        slots = min(budget.in_flight for budget in budgets)
        described = "; ".join(budget.description() for budget in budgets)
        specs.append(
            PoolSpec(
                name=name,
                slots=slots,
                include_deferred=True,
                description=f"contact removal budget: {described}"[:500],
                conn_ids=tuple(budget.conn_id for budget in budgets),
            )
        )
    return specs


def create_pools(conn_ids: Sequence[str]) -> list[PoolSpec]:
    """Create or update the pools of :func:`pool_specs` in the metadata database."""
    specs = pool_specs(conn_ids)
    for spec in specs:
        Pool.create_or_update_pool(spec.name, spec.slots, spec.description, spec.include_deferred)
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_contact_removal.pools",
        description="Create the Airflow pools that hold vendor accounts' budgets, from the connections.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("create", "create or update the pools"),
        ("show", "print the pools that would be created, as JSON"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("conn_ids", nargs="+", metavar="CONN_ID", help="vendor connection ids")
    args = parser.parse_args(argv)
    try:
        specs = create_pools(args.conn_ids) if args.command == "create" else pool_specs(args.conn_ids)
    except ContactRemovalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "show":
        print(json.dumps([asdict(spec) for spec in specs], indent=2))
    else:
        for spec in specs:
            print(
                f"pool {spec.name}: {spec.slots} slot(s), deferred tasks counted "
                f"(connections: {', '.join(spec.conn_ids)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
