"""A root to log into, shared by the fixtures (tests/conftest.py) and the tests that build
their own roots. It lives in its own module because ``from conftest import ...`` is
ambiguous: tests/infra has a conftest.py too, and whichever is imported first as the
top-level module ``conftest`` wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tablelog


@dataclass
class Where:
    """A root to log into, with the options a reader needs (and its AWS env)."""

    kind: str
    root: str
    storage_options: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def kw(self) -> dict[str, Any]:
        return {"root": self.root, "storage_options": self.storage_options}

    def init(self, project: str = "p", **kw: Any) -> tablelog.Run:
        return tablelog.init(project=project, **self.kw(), **kw)

    def scan(self, path: str, **kw: Any) -> Any:
        return tablelog.scan(path, **self.kw(), **kw)

    def history(self, path: str) -> Any:
        return tablelog.history(path, **self.kw())

    def scan_runs(self, pattern: str) -> Any:
        return tablelog.scan_runs(pattern, **self.kw())
