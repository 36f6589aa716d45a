"""The environment as pytest was started, before tests/conftest.py isolates it (refusing
proxies, no AWS identity): for the few tools that must reach the package index (pip
installing checkov), never for anything that talks to a store."""

from __future__ import annotations

import json
import os

#: xdist's workers start from the controller's environment, which conftest has already
#: isolated: the controller's copy travels to them under this name.
_CARRIER = "PYTEST_TABLELOG_LAUNCH_ENV"


def _launch_env() -> dict[str, str]:
    carried = os.environ.get(_CARRIER)
    if carried is not None:
        env: dict[str, str] = json.loads(carried)
        return env
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLELOG_"))}
    os.environ[_CARRIER] = json.dumps(env)
    return env


#: Made when tests/conftest.py first imports this module, before it changes anything;
#: without AWS_* and TABLELOG_* (no identity or store settings travel this way).
LAUNCH_ENV: dict[str, str] = _launch_env()
