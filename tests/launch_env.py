"""The environment as pytest was started, before tests/conftest.py isolates it (refusing
proxies, no AWS identity): for the few tools that must reach the package index (pip
installing checkov), never for anything that talks to a store."""

from __future__ import annotations

import os

#: Copied when tests/conftest.py first imports this module, before it changes anything.
LAUNCH_ENV: dict[str, str] = dict(os.environ)
