"""Print the lowest versions pyproject.toml declares for the core dependencies, one pip
requirement a line: ``>=X`` becomes ``==X`` (upper bounds dropped). .ci/run installs
them into a separate venv and runs .ci/smoke.py, so the declared floors stay true."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$")


def floors(pyproject: Path) -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    out = []
    for dep in deps:
        m = _REQ.match(dep.split(";")[0])
        if m is None:
            raise SystemExit(f"cannot read requirement {dep!r}")
        name, spec = m.groups()
        low = re.search(r">=\s*([^,\s]+)", spec)
        if low is None:
            raise SystemExit(f"{dep!r} declares no floor (>=): declare the lowest tested")
        out.append(f"{name}=={low.group(1)}")
    return out


if __name__ == "__main__":
    here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1]
    print("\n".join(floors(here / "pyproject.toml")))
