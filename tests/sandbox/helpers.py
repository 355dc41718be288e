"""Helpers shared by the sandbox tests."""

from __future__ import annotations

from airflow_contact_removal.sandbox import SandboxServer

BIRD_WS = "a1405560-c8d3-4b1a-877d-3f449ad95352"
BIRD_LIST = "123e4567-e89b-12d3-a456-426614174000"
BIRD_OTHER_LIST = "0b0d7e8c-8d5f-4f38-9d3a-3d3c7f0e9a11"


def auth_headers(sandbox: SandboxServer, vendor: str) -> dict[str, str]:
    """The auth header each vendor documents, with the key the sandbox accepts."""
    key = sandbox.api_key(vendor)
    return {
        "autosend": {"Authorization": f"Bearer {key}"},
        "wooxy": {"Access-Token": key},
        "bird": {"Authorization": f"AccessKey {key}"},
        "migma": {"Authorization": f"Bearer {key}"},
    }[vendor]
