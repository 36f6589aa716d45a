"""The viewer's pages as HTML strings, built from a root and a URL's query.

Pure page logic, no web framework: :mod:`tablelog.ui.app` routes requests here. Every
name and cell goes through :func:`esc` (or is a number we formatted); URLs are built
with ``urlencode`` and escaped again as attributes. All view state lives in the URL
query, so every page is a deep link. Tables are read through ``tablelog.scan`` as
lazy frames: a page is ``filter -> sort -> slice`` and a count, collected together,
so a long table is never loaded whole.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import polars as pl

from tablelog.caches import LRU, UI_FRAME_ROWS, UI_FRAMES
from tablelog.errors import NotFoundError, TablelogError
from tablelog.format import paths
from tablelog.format.chain import TableRef, latest_version
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.objects.store import Store
from tablelog.read import history as table_history
from tablelog.read import scan
from tablelog.ui import catalog
from tablelog.ui.charts import Series, line_chart
from tablelog.ui.filters import FilterError, parse_filter

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PICKER_OPTIONS = 1000
MAX_CHARTS = 24
MAX_CHART_RUNS = 20
_TEXT_LIMIT = 1000
_INLINE_BYTES = 256 * 1024
_HISTORY = "_history"
_SKIP_METRICS = {"_step", "_time", INCREMENT_COLUMN}

Query = Mapping[str, Sequence[str]]


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class BadRequest(TablelogError, ValueError):
    """A query parameter that is not what the page expects."""


@dataclass(frozen=True)
class Page:
    title: str
    body: str
    crumbs: tuple[tuple[str, str], ...] = ()
    status: int = 200
    attrs: Mapping[str, str] | None = None


# -- small helpers ------------------------------------------------------------


def one(query: Query, name: str, default: str = "") -> str:
    values = query.get(name) or ()
    return values[-1] if values else default


def int_param(query: Query, name: str, *, low: int | None = None) -> int | None:
    text = one(query, name).strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        raise BadRequest(f"parameter {name}={text[:40]!r} is not a whole number") from None
    if low is not None and n < low:
        raise BadRequest(f"parameter {name} must be >= {low}, got {n}")
    return n


def seg(name: str) -> str:
    """A name as one URL path segment."""
    return quote(name, safe="")


def project_url(project: str) -> str:
    return f"/p/{seg(project)}"


def run_url(project: str, run_id: str) -> str:
    return f"/r/{seg(project)}/{seg(run_id)}"


def table_url(project: str, run_id: str, key: str, **params: Any) -> str:
    base = f"/t/{seg(project)}/{seg(run_id)}/{quote(key, safe='/')}"
    return with_query(base, params)


def with_query(base: str, params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    items = params.items() if isinstance(params, Mapping) else params
    kept = [(k, v) for k, v in items if v is not None and v != ""]
    return f"{base}?{urlencode(kept)}" if kept else base


def _time(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return ""
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _kv_cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return cell_html(json.dumps(value, ensure_ascii=False, default=str))
    return cell_html(value)


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


def _error(text: str) -> str:
    return f'<p class="error" role="alert">{esc(text)}</p>'


def _short(text: str) -> str:
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


# -- cells ----------------------------------------------------------------------

_SAFE_MIME = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp",
}  # fmt: skip


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def blob_url(cell: Mapping[str, Any]) -> str | None:
    name = f"{cell.get('digest')}.{cell.get('ext')}"
    return f"/blob/{name}" if paths.BLOB_NAME.fullmatch(name) else None


def _media_cell(cell: Mapping[str, Any]) -> str | None:
    kind = cell.get("kind")
    url = blob_url(cell)
    if url is None or kind not in ("image", "audio", "video", "html", "file"):
        return None
    caption = cell.get("caption") if isinstance(cell.get("caption"), str) else None
    label = cell.get("name") or caption or f"{kind} {str(cell.get('digest'))[:12]}"
    cap = f'<div class="cap">{esc(caption)}</div>' if caption else ""
    u = esc(url)
    if kind == "image":
        size = ""
        w, h = cell.get("width"), cell.get("height")
        if isinstance(w, int) and isinstance(h, int):
            size = f' data-size="{w}x{h}"'
        return (
            f'<a href="{u}" target="_blank" rel="noopener"><img class="thumb" src="{u}" '
            f'alt="{esc(caption or "")}" loading="lazy"{size}></a>{cap}'
        )
    if kind == "audio":
        return f'<audio controls preload="none" src="{u}"></audio>{cap}'
    if kind == "video":
        return f'<video class="thumb" controls preload="metadata" src="{u}"></video>{cap}'
    if kind == "html":
        return (
            f'<iframe class="htmlcell" sandbox="" referrerpolicy="no-referrer" loading="lazy" '
            f'src="{u}" title="{esc(label)}"></iframe>{cap}'
        )
    return f'<a href="{u}" download="{esc(label)}">{esc(label)}</a>'


def cell_html(value: Any) -> str:
    """One ``<td>``: numbers right-aligned, media as players, everything else escaped text."""
    if value is None:
        return '<td class="null">null</td>'
    if isinstance(value, bool):
        return f'<td class="bool">{str(value).lower()}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, float):
        return f'<td class="num">{esc(repr(value) if not value.is_integer() else value)}</td>'
    if isinstance(value, str):
        return f"<td>{esc(_short(value))}</td>"
    if isinstance(value, bytes):
        mime = _sniff(value)
        if mime is not None and len(value) <= _INLINE_BYTES:
            import base64

            uri = f"data:{mime};base64,{base64.b64encode(value).decode('ascii')}"
            return f'<td><img class="thumb" src="{esc(uri)}" alt=""></td>'
        return f'<td class="null">&lt;{len(value)} bytes&gt;</td>'
    if isinstance(value, dict) and isinstance(value.get("digest"), str):
        media = _media_cell(value)
        if media is not None:
            return f'<td class="media">{media}</td>'
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return f"<td>{esc(value.isoformat())}</td>"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return f'<td class="json">{esc(_short(text))}</td>'


# -- frames ---------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    frame: pl.DataFrame
    total: int  # rows after the filter
    error: str | None = None


def _sortable(dtype: pl.DataType) -> bool:
    return not isinstance(dtype, pl.Struct | pl.List | pl.Array | pl.Object | pl.Binary)


def sort_spec(text: str) -> tuple[str, bool] | None:
    """``"col"`` -> ascending, ``"-col"`` -> descending."""
    if not text:
        return None
    return (text[1:], True) if text.startswith("-") else (text, False)


def page_of(
    lf: pl.LazyFrame,
    *,
    q: str,
    sort: str,
    page: int,
    size: int,
    rows: Callable[[], int | None] | None = None,
    cache_key: tuple[Any, ...] | None = None,
) -> Slice:
    """Rows ``(page-1)*size`` .. of ``lf`` filtered by ``q`` and sorted by ``sort``,
    and how many rows pass the filter (``rows()``, the frame's length when the caller
    knows it from a manifest, saves counting an unfiltered frame; it is asked after
    the page is read).

    The page and the count are collected one after the other: collected together,
    Polars shares their scan and then reads every file of a many-file frame.

    ``cache_key`` names what ``lf`` holds (a table, a pinned version): the same key must
    always mean the same rows. With it, an unsorted page is read as part of a chunk of
    ten pages and a filter's matching row numbers are kept, so the next page of either
    is served from memory (:data:`CACHE`)."""
    schema = lf.collect_schema()
    lf_all = lf
    try:
        expr = parse_filter(q, schema)
    except FilterError as e:
        return Slice(pl.DataFrame(schema=schema), 0, str(e))
    if expr is not None:
        lf = lf.filter(expr)
    counted = lf.select(pl.len())
    spec = sort_spec(sort)
    if spec is not None:
        name, desc = spec
        if name not in schema:
            return Slice(pl.DataFrame(schema=schema), 0, f"sort: no column {name!r}")
        if not _sortable(schema[name]):
            return Slice(
                pl.DataFrame(schema=schema), 0, f"sort: column {name!r} ({schema[name]}) "
                "cannot be sorted; sort by a plain column"
            )  # fmt: skip
        lf = lf.sort(name, descending=desc, nulls_last=True, maintain_order=True)
    try:
        offset = (page - 1) * size
        if expr is not None and spec is None:
            key = None if cache_key is None else (*cache_key, "matches", q)
            return _filtered_page(lf_all, expr, offset, size, key)
        if cache_key is not None and spec is None:
            span = size * _CHUNK_PAGES
            at = offset // span

            def chunk() -> pl.DataFrame:
                return lf.slice(at * span, span).collect()

            frame = CACHE.get((*cache_key, "rows", span, at), chunk)
            frame = frame.slice(offset - at * span, size)
        else:
            frame = lf.slice(offset, size).collect()
        known = rows() if rows is not None and expr is None else None
        total = counted.collect().item() if known is None else known
    except pl.exceptions.PolarsError as e:
        text = str(e).split("\n\n", 1)[0]
        return Slice(pl.DataFrame(schema=schema), 0, f"filter: {' '.join(text.split())}")
    return Slice(frame, int(total))


_ROW = "__tablelog_ui_row"
#: Reads that a page overlaps with its own (a table's version list).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tablelog-ui")


class FrameCache:
    """A few small frames by key, least recently used out (thread-safe); frames of
    more than ``max_rows`` rows are not kept."""

    def __init__(self, size: int = UI_FRAMES, max_rows: int = UI_FRAME_ROWS) -> None:
        self._items: LRU[tuple[Any, ...], pl.DataFrame] = LRU("viewer frames", max_items=size)
        self._max_rows = max_rows

    def get(self, key: tuple[Any, ...], make: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        found = self._items.get(key)
        if found is not None:
            return found
        frame = make()
        if frame.height <= self._max_rows:
            self._items.put(key, frame)
        return frame

    def clear(self) -> None:
        self._items.clear()


#: Page chunks and filter matches of the tables being looked at (see :func:`page_of`).
CACHE = FrameCache()
_CHUNK_PAGES = 10


def _filtered_page(
    lf: pl.LazyFrame, expr: pl.Expr, offset: int, size: int, key: tuple[Any, ...] | None
) -> Slice:
    """A filtered page in two passes: the numbers of the rows that match (reading only
    the filter's columns; their count is the total), then just the span of rows that
    holds the page's rows (all columns)."""

    def find() -> pl.DataFrame:
        return lf.with_row_index(_ROW).filter(expr).select(_ROW).collect()

    matches = find() if key is None else CACHE.get(key, find)
    ids = matches.get_column(_ROW).slice(offset, size)
    if ids.is_empty():
        return Slice(lf.clear().collect(), matches.height)
    lo, hi = int(ids[0]), int(ids[-1])
    frame = (
        lf.slice(lo, hi - lo + 1)
        .with_row_index(_ROW, offset=lo)
        .filter(pl.col(_ROW).is_in(ids.implode()))
        .drop(_ROW)
        .collect()
    )
    return Slice(frame, matches.height)


def frame_table(
    frame: pl.DataFrame,
    *,
    sort: str,
    link: Callable[[str], str] | None,
    first_row: int = 0,
    table_id: str = "rows",
    lead: tuple[str, list[str]] | None = None,
    links: Mapping[str, Callable[[Any], str]] | None = None,
) -> str:
    """An HTML table of ``frame``; headers link to ``link(sort)`` to sort by them.

    ``lead`` is an extra first column (its header and one cell per row); ``links``
    turns the cells of a column into links (column -> URL of the cell's value)."""
    spec = sort_spec(sort)
    head = [lead[0]] if lead else []
    head.append('<th class="rownum">#</th>')
    for name, dtype in frame.schema.items():
        label = esc(name)
        cls = ""
        if spec is not None and spec[0] == name:
            cls = ' class="desc"' if spec[1] else ' class="asc"'
        if link is not None and _sortable(dtype):
            nxt = f"-{name}" if spec == (name, False) else ("" if spec == (name, True) else name)
            label = f'<a href="{esc(link(nxt))}">{label}</a>'
        kind = _kind_label(frame, name, dtype)
        head.append(f"<th{cls}>{label}<small>{esc(kind)}</small></th>")
    body = []
    links = links or {}
    linked = [links.get(name) for name in frame.columns]
    for n, row in enumerate(frame.iter_rows()):
        cells = "".join(
            cell_html(v)
            if to is None or v is None
            else f'<td><a href="{esc(to(v))}">{esc(_short(str(v)))}</a></td>'
            for v, to in zip(row, linked, strict=True)
        )
        first = lead[1][n] if lead else ""
        body.append(f'<tr>{first}<td class="rownum">{first_row + n + 1}</td>{cells}</tr>')
    return (
        f'<div class="scroll"><table id="{esc(table_id)}" class="data"><thead><tr>'
        f"{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _kind_label(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Struct) and {"kind", "digest", "ext"} <= {f.name for f in dtype.fields}:
        kinds = frame.get_column(name).struct.field("kind").drop_nulls().unique().to_list()
        return kinds[0] if len(kinds) == 1 else "media"
    if isinstance(dtype, pl.Datetime):
        return f"datetime ({dtype.time_zone})" if dtype.time_zone else "datetime"
    text = str(dtype)
    return text if len(text) <= 30 else text[:29] + "…"


def pager(total: int, page: int, size: int, link: Callable[[int], str]) -> str:
    pages = max(1, math.ceil(total / size))
    first = (page - 1) * size + 1 if total else 0
    last = min(total, page * size)
    parts = [f'<span class="count" id="count">rows {first}–{last} of {total:,}</span>']
    if page > 1:
        parts.append(f'<a href="{esc(link(1))}">« first</a>')
        parts.append(f'<a href="{esc(link(page - 1))}" rel="prev" id="prev">‹ prev</a>')
    parts.append(f"<span>page {page} of {pages:,}</span>")
    if page < pages:
        parts.append(f'<a href="{esc(link(page + 1))}" rel="next" id="next">next ›</a>')
        parts.append(f'<a href="{esc(link(pages))}">last »</a>')
    return f'<nav class="pager">{" ".join(parts)}</nav>'


def _hidden(params: Mapping[str, Any], skip: Iterable[str]) -> str:
    skip = set(skip)
    out = []
    for k, v in params.items():
        values = v if isinstance(v, list | tuple) else [v]
        for one_value in values:
            if k not in skip and one_value is not None and one_value != "":
                out.append(f'<input type="hidden" name="{esc(k)}" value="{esc(one_value)}">')
    return "".join(out)


def filter_form(action: str, params: Mapping[str, Any], q: str, *, placeholder: str) -> str:
    return (
        f'<form class="filter" method="get" action="{esc(action)}">'
        f"{_hidden(params, ('q', 'page'))}"
        f'<label>Filter <input type="search" name="q" id="q" value="{esc(q)}" size="60" '
        f'placeholder="{esc(placeholder)}" spellcheck="false" autocomplete="off"></label> '
        '<button type="submit">Apply</button></form>'
    )


# -- the history cache ------------------------------------------------------------


class HistoryCache:
    """``tablelog.history`` of a table, kept per (table, latest version): a version never
    changes once written, so the cache is exact; the latest version is re-checked on
    every request (one short LIST), so new versions show up on reload."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[str, int], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    @staticmethod
    def latest(store: Store, project: str, run_id: str, key: str) -> int:
        """The newest version of a table (-1 for none, or a sharded table)."""
        return latest_version(TableRef(store, project, run_id, key))

    def get(
        self, root: str, project: str, run_id: str, key: str, latest: int, per: str = "version"
    ) -> pl.DataFrame:
        """``history(per=per)``: one row per version, or per increment (log)."""
        token = (f"{project}/{run_id}/{key}#{per}", latest)
        with self._lock:
            found = self._items.get(token)
            if found is not None:
                self._items.move_to_end(token)
                return found
        frame = table_history(f"{project}/{run_id}/{key}", root=root, per=per)
        if latest >= 0:
            with self._lock:
                self._items[token] = frame
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return frame


# -- the pages ----------------------------------------------------------------------


@dataclass
class Viewer:
    """The pages of one root."""

    root: str
    store: Store
    history_cache: HistoryCache

    @classmethod
    def open(cls, root: str) -> Viewer:
        from tablelog.objects.open import open_store

        return cls(root=root, store=open_store(root), history_cache=HistoryCache())

    # /
    def projects(self, query: Query) -> Page:
        rows = catalog.list_projects(self.store)
        if not rows:
            body = f"<p>No projects in {esc(self.store.url)} yet.</p>"
        else:
            items = "".join(
                f'<tr><td><a href="{esc(project_url(p))}">{esc(p)}</a></td>'
                f'<td class="num">{n}</td></tr>'
                for p, n in rows
            )
            body = (
                '<table class="data" id="projects"><thead><tr><th>project</th><th>runs</th>'
                f"</tr></thead><tbody>{items}</tbody></table>"
            )
        return Page("projects", f"<h1>Projects</h1>{body}", attrs={"data-rows": str(len(rows))})

    # /p/{project}
    def runs(self, project: str, query: Query) -> Page:
        project = paths.check_segment_name("project", project)
        runs = catalog.list_runs(self.store, project)
        frame = catalog.runs_frame(runs)
        q, sort = one(query, "q"), one(query, "sort")
        page = int_param(query, "page", low=1) or 1
        size = min(MAX_PAGE_SIZE, int_param(query, "size", low=1) or 100)
        got = page_of(frame.lazy(), q=q, sort=sort, page=page, size=size)
        params = {"q": q, "sort": sort, "page": page, "size": size if size != 100 else None}
        base = project_url(project)

        def link_sort(s: str) -> str:
            return with_query(base, {**params, "sort": s, "page": None})

        def link_page(p: int) -> str:
            return with_query(base, {**params, "page": p})

        keys = sorted({k for r in runs for k in r.keys})
        shown = got.frame
        picks = [
            f'<td class="pick"><input type="checkbox" name="run" value="{esc(rid)}" '
            f'form="selected"></td>'
            for rid in (shown.get_column("run_id").to_list() if shown.height else [])
        ]
        table = frame_table(
            shown,
            sort=sort,
            link=link_sort,
            first_row=(page - 1) * size,
            lead=('<th class="pick"><input type="checkbox" id="pick-all" title="all"></th>', picks),
            links={"run_id": lambda rid: run_url(project, str(rid))},
        )
        options = "".join(f'<option value="{esc(k)}">{esc(k)}</option>' for k in keys)
        actions = (
            f'<form id="selected" method="get" action="{esc(base)}/charts" class="actions">'
            '<button type="submit" id="charts-btn">Charts of selected runs</button> '
            f'<label>table <select name="key" id="compare-key">{options}</select></label> '
            f'<button type="submit" formaction="{esc(base)}/compare" id="compare-btn">'
            "Compare selected runs</button></form>"
        )
        body = (
            f"<h1>{esc(project)}</h1>"
            f'<p class="meta">{len(runs)} run(s). Filter on any column, e.g. '
            "<code>config.lr = 3e-4 and status = 'finished'</code>; click a header to sort.</p>"
            + filter_form(base, params, q, placeholder="config.lr = 3e-4 and summary.loss < 0.5")
            + (_error(got.error) if got.error else "")
            + actions
            + pager(got.total, page, size, link_page)
            + table
        )
        return Page(
            f"{project} · runs",
            body,
            crumbs=((project, base),),
            attrs={"data-rows": str(shown.height), "data-total": str(got.total)},
        )

    # /r/{project}/{run}
    def run(self, project: str, run_id: str, query: Query) -> Page:
        project = paths.check_segment_name("project", project)
        run_id = paths.check_segment_name("run id", run_id)
        tables = catalog.list_tables(self.store, project, run_id)
        try:
            blob: bytes | None = self.store.get(paths.run_json_key(project, run_id))
        except NotFoundError:
            blob = None
        info = catalog.run_info(run_id, blob)
        rows = []
        for t in tables:
            url = table_url(project, run_id, t.key)
            shards = f" ({t.shards} shards)" if t.shards else ""
            rows.append(
                f'<tr><td><a href="{esc(url)}">{esc(t.key)}</a>{esc(shards)}</td>'
                f"<td>{esc(t.mode or '')}</td><td class='num'>{t.versions}</td>"
                f"<td class='num'>{t.rows:,}</td><td class='num'>{esc(_blank(t.step))}</td>"
                f"<td>{esc(_time(t.updated))}</td></tr>"
            )
        tables_html = (
            '<table class="data" id="tables"><thead><tr><th>table</th><th>mode</th>'
            "<th>versions</th><th>rows</th><th>last step</th><th>updated</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        facts = [
            ("name", info.name), ("status", info.status), ("created", _time(info.created)),
            ("updated", _time(info.updated)), ("last step", info.last_step),
            ("group", info.group), ("job type", info.job_type),
            ("tags", ", ".join(info.tags) or None), ("notes", info.notes),
        ]  # fmt: skip
        dl = "".join(
            f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v is not None and v != ""
        )
        sections = [f"<h1>{esc(project)} / {esc(run_id)}</h1>", f'<dl class="facts">{dl}</dl>']
        for title, values in (("config", info.config), ("summary", info.summary)):
            if values:
                flat: dict[str, Any] = {}
                for k, v in values.items():
                    catalog.flatten(k, v, flat)
                items = "".join(f"<tr><td>{esc(k)}</td>{_kv_cell(v)}</tr>" for k, v in flat.items())
                sections.append(
                    f'<h2>{esc(title)}</h2><table class="data kv" id="{esc(title)}">'
                    f"<tbody>{items}</tbody></table>"
                )
        sections.append(f"<h2>Tables</h2>{tables_html}")
        if any(t.key == _HISTORY for t in tables):
            sections.append("<h2>Scalars</h2>")
            sections.append(self._charts_html(project, [run_id], metrics=[]))
        return Page(
            f"{project}/{run_id}",
            "".join(sections),
            crumbs=((project, project_url(project)), (run_id, run_url(project, run_id))),
            attrs={"data-tables": str(len(tables))},
        )

    # /t/{project}/{run}/{key}
    def table(self, project: str, run_id: str, key: str, query: Query) -> Page:
        at = one(query, "at")
        if "at" in query:  # the picker's form: at=version=3 / step=5 / increment=2 -> a clean URL
            name, _, value = at.partition("=")
            params = {k: one(query, k) for k in ("q", "sort", "size")}
            if name in ("version", "step", "increment"):
                params[name] = value
            raise Redirect(table_url(project, run_id, key, **params))
        project = paths.check_segment_name("project", project)
        run_id = paths.check_segment_name("run id", run_id)
        version = int_param(query, "version")
        step = int_param(query, "step")
        increment = int_param(query, "increment", low=0)
        if sum(x is not None for x in (version, step, increment)) > 1:
            raise BadRequest("give one of version=, step= or increment=")
        q, sort = one(query, "q"), one(query, "sort")
        page = int_param(query, "page", low=1) or 1
        size = min(MAX_PAGE_SIZE, int_param(query, "size", low=1) or DEFAULT_PAGE_SIZE)
        path = f"{project}/{run_id}/{key}"
        # The version list (every manifest: slow on a long table the first time) is read
        # while the page is; the latest version is pinned so the rows and the count agree.
        latest = self.history_cache.latest(self.store, project, run_id, key)
        pending = _POOL.submit(self._history, project, run_id, key, latest)
        pinned = latest if version is None and step is None and latest >= 0 else version
        lf = scan(path, root=self.root, version=pinned, step=step, increment=increment)

        def known() -> int | None:
            return _rows_of(*pending.result(), version=version, step=step, increment=increment)

        # Versions never change: what this view reads is named by the latest version.
        same = (self.store.url, path, latest, version, step, increment) if latest >= 0 else None
        got = page_of(lf, q=q, sort=sort, page=page, size=size, rows=known, cache_key=same)
        history, increments = pending.result()
        state = {
            "version": version, "step": step, "increment": increment, "q": q, "sort": sort,
            "size": size if size != DEFAULT_PAGE_SIZE else None,
        }  # fmt: skip

        def link_sort(s: str) -> str:
            return table_url(project, run_id, key, **{**state, "sort": s})

        def link_page(p: int) -> str:
            return table_url(project, run_id, key, **state, page=p)

        base = table_url(project, run_id, key)
        picker, label = _picker(
            history, increments, version=version, step=step, increment=increment
        )
        picker_form = (
            f'<form method="get" action="{esc(base)}" class="picker">'
            f"{_hidden(state, ('version', 'step', 'increment', 'page'))}"
            f'<label>Showing <select name="at" id="at" data-autosubmit>{picker}</select></label>'
            '<noscript><button type="submit">Show</button></noscript></form>'
            if picker
            else ""
        )
        mode = history.get_column("mode")[-1] if history.height else None
        latest = history.height - 1
        meta = (
            f"{esc(mode or 'table')} · {latest + 1} version(s) · showing {esc(label)}"
            if history.height
            else "a sharded table: all shards, at their latest versions"
        )
        compare_link = with_query(f"{project_url(project)}/compare", {"key": key})
        body = (
            f"<h1>{esc(key)}</h1>"
            f'<p class="meta">{meta} · <a href="{esc(compare_link)}">compare across runs</a></p>'
            + picker_form
            + filter_form(
                table_url(project, run_id, key), state, q, placeholder="label = 1 and score > 0.5"
            )
            + (_error(got.error) if got.error else "")
            + pager(got.total, page, size, link_page)
            + frame_table(got.frame, sort=sort, link=link_sort, first_row=(page - 1) * size)
        )
        return Page(
            f"{path}",
            body,
            crumbs=(
                (project, project_url(project)),
                (run_id, run_url(project, run_id)),
                (key, base),
            ),
            attrs={
                "data-rows": str(got.frame.height),
                "data-total": str(got.total),
                "data-showing": label,
            },
        )

    def _history(
        self, project: str, run_id: str, key: str, latest: int
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """The table's versions, and for an INCREMENTAL table its increments (a version
        may hold several logs: docs/format.md, "Format 2")."""
        try:
            versions = self.history_cache.get(self.root, project, run_id, key, latest)
        except NotFoundError:
            empty = {"version": pl.Int64, "step": pl.Int64, "mode": pl.String}
            return pl.DataFrame(schema=empty), None
        if not versions.height or versions.get_column("mode")[-1] != "INCREMENTAL":
            return versions, None
        incs = self.history_cache.get(self.root, project, run_id, key, latest, per="increment")
        return versions, incs

    # /p/{project}/charts
    def charts(self, project: str, query: Query) -> Page:
        project = paths.check_segment_name("project", project)
        runs = [paths.check_segment_name("run id", r) for r in query.get("run", ())]
        if not runs:
            runs = [r.run_id for r in catalog.list_runs(self.store, project)][:MAX_CHART_RUNS]
        runs = list(dict.fromkeys(runs))[:MAX_CHART_RUNS]
        metrics = list(query.get("metric", ()))
        body = (
            f"<h1>{esc(project)}: scalars</h1>"
            f'<p class="meta">{len(runs)} run(s): {esc(", ".join(runs))}</p>'
            + self._charts_html(project, runs, metrics=metrics)
        )
        return Page(
            f"{project} · charts",
            body,
            crumbs=((project, project_url(project)), ("charts", "")),
        )

    def _charts_html(self, project: str, runs: list[str], *, metrics: list[str]) -> str:
        frames: dict[str, pl.DataFrame] = {}
        missing = []
        for r in runs:
            try:
                lf = scan(f"{project}/{r}/{_HISTORY}", root=self.root)
            except NotFoundError:
                missing.append(r)
                continue
            schema = lf.collect_schema()
            numeric = [n for n, t in schema.items() if n not in _SKIP_METRICS and t.is_numeric()]
            wanted = [m for m in numeric if not metrics or m in metrics]
            if "_step" not in schema or not wanted:
                continue
            frames[r] = lf.select("_step", *wanted).sort("_step").collect()
        names = sorted({n for f in frames.values() for n in f.columns if n != "_step"})
        if metrics:
            names = [m for m in metrics if m in names]
        out = []
        if missing:
            out.append(f'<p class="meta">no scalars logged by: {esc(", ".join(missing))}</p>')
        if not names:
            out.append('<p class="meta">No scalars to chart.</p>')
            return "".join(out)
        if len(names) > MAX_CHARTS:
            out.append(f'<p class="meta">the first {MAX_CHARTS} of {len(names)} scalars</p>')
        charts = []
        for name in names[:MAX_CHARTS]:
            series = [
                Series(
                    r,
                    f.get_column("_step").cast(pl.Float64).to_list(),
                    f.get_column(name).cast(pl.Float64).to_list(),
                )
                for r, f in frames.items()
                if name in f.columns
            ]
            charts.append(f'<figure data-metric="{esc(name)}">{line_chart(name, series)}</figure>')
        out.append(f'<div class="charts">{"".join(charts)}</div>')
        return "".join(out)

    # /p/{project}/compare
    def compare(self, project: str, query: Query) -> Page:
        project = paths.check_segment_name("project", project)
        key = one(query, "key")
        if key != _HISTORY:
            paths.check_key(key)
        runs = [paths.check_segment_name("run id", r) for r in query.get("run", ())]
        runs = list(dict.fromkeys(runs))
        if not runs:  # the newest runs that have the table
            found = [r.run_id for r in catalog.list_runs(self.store, project) if key in r.keys]
            runs = found[:MAX_CHART_RUNS]
        layout = one(query, "layout", "union")
        if layout not in ("union", "side"):
            raise BadRequest(f"layout is 'union' or 'side', got {layout!r}")
        q, sort = one(query, "q"), one(query, "sort")
        page = int_param(query, "page", low=1) or 1
        size = min(MAX_PAGE_SIZE, int_param(query, "size", low=1) or DEFAULT_PAGE_SIZE)
        frames: list[tuple[str, pl.LazyFrame]] = []
        missing = []
        for r in runs:
            try:
                frames.append((r, scan(f"{project}/{r}/{key}", root=self.root)))
            except NotFoundError:
                missing.append(r)
        base = f"{project_url(project)}/compare"
        state: list[tuple[str, Any]] = [("key", key), *[("run", r) for r in runs]]
        state += [("layout", layout), ("q", q), ("sort", sort)]
        if size != DEFAULT_PAGE_SIZE:
            state.append(("size", size))

        def link(**changes: Any) -> str:
            kept = [(k, v) for k, v in state if k not in changes]
            return with_query(base, [*kept, *changes.items()])

        switch = " · ".join(
            f'<a href="{esc(link(layout=name, page=None))}" id="layout-{name}">{label}</a>'
            if name != layout
            else f"<strong>{label}</strong>"
            for name, label in (("union", "one table with a run column"), ("side", "side by side"))
        )
        parts = [
            f"<h1>{esc(key)} across {len(frames)} run(s)</h1>",
            f'<p class="meta">{switch}</p>',
        ]
        if missing:
            parts.append(f'<p class="meta">no table {esc(key)!s} in: {esc(", ".join(missing))}</p>')
        form_state = {"key": key, "run": runs, "layout": layout, "sort": sort}
        parts.append(filter_form(base, form_state, q, placeholder="label = 1"))
        attrs: dict[str, str] = {}
        if layout == "union" and frames:
            lf = pl.concat(
                [f.select(pl.lit(r, dtype=pl.String).alias("run_id"), pl.all()) for r, f in frames],
                how="diagonal_relaxed",
            )
            got = page_of(lf, q=q, sort=sort, page=page, size=size)
            parts.append(_error(got.error) if got.error else "")
            parts.append(pager(got.total, page, size, lambda p: link(page=p)))
            parts.append(
                frame_table(
                    got.frame,
                    sort=sort,
                    link=lambda s: link(sort=s, page=None),
                    first_row=(page - 1) * size,
                    links={"run_id": lambda rid: table_url(project, str(rid), key)},
                )
            )
            attrs = {"data-rows": str(got.frame.height), "data-total": str(got.total)}
        elif frames:
            cols = []
            total = 0
            for r, f in frames:
                got = page_of(f, q=q, sort=sort, page=page, size=size)
                total += got.frame.height
                inner = _error(got.error) if got.error else ""
                cols.append(
                    f'<section class="side"><h2><a href="{esc(table_url(project, r, key))}">'
                    f"{esc(r)}</a></h2>{inner}"
                    f'<p class="meta">{got.total:,} row(s)</p>'
                    + frame_table(
                        got.frame,
                        sort=sort,
                        link=lambda s: link(sort=s, page=None),
                        first_row=(page - 1) * size,
                        table_id=f"rows-{r}",
                    )
                    + "</section>"
                )
            parts.append(f'<div class="sides">{"".join(cols)}</div>')
            attrs = {"data-rows": str(total)}
        return Page(
            f"compare {key}",
            "".join(parts),
            crumbs=((project, project_url(project)), (f"compare {key}", "")),
            attrs=attrs,
        )


def _rows_of(
    history: pl.DataFrame,
    increments: pl.DataFrame | None,
    *,
    version: int | None,
    step: int | None,
    increment: int | None,
) -> int | None:
    """The row count of what is shown, from the manifests (the history), when it is
    that simple: an INCREMENTAL table's rows up to a step are its increments' up to it
    (a version may hold later increments too)."""
    if increment is not None or not history.height:
        return None
    recs = history.select("version", "step", "rows")
    if step is not None and increments is not None:
        upto = increments.filter(pl.col("step") <= step)
        return int(upto.get_column("rows").sum()) if upto.height else None
    if step is not None:
        recs = recs.filter(pl.col("step") <= step)
    elif version is not None:
        v = version if version >= 0 else history.height + version
        recs = recs.filter(pl.col("version") == v)
    return int(recs.get_column("rows")[-1]) if recs.height else None


def _picker(
    history: pl.DataFrame,
    increments: pl.DataFrame | None,
    *,
    version: int | None,
    step: int | None,
    increment: int | None,
) -> tuple[str, str]:
    """The version/step/increment ``<option>``s and the label of what is shown."""
    if not history.height:
        return "", "all rows"
    latest = history.height - 1
    mode = history.get_column("mode")[-1]
    recs = history.select("version", "step", "rows").to_dicts()
    added = history.get_column("added_rows").to_list() if "added_rows" in history.columns else []
    opts: list[tuple[str, str, bool]] = []
    label = f"the latest version ({latest})"
    chosen_latest = version is None and step is None and increment is None
    opts.append(("", f"latest: version {latest} · {recs[-1]['rows']:,} rows", chosen_latest))
    tail = recs[::-1][:MAX_PICKER_OPTIONS]
    if mode == "INCREMENTAL":
        # One option per log (increment), newest first: a version may hold several.
        if increments is not None:
            incs = increments.select("increment", "step", "rows").to_dicts()
            upto = 0
            for r in incs:
                upto += r["rows"]
                r["upto"] = upto
            last_incs = incs[::-1][:MAX_PICKER_OPTIONS]
        else:
            last_incs = [
                {"increment": r["version"], "step": r["step"], "upto": r["rows"],
                 "rows": added[r["version"]] if r["version"] < len(added) else None}
                for r in tail
            ]  # fmt: skip
        latest_incs = last_incs
        seen_steps: set[int] = set()
        for r in latest_incs:
            s = r["step"]
            if s is None or s in seen_steps:
                continue
            seen_steps.add(s)
            pick = step == s
            opts.append((f"step={s}", f"all rows up to step {s} · {r['upto']:,} rows", pick))
            if pick:
                label = f"all rows up to step {s}"
        for r in latest_incs:
            i, n = r["increment"], r["rows"]
            rows = f" · {n:,} rows" if isinstance(n, int) else ""
            at_step = f" (step {r['step']})" if r["step"] is not None else ""
            pick = increment == i
            opts.append((f"increment={i}", f"only increment {i}{at_step}{rows}", pick))
            if pick:
                label = f"increment {i}{at_step}"
        if version is not None:
            opts.append((f"version={version}", f"all rows of version {version}", True))
            label = f"all rows of version {version}"
        if step is not None and step not in seen_steps:
            opts.append((f"step={step}", f"all rows up to step {step}", True))
            label = f"all rows up to step {step}"
        newest = latest_incs[0]["increment"] if latest_incs else -1
        if increment is not None and increment > newest:
            opts.append((f"increment={increment}", f"only increment {increment}", True))
    else:
        for r in tail:
            v = r["version"]
            at_step = f" (step {r['step']})" if r["step"] is not None else ""
            pick = version is not None and (version == v or version + latest + 1 == v)
            opts.append((f"version={v}", f"version {v}{at_step} · {r['rows']:,} rows", pick))
            if pick:
                label = f"version {v}{at_step}"
        if step is not None:
            opts.append((f"step={step}", f"the version at step {step}", True))
            label = f"the version at step {step}"
        if increment is not None:
            opts.append((f"increment={increment}", f"increment {increment}", True))
            label = f"increment {increment}"
    html_opts = "".join(
        f'<option value="{esc(v)}"{" selected" if s else ""}>{esc(t)}</option>' for v, t, s in opts
    )
    return html_opts, label


__all__ = ["BadRequest", "HistoryCache", "Page", "Redirect", "Viewer", "cell_html", "page_of"]
