"""The package's version, written once (in pyproject.toml) and read from the installed metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGE_NAME = "airflow-provider-contact-removal"

try:
    __version__ = version(PACKAGE_NAME)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0.0.0+unknown"
