"""A real Airflow deployment on this machine, started and stopped by a test or a benchmark.

``dags test`` runs one task at a time in one process, so it cannot show what happens when many tasks
share a vendor key, when a task process is killed, or when a task defers to the triggerer. This
harness runs the real thing: ``airflow db migrate``, then the api-server, scheduler (LocalExecutor),
dag-processor and triggerer as separate processes, plus the vendor sandbox, each started here with a
bounded wait for it to be ready, and each stopped by its PID at the end, even when the test fails.

Usage (also as a pytest fixture, see ``tests/deployment/conftest.py``)::

    with AirflowDeployment(dags_folder="tests/deployment/dags", parallelism=8) as airflow:
        airflow.sandbox.set_faults(latency_ms=50)
        airflow.create_pools("wooxy_main")                 # python -m airflow_contact_removal.pools
        run_id = airflow.trigger("my_dag", conf={...})     # REST API /api/v2, with a JWT
        run = airflow.wait_for_run("my_dag", run_id, timeout=120)
        summary = airflow.xcom("my_dag", run_id, "remove", "return_value")

Choices, and why:

* **Metadata database**: SQLite in the temporary ``AIRFLOW_HOME``. Airflow 3 runs the LocalExecutor on
  SQLite (its ``airflow standalone`` default), and task processes never write to the database
  themselves: they talk to the api-server's execution API, so the writers are the four Airflow
  services. ``parallelism`` (default 8) task processes run at once.
* **Auth**: ``SimpleAuthManager`` with ``simple_auth_manager_all_admins``: ``GET /auth/token`` hands
  out a JWT without credentials (loopback only, a throwaway home). Every REST call carries it.
* **Connections**: ``AIRFLOW_CONN_<ID>`` variables given to every process (:meth:`connection_env`),
  built from the sandbox's addresses and keys.
* **Sandbox**: ``python -m airflow_contact_removal.sandbox`` in its own process, so its event loop
  never competes with the test for the GIL; driven through :class:`SandboxClient`.
* **Logs**: each process writes ``<home>/logs/<name>.log``; :meth:`tail` shows the end of one, and a
  failed start raises with it.

:param dags_folder: the folder of DAG files the dag-processor parses.
:param parallelism: ``[core] parallelism``, the most task processes at once.
:param connections: conn id -> ``(vendor, extras)``; each becomes a connection to the sandbox.
:param sandbox_args: extra command-line flags for the sandbox (e.g. ``["--autosend-rate-limit", "2"]``).
:param env: more environment variables for every Airflow process (e.g. ``AIRFLOW__CORE__...``).
:param start_timeout: seconds to wait for each service to be ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_contact_removal.sandbox import SandboxClient

AIRFLOW = [sys.executable, "-m", "airflow"]
FINISHED_RUN_STATES = frozenset({"success", "failed"})
#: The services of a deployment, in the order they are started (stopped in reverse).
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


class DeploymentError(RuntimeError):
    """The deployment did not start, or did not do what was asked within the time given."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call ``predicate`` until it returns something truthy (returned) or ``timeout`` passes (raises)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, urllib.error.URLError, DeploymentError, ValueError) as exc:
            value, last_error = None, exc
        if value:
            return value
        time.sleep(interval)
    raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")


class AirflowDeployment:
    """A throwaway Airflow (api-server, scheduler, dag-processor, triggerer) plus the vendor sandbox.

    See the module docstring for the parameters and choices.
    """

    def __init__(
        self,
        dags_folder: str | Path,
        *,
        parallelism: int = 8,
        connections: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
        sandbox_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.dags_folder = Path(dags_folder).resolve()
        self.parallelism = parallelism
        self.connections = dict(connections or {})
        self.sandbox_args = list(sandbox_args)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.home: Path | None = None
        self.api_port = 0
        self.sandbox: SandboxClient | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> AirflowDeployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> AirflowDeployment:
        """Make the home, start the sandbox, migrate the database, start the services; wait for each."""
        self.home = Path(tempfile.mkdtemp(prefix="acr-deployment-"))
        (self.home / "logs").mkdir()
        self._start_sandbox()
        self.api_port = free_port()
        self.env = self._environment()
        migrate = self.airflow("db", "migrate", timeout=self.start_timeout)
        if migrate.returncode != 0:
            raise DeploymentError(
                f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}"
            )
        self._spawn(
            "api-server", [*AIRFLOW, "api-server", "--port", str(self.api_port), "--host", "127.0.0.1"]
        )
        wait_until(self._api_ready, self.start_timeout, "the api-server", interval=1.0)
        for service in SERVICES[1:]:
            self._spawn(service, [*AIRFLOW, service])
        wait_until(self._services_healthy, self.start_timeout, "scheduler, dag-processor and triggerer", 1.0)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every process this deployment started, by PID (its process group): TERM, then KILL."""
        for name in reversed(list(self.processes)):
            self._terminate(self.processes[name], timeout)
        self.processes.clear()

    def cleanup(self) -> None:
        """Remove the temporary home (after :meth:`stop`)."""
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            command,
            env=self.env if name != "sandbox" else self._base_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            start_new_session=True,  # its own process group: its children are stopped with it
        )
        log.close()
        self.processes[name] = process
        return process

    def _terminate(self, process: subprocess.Popen, timeout: float) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)  # the group this deployment created for it
            except ProcessLookupError:
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        # Its children (task processes, api-server workers) may outlive it: kill what is left of the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout)

    def _start_sandbox(self) -> None:
        port = free_port()
        self._spawn(
            "sandbox",
            [
                sys.executable,
                "-m",
                "airflow_contact_removal.sandbox",
                "--port",
                str(port),
                *self.sandbox_args,
            ],
        )
        self.sandbox = SandboxClient(f"http://127.0.0.1:{port}")
        wait_until(lambda: self._alive("sandbox") and self.sandbox.faults() is not None, 30, "the sandbox")

    def _alive(self, name: str) -> bool:
        process = self.processes[name]
        if process.poll() is not None:
            raise DeploymentError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")
        return True

    # -- environment --------------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        """The environment without any Airflow setting or connection of the calling process."""
        return {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_HOME"))
            and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }

    def _environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        api = f"http://127.0.0.1:{self.api_port}"
        env = {
            **self._base_env(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, self.parallelism)),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",
            # One secret for every service, so the tokens the scheduler hands to tasks are accepted.
            "AIRFLOW__API_AUTH__JWT_SECRET": "acr-deployment-test-secret-" + self.home.name,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "NO_PROXY": "*",
            "no_proxy": "*",
        }
        for conn_id, (vendor, extras) in self.connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = self.sandbox.connection_uri(vendor, **dict(extras))
        env.update(self.extra_env)
        return env

    def connection_env(self) -> dict[str, str]:
        """The ``AIRFLOW_CONN_*`` variables every process of this deployment has."""
        return {key: value for key, value in self.env.items() if key.startswith("AIRFLOW_CONN_")}

    def airflow(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run an ``airflow`` CLI command against this deployment."""
        return self.run([*AIRFLOW, *args], timeout=timeout)

    def run(self, command: Sequence[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run a command in this deployment's environment (bounded by ``timeout``)."""
        return subprocess.run(
            list(command),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.home,
        )

    def create_pools(self, *conn_ids: str) -> str:
        """The account pools of these connections, with the provider's CLI."""
        done = self.run([sys.executable, "-m", "airflow_contact_removal.pools", "create", *conn_ids])
        if done.returncode != 0:
            raise DeploymentError(f"pools create failed:\n{done.stdout}{done.stderr[-3000:]}")
        return done.stdout

    def tail(self, name: str, lines: int = 60) -> str:
        """The last lines of one process's log."""
        path = self.home / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- REST API -----------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _api_ready(self) -> bool:
        self._alive("api-server")
        with self._opener.open(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
            return response.status == 200

    def _services_healthy(self) -> bool:
        for service in SERVICES:
            self._alive(service)
        health = self.api("GET", "/api/v2/monitor/health")
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def token(self) -> str:
        """A JWT from the SimpleAuthManager (all admins): ``GET /auth/token``."""
        if self._token is None:
            with self._opener.open(f"{self.api_url}/auth/token", timeout=30) as response:
                self._token = json.loads(response.read())["access_token"]
        return self._token

    def api(
        self, method: str, path: str, body: Any = None, *, params: Mapping[str, Any] | None = None
    ) -> Any:
        """One REST call; the JSON answer, or :class:`DeploymentError` with the status and body."""
        url = f"{self.api_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token()}")
        request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise DeploymentError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from None
        return json.loads(raw) if raw else None

    def wait_for_dags(self, *dag_ids: str, timeout: float = 120.0) -> None:
        """Wait until the dag-processor has parsed these DAGs (and they are not paused)."""

        def parsed() -> bool:
            for dag_id in dag_ids:
                dag = self.api("GET", f"/api/v2/dags/{dag_id}")
                if dag.get("is_paused"):
                    self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            return True

        wait_until(parsed, timeout, f"DAGs {', '.join(dag_ids)} to be parsed", interval=1.0)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run of ``dag_id`` through the REST API; return its run id."""
        run = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})}
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        """Wait for a run to finish; return its state (``success`` or ``failed``)."""
        return wait_until(
            lambda: (state := self.run_state(dag_id, run_id)) in FINISHED_RUN_STATES and state,
            timeout,
            f"run {run_id} of {dag_id} to finish",
            interval=1.0,
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        )
        return answer["task_instances"]

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """One XCom value, as the task pushed it."""
        entry = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index},
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value

    def rendered_fields(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task's rendered template fields as the UI's Rendered Templates tab gets them."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.api("GET", path)["rendered_fields"]

    def pool(self, name: str) -> dict[str, Any]:
        return self.api("GET", f"/api/v2/pools/{name}")
