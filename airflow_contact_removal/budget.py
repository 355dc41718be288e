"""One vendor account, many tasks: the account's limits as a budget shared through an Airflow pool.

A vendor's limits (Wooxy's 10 requests in flight, AutoSend's 2 requests a second, the in-flight caps
chosen for Bird and Migma) hold for the key, so for the sum of every task, mapped instance, worker and
trigger using it. The provider keeps no lock server of its own: Airflow's **pools** are kept by the
scheduler for every executor, so they are the distributed part.

* One pool per account; its slots are the account's in-flight budget (:attr:`AccountBudget.in_flight`).
  The pool is named by the connection's ``pool`` extra, else ``contact_removal_<conn_id>``
  (:func:`default_pool_name`). Two connections with the same key should name the same pool.
* A task's ``pool_slots`` are its share: at most ``pool_slots`` requests in flight, and
  ``pool_slots / budget`` of the account's request rate (:meth:`AccountBudget.share`). The scheduler
  never runs more slots than the pool has, so the shares of the running tasks add up to at most the
  account's limits.
* Pools are given to tasks when the DAG is parsed (:func:`account_pool_args`); connections are read
  when the task runs, where :func:`enforce_share` checks the task's pool and slots against the
  connection and the vendor's cap, before any request, and limits the hook to the share.
* A deferred Wooxy wait keeps its share: the pools are created with ``include_deferred`` (a deferred
  task keeps its slots, so no other task can take them while its trigger polls), and the trigger polls
  with at most the task's slots in flight. See :mod:`airflow_contact_removal.pools`.

A task outside its account's pool gets a warning (its limits then hold for itself only) unless the
connection's ``require_pool`` extra is true, which makes it an error: a warning keeps single-task
setups and existing DAGs working, and the owner of a shared key can make the pool mandatory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_contact_removal.accounting import is_count
from airflow_contact_removal.exceptions import ContactRemovalConfigError

if TYPE_CHECKING:
    from airflow_contact_removal.hooks.base import ContactRemovalHook

log = logging.getLogger(__name__)

#: Prefix of the default pool name: ``contact_removal_<conn_id>``.
POOL_PREFIX = "contact_removal_"
#: Connection extra naming the account's pool.
POOL_EXTRA = "pool"
#: Connection extra that turns "task outside its account's pool" from a warning into an error.
REQUIRE_POOL_EXTRA = "require_pool"


def default_pool_name(conn_id: str) -> str:
    """The pool of a connection that names none: ``contact_removal_<conn_id>``."""
    return f"{POOL_PREFIX}{conn_id}"


def account_pool_args(conn_id: str, slots: int, *, pool: str | None = None) -> dict[str, Any]:
    """
    ``pool`` and ``pool_slots`` for a removal task, to pass to the operator or put in ``default_args``.

    Used when the DAG is parsed, so it reads no connection: pass ``pool`` when the connection's
    ``pool`` extra names one; otherwise the default name is used. At run time the operator checks
    both against the connection and the vendor's cap.

    :param conn_id: the vendor connection the task uses.
    :param slots: the task's share of the account's in-flight budget (e.g. 5 of Wooxy's 10: two such
        tasks run at once, each with 5 requests in flight).
    :param pool: the pool, when the connection's ``pool`` extra names one.
    """
    if not is_count(slots) or slots < 1:  # parsed with the DAG, never rendered: no text
        raise ContactRemovalConfigError(f"slots must be a whole number >= 1, got {slots!r}")
    return {"pool": pool or default_pool_name(conn_id), "pool_slots": slots}


@dataclass(frozen=True)
class TaskShare:
    """
    What one task may use of its account: requests in flight, and requests per second.

    :param pool_slots: the slots the task holds (after clamping to the budget).
    :param in_flight: requests in flight, equal to the slots.
    :param requests_per_second: ``rate * pool_slots / budget``; ``None`` when the account has no rate.
    """

    pool_slots: int
    in_flight: int
    requests_per_second: float | None


@dataclass(frozen=True)
class AccountBudget:
    """
    One vendor account's limits, as a pool: the in-flight budget (the pool's slots) and the rate.

    :param conn_id: the connection.
    :param vendor: the vendor name.
    :param pool: the account's pool.
    :param in_flight: requests the account may have in flight: the vendor's cap, and the pool's size.
    :param requests_per_second: the account's request rate (``None``: the vendor sets none).
    :param require_pool: a task outside :attr:`pool` is an error rather than a warning.
    """

    conn_id: str
    vendor: str
    pool: str
    in_flight: int
    requests_per_second: float | None
    require_pool: bool = False

    @classmethod
    def of(cls, hook: ContactRemovalHook) -> AccountBudget:
        """The budget of the hook's connection: its pool extra, the vendor's cap, the account's rate."""
        extras = hook.extras
        pool = extras.get(POOL_EXTRA)
        if pool is not None and (not isinstance(pool, str) or not pool.strip()):
            raise ContactRemovalConfigError(f"connection {hook.conn_id!r}: extra 'pool' must be a pool name")
        return cls(
            conn_id=hook.conn_id,
            vendor=hook.vendor,
            pool=pool.strip() if pool else default_pool_name(hook.conn_id),
            in_flight=type(hook).max_in_flight,
            requests_per_second=hook.settings.requests_per_second,
            require_pool=_flag(extras.get(REQUIRE_POOL_EXTRA, False), hook.conn_id),
        )

    def share(self, pool_slots: int) -> TaskShare:
        """The share of a task holding ``pool_slots`` slots (clamped to the budget)."""
        slots = max(1, min(int(pool_slots), self.in_flight))
        rate = None
        if self.requests_per_second:
            rate = self.requests_per_second * slots / self.in_flight
        return TaskShare(pool_slots=slots, in_flight=slots, requests_per_second=rate)

    def description(self) -> str:
        rate = f", {self.requests_per_second:g} requests/s" if self.requests_per_second else ""
        return f"{self.vendor} account of connection {self.conn_id}: {self.in_flight} in flight{rate}"


def enforce_share(
    hook: ContactRemovalHook,
    *,
    pool: str | None,
    pool_slots: int | None,
    logger: logging.Logger = log,
) -> TaskShare | None:
    """
    Check a task's pool and slots against its connection, and keep the hook within the task's share.

    Called before any request. A task in its account's pool is limited to its share
    (:meth:`AccountBudget.share`); slots above the vendor's cap are clamped with a warning (the pool
    is then larger than the account allows: recreate it with :mod:`airflow_contact_removal.pools`).
    A task outside the pool is warned that its limits hold for itself only, or refused when the
    connection's ``require_pool`` extra is true.

    :return: the share, or ``None`` when the task is outside its account's pool.
    :raises ContactRemovalConfigError: outside the pool with ``require_pool``.
    """
    budget = AccountBudget.of(hook)
    if pool != budget.pool:
        message = (
            f"task is in pool {pool!r}, not in pool {budget.pool!r} of the {budget.description()}; "
            "other tasks using this key are not counted, so together they may exceed the vendor's "
            f"limits. Use pool={budget.pool!r} (account_pool_args) and create it with "
            "`python -m airflow_contact_removal.pools create`"
        )
        if budget.require_pool:
            raise ContactRemovalConfigError(message + f" (connection extra {REQUIRE_POOL_EXTRA!r} is set)")
        logger.warning("%s", message)
        return None
    slots = pool_slots or 1
    if slots > budget.in_flight:
        logger.warning(
            "pool_slots=%d is more than the %s allows; using %d. The pool %r is larger than the "
            "account's budget: recreate it with `python -m airflow_contact_removal.pools create`",
            slots,
            budget.description(),
            budget.in_flight,
            budget.pool,
        )
    share = budget.share(slots)
    hook.limit_to_share(share.in_flight, share.requests_per_second)
    logger.info(
        "Share of the %s (pool %r): %d of %d slot(s), %d in flight%s",
        budget.description(),
        budget.pool,
        share.pool_slots,
        budget.in_flight,
        share.in_flight,
        f", {share.requests_per_second:g} requests/s" if share.requests_per_second else "",
    )
    return share


def _flag(value: Any, conn_id: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ContactRemovalConfigError(
        f"connection {conn_id!r}: extra {REQUIRE_POOL_EXTRA!r} must be true or false"
    )
