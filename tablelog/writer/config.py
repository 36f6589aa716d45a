"""``run.config`` and ``run.summary``: W&B's dict-like run fields, kept in ``run.json``.

Both hold plain JSON values only (normalised when they are set, so what a notebook
reads back is what the script saw). Changing either marks the run's ``run.json`` for
rewriting; the run writes it at ``finish()`` and at most every
:data:`PERSIST_EVERY` seconds while logging (docs/format.md, "Runs").
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from tablelog.errors import RunError
from tablelog.format.values import check_text

#: Seconds between background rewrites of a running run's ``run.json`` (config and
#: summary changes); ``finish()`` always writes it.
PERSIST_EVERY = 15.0

#: ``define_metric(summary=...)`` aggregates, as W&B names them.
AGGREGATES = ("min", "max", "mean", "last", "first", "best", "none")


def plain(what: str, value: Any) -> Any:
    """``value`` as plain JSON data (numpy scalars/arrays as numbers/lists; other
    objects as their ``str``, as W&B does for config); NaN/inf become null."""

    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):  # numpy scalars and arrays, torch tensors
            return o.tolist()
        if getattr(o, "_tablelog_media", False):
            return {"_type": o.kind, "digest": o.digest, "ext": o.ext}
        if isinstance(o, Mapping):
            return dict(o)
        if isinstance(o, set | frozenset | tuple):
            return list(o)
        return str(o)

    try:
        text = json.dumps(value, default=default)
    except (TypeError, ValueError, RecursionError) as e:
        raise RunError(f"{what} must be plain data (JSON): {e}") from e
    out = _no_nan(json.loads(text))
    check_text(what, out, RunError)  # (run.json is UTF-8)
    return out


def _no_nan(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_no_nan(x) for x in v]
    return v


def as_mapping(d: Any) -> Mapping[str, Any]:
    if d is None:
        return {}
    if isinstance(d, Mapping):
        return d
    if hasattr(d, "__dict__"):  # argparse.Namespace, simple objects (as W&B accepts)
        return {k: v for k, v in vars(d).items() if not k.startswith("_")}
    raise RunError(f"config.update takes a dict (or an argparse Namespace), got {d!r:.80}")


class Config(MutableMapping[str, Any]):
    """``run.config``: hyper-parameters, with attribute and item access (W&B's
    ``wandb.config``). Values are stored as plain JSON; nested dicts stay dicts.

    Changing a key to a different value needs ``allow_val_change=True`` (as in W&B),
    so a typo in a sweep script does not silently overwrite a hyper-parameter.
    """

    def __init__(
        self,
        items: Mapping[str, Any] | None = None,
        on_change: Callable[[], None] | None = None,
        *,
        allow_val_change: bool = False,
    ) -> None:
        object.__setattr__(self, "_items", dict(items or {}))
        object.__setattr__(self, "_on_change", on_change)
        object.__setattr__(self, "_allow_val_change", allow_val_change)

    # ------------------------------------------------------------ mapping
    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        del self._items[key]
        self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            keys = list(self._items)
            raise AttributeError(f"config has no key {key!r}; keys are {keys}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self.update({key: value})

    def __delattr__(self, key: str) -> None:
        del self[key]

    def __repr__(self) -> str:
        return f"Config({self._items!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return bool(self._items == dict(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ W&B
    def update(  # type: ignore[override]
        self, d: Any = None, allow_val_change: bool | None = None, **kwargs: Any
    ) -> None:
        """Set many keys (a dict, an ``argparse.Namespace``, or keyword arguments)."""
        new = {**as_mapping(d), **kwargs}
        clean: dict[str, Any] = {}
        for key, value in new.items():
            if not isinstance(key, str) or not key:
                raise RunError(f"config keys must be non-empty strings, got {key!r}")
            check_text(f"config key {key!r}", key, RunError)  # (run.json is UTF-8)
            v = plain(f"config[{key!r}]", value)
            allowed = self._allow_val_change if allow_val_change is None else allow_val_change
            if not allowed and key in self._items and self._items[key] != v:
                raise RunError(
                    f"config[{key!r}] is already {self._items[key]!r}; changing it to {v!r} "
                    "needs config.update({...}, allow_val_change=True)"
                )
            clean[key] = v
        if clean:
            self._items.update(clean)
            self._changed()

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        """Set the keys of ``d`` that are not set yet (W&B's ``setdefaults``)."""
        self.update({k: v for k, v in as_mapping(d).items() if k not in self._items})

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._items))  # type: ignore[no-any-return]

    def keys(self) -> Any:
        return self._items.keys()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


class Summary(MutableMapping[str, Any]):
    """``run.summary``: one value per logged key. By default each key's last logged
    value (W&B's rule); ``define_metric(key, summary="min"|"max"|...)`` keeps those
    aggregates instead; a value the script assigns (``run.summary["best"] = x``) wins
    over anything logged later."""

    def __init__(
        self, items: Mapping[str, Any] | None = None, on_change: Callable[[], None] | None = None
    ) -> None:
        self._auto: dict[str, Any] = dict(items or {})
        self._explicit: dict[str, Any] = {}
        self._aggregates: dict[str, tuple[str, ...]] = {}
        self._counts: dict[str, int] = {}
        self._goals: dict[str, str] = {}
        self._on_change = on_change

    def __getitem__(self, key: str) -> Any:
        if key in self._explicit:
            return self._explicit[key]
        return self._auto[key]

    def __setitem__(self, key: str, value: Any) -> None:
        check_text(f"summary key {key!r}", key, RunError)  # (run.json is UTF-8)
        self._explicit[key] = plain(f"summary[{key!r}]", value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        found = self._explicit.pop(key, None) is not None
        found = self._auto.pop(key, None) is not None or found
        if not found:
            raise KeyError(key)
        self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter({**self._auto, **self._explicit})

    def __len__(self) -> int:
        return len({**self._auto, **self._explicit})

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def update(self, d: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in {**as_mapping(d), **kwargs}.items():
            self[k] = v

    def as_dict(self) -> dict[str, Any]:
        return {**self._auto, **self._explicit}

    # ------------------------------------------------------------ from the run
    def define(self, key: str, summary: str | None, goal: str | None = None) -> None:
        """``define_metric(key, summary=..., goal=...)``: which aggregates ``key`` keeps."""
        if goal is not None:
            if goal not in ("minimize", "maximize"):
                raise RunError(f"define_metric goal must be 'minimize' or 'maximize', got {goal!r}")
            self._goals[key] = goal
        if summary is None:
            self._aggregates.pop(key, None)
            return
        aggs = tuple(a.strip().lower() for a in summary.split(",") if a.strip())
        bad = [a for a in aggs if a not in AGGREGATES]
        if bad:
            raise RunError(f"define_metric summary must be among {AGGREGATES}, got {summary!r}")
        self._aggregates[key] = aggs

    def note_logged(self, values: Mapping[str, Any]) -> None:
        """Values ``run.log`` just logged (plain JSON already)."""
        for key, value in values.items():
            aggs = self._aggregates.get(key)
            if aggs is None and self._aggregates:
                aggs = next(
                    (a for pat, a in self._aggregates.items() if fnmatch.fnmatchcase(key, pat)),
                    None,
                )
            if aggs is None:
                self._auto[key] = value
                continue
            if "none" in aggs:
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            old = self._auto.get(key)
            have: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
            n = self._counts.get(key, 0)
            for agg in aggs:
                if agg == "last":
                    have["last"] = value
                elif agg == "first":
                    have.setdefault("first", value)
                elif number and agg in ("min", "max", "best"):
                    prev = have.get(agg)
                    low = agg == "min" or (agg == "best" and self._goals.get(key) != "maximize")
                    pick = min if low else max
                    have[agg] = value if prev is None else pick(prev, value)
                elif number and agg == "mean":
                    prev = have.get("mean")
                    have["mean"] = value if prev is None else prev + (value - prev) / (n + 1)
            if number:
                self._counts[key] = n + 1
            self._auto[key] = have
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
