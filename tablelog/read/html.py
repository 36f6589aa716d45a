"""``export --to out.html``: one self-contained page to look at a table version.

The page needs no network (a Content-Security-Policy forbids it): CSS and script are
inline, images and audio are ``data:`` URIs. Rows travel as JSON in a
``<script type="application/json">`` block (``<``, ``>`` and ``&`` escaped) and the
script draws them with ``textContent`` and ``setAttribute`` only — never
``innerHTML`` — so no cell can inject markup. Clicking a column header sorts by it
(again: descending). MUTABLE tables (and INCREMENTAL ones logged with
``summary="none"``) get a version selector holding each of the last ``max_versions``
versions up to the exported one; other INCREMENTAL tables get an increment selector
over their ``_increment`` column. The URL can pick both and the order:
``page.html#version=3&sort=-loss``. Each version embeds at most ``max_rows`` rows.

When every image has loaded the script sets ``data-images-loaded`` on ``<body>``
(and ``data-natural="WxH"`` on each image), which the browser test reads.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tablelog.errors import InvalidArgumentError
from tablelog.format.chain import load_version
from tablelog.format.handle import TableHandle
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.state import TableState
from tablelog.objects.store import Store
from tablelog.progress import Progress
from tablelog.read.scan import table_frame
from tablelog.table.html import MediaPool, Resolve, encode_cell, type_label

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_VERSIONS = 20


@dataclass(frozen=True, kw_only=True)
class HtmlPage:
    """What :func:`write_html` put on the page."""

    rows: int  # rows of the exported version on the page
    columns: tuple[str, ...]
    versions: tuple[int, ...]  # the versions embedded (one unless a version selector)
    media: int  # distinct images / audio clips inlined
    truncated: bool  # some version had more than max_rows rows


def media_resolver(
    store: Store,
    *,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Resolve:
    """Bytes of a media cell, fetched and digest-checked by ``tablelog.media.load``;
    a cell that cannot be loaded (missing, corrupt, not a blob name) gives None and
    shows as a placeholder."""
    from tablelog.media import load

    loaded = 0

    def resolve(cell: Mapping[str, Any]) -> bytes | None:
        nonlocal loaded
        try:
            data = load(dict(cell), root=store.url, storage_options=storage_options)
        except Exception:  # a thumbnail that cannot load shows a placeholder
            data = None
        loaded += 1
        if progress is not None:
            progress("load media", loaded, None)
        return data if isinstance(data, bytes) else None

    return resolve


def _views(ref: TableHandle, state: TableState, max_versions: int) -> tuple[str | None, list[int]]:
    """The selector ("version", "increment" or None) and the versions to embed."""
    if state.mode == "MUTABLE" or (state.mode == "INCREMENTAL" and state.separate):
        first = max(0, state.version - max_versions + 1)
        return "version", list(range(first, state.version + 1))
    if ref.tags_increments(state):  # (not separate: the case above)
        return "increment", [state.version]
    return None, [state.version]


def _json_script(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    # Inside <script>: no "</script>", "<!--" or entity can end or change the block.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_html(
    ref: TableHandle,
    state: TableState,
    target: str | os.PathLike[str],
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_versions: int = DEFAULT_MAX_VERSIONS,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> HtmlPage:
    """Write the page for ``state`` (a version of ``ref``) to ``target``."""
    if max_rows < 0 or max_versions < 1:
        raise InvalidArgumentError(
            f"need max_rows >= 0 and max_versions >= 1, got {max_rows} and {max_versions}"
        )
    selector, versions = _views(ref, state, max_versions)
    pool = MediaPool()
    resolve = media_resolver(ref.store, storage_options=storage_options, progress=progress)
    rows: list[list[Any]] = []
    row_index: dict[str, int] = {}
    views: list[dict[str, Any]] = []
    truncated = False
    shown_rows, columns = 0, tuple[str, ...]()
    for n, v in enumerate(versions):
        st = state if v == state.version else load_version(ref, v)
        kinds = {c.name: c.kind for c in st.schema}
        frame = table_frame(ref, st, None).head(max_rows).collect()
        truncated = truncated or st.rows > frame.height
        ids = []
        for row in frame.iter_rows():
            cells = [
                encode_cell(x, kinds.get(c), pool, resolve)
                for c, x in zip(frame.columns, row, strict=True)
            ]
            key = json.dumps(cells, separators=(",", ":"))
            ids.append(row_index.setdefault(key, len(rows)))
            if ids[-1] == len(rows):
                rows.append(cells)
        views.append(
            {
                "version": v,
                "step": st.step,
                "rows": st.rows,
                "columns": [
                    {"name": c, "type": type_label(t, kinds.get(c))}
                    for c, t in frame.schema.items()
                ],
                "ids": ids,
            }
        )
        if v == state.version:
            shown_rows, columns = frame.height, tuple(frame.columns)
        if progress is not None:
            progress("read versions", n + 1, len(versions))
    data = {
        "path": ref.path,
        "mode": state.mode,
        "selector": selector,
        "increment_column": INCREMENT_COLUMN,
        "initial": len(views) - 1,
        "views": views,
        "rows": rows,
        "media": pool.uris,
        "max_rows": max_rows,
    }
    title = f"{ref.path} · version {state.version}"
    meta = (
        f"{state.mode or 'empty'} table · version {state.version} of {ref.store.url} · "
        f"{state.rows} row(s)" + (f", first {max_rows} per version shown" if truncated else "")
    )
    page = _PAGE.format(
        title=html.escape(title),
        heading=html.escape(ref.path),
        meta=html.escape(meta),
        style=_STYLE,
        data=_json_script(data),
        script=_SCRIPT,
    )
    Path(target).write_text(page, encoding="utf-8")
    return HtmlPage(
        rows=shown_rows,
        columns=columns,
        versions=tuple(versions),
        media=len(pool.uris),
        truncated=truncated,
    )


_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 4px}
.meta{color:#666;margin:0 0 10px}
.bar{margin:0 0 10px;display:flex;gap:12px;align-items:center}
table{border-collapse:collapse}
th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left;
  max-width:36em;overflow-wrap:anywhere;white-space:pre-wrap}
th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0}
th small{display:block;color:#888;font-weight:normal}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.null{color:#aaa}
img.thumb{max-width:96px;max-height:96px;cursor:zoom-in;display:block}
img.thumb.big{max-width:none;max-height:none;cursor:zoom-out}
.cap{color:#555;font-size:12px}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
media-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tablelog">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<h1>{heading}</h1>
<p class="meta">{meta}</p>
<div class="bar"><label id="tl-pick" hidden><span id="tl-pick-label"></span>
<select id="tl-select"></select></label><span id="tl-count"></span></div>
<table id="tl-table"><thead></thead><tbody></tbody></table>
<noscript>This page draws its table with JavaScript.</noscript>
<script type="application/json" id="tl-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("tl-data").textContent);
  var table = document.getElementById("tl-table");
  var head = table.tHead, body = table.tBodies[0];
  var select = document.getElementById("tl-select");
  var count = document.getElementById("tl-count");
  var state = {view: D.initial, increment: null, col: -1, dir: 1};
  var images = 0, loaded = 0;

  function el(tag, cls) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }
  function key(c) {
    if (c === null || c === undefined) return null;
    if (typeof c === "number") return c;
    if (typeof c === "boolean") return c ? 1 : 0;
    if (typeof c === "string") return c;
    if (c.t !== undefined) return c.t;
    return c.c || ("\uffff" + c.m);
  }
  function compare(a, b) {
    a = key(a); b = key(b);
    if (a === null || b === null) return a === b ? 0 : (a === null ? 1 : -1);
    var na = typeof a === "number", nb = typeof b === "number";
    if (na && nb) return a < b ? -1 : (a > b ? 1 : 0);
    if (na !== nb) return na ? -1 : 1;
    return String(a).localeCompare(String(b));
  }
  function marked() {
    document.body.setAttribute("data-images", String(images));
    if (loaded === images) document.body.setAttribute("data-images-loaded", String(loaded));
  }
  function media(td, c) {
    var uri = D.media[c.m];
    if (c.k === "image" && uri.indexOf("data:image/") === 0) {
      var img = el("img", "thumb");
      images += 1;
      img.alt = c.c || "";
      img.addEventListener("load", function () {
        img.setAttribute("data-natural", img.naturalWidth + "x" + img.naturalHeight);
        loaded += 1; marked();
      });
      img.addEventListener("error", function () {
        img.setAttribute("data-natural", "error"); loaded += 1; marked();
      });
      img.addEventListener("click", function () { img.classList.toggle("big"); });
      img.setAttribute("src", uri);
      td.appendChild(img);
    } else if (c.k === "audio" && uri.indexOf("data:audio/") === 0) {
      var audio = el("audio");
      audio.controls = true;
      audio.preload = "metadata";
      audio.setAttribute("src", uri);
      td.appendChild(audio);
    }
    if (c.c) {
      var cap = el("div", "cap");
      cap.textContent = c.c;
      td.appendChild(cap);
    }
  }
  function cell(c) {
    var td = el("td");
    if (c === null || c === undefined) { td.className = "null"; td.textContent = "null"; }
    else if (typeof c === "number") { td.className = "num"; td.textContent = String(c); }
    else if (typeof c === "boolean" || typeof c === "string") td.textContent = String(c);
    else if (c.m !== undefined) media(td, c);
    else td.textContent = c.t;
    return td;
  }
  function draw() {
    var view = D.views[state.view];
    var cols = view.columns;
    var incAt = -1;
    for (var i = 0; i < cols.length; i++) if (cols[i].name === D.increment_column) incAt = i;
    var tr = el("tr");
    cols.forEach(function (col, i) {
      var th = el("th", i === state.col ? (state.dir > 0 ? "asc" : "desc") : "");
      th.textContent = col.name;
      var small = el("small");
      small.textContent = col.type;
      th.appendChild(small);
      th.addEventListener("click", function () {
        state.dir = state.col === i ? -state.dir : 1;
        state.col = i;
        draw();
      });
      tr.appendChild(th);
    });
    head.replaceChildren(tr);
    var rows = view.ids.map(function (id) { return D.rows[id]; });
    if (D.selector === "increment" && state.increment !== null && incAt >= 0) {
      rows = rows.filter(function (r) { return r[incAt] === state.increment; });
    }
    if (state.col >= 0 && state.col < cols.length) {
      var at = state.col, dir = state.dir;
      rows = rows.map(function (r, n) { return [r, n]; });
      rows.sort(function (a, b) { return dir * compare(a[0][at], b[0][at]) || a[1] - b[1]; });
      rows = rows.map(function (p) { return p[0]; });
    }
    images = 0; loaded = 0;
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c) { row.appendChild(cell(c)); });
      frag.appendChild(row);
    });
    body.replaceChildren(frag);
    var total = view.rows;
    count.textContent = rows.length + " row(s) shown" +
      (view.ids.length < total ? " (first " + view.ids.length + " of " + total + ")" : "");
    document.body.setAttribute("data-rows", String(rows.length));
    document.body.setAttribute("data-version", String(view.version));
    marked();
  }
  function option(value, text, selected) {
    var o = el("option");
    o.value = value; o.textContent = text; o.selected = selected;
    select.appendChild(o);
  }
  if (D.selector === "version") {
    document.getElementById("tl-pick-label").textContent = "Version ";
    D.views.forEach(function (v, i) {
      option(String(i), "version " + v.version + (v.step === null ? "" : " (step " + v.step + ")") +
        " \u00b7 " + v.rows + " row(s)", i === D.initial);
    });
    select.addEventListener("change", function () { state.view = +select.value; draw(); });
  } else if (D.selector === "increment") {
    document.getElementById("tl-pick-label").textContent = "Increment ";
    var view = D.views[D.initial], incAt = -1, seen = {};
    view.columns.forEach(function (c, i) { if (c.name === D.increment_column) incAt = i; });
    option("", "all increments", true);
    if (incAt >= 0) view.ids.forEach(function (id) {
      var inc = D.rows[id][incAt];
      seen[inc] = (seen[inc] || 0) + 1;
    });
    Object.keys(seen).map(Number).sort(function (a, b) { return a - b; }).forEach(function (inc) {
      option(String(inc), "increment " + inc + " \u00b7 " + seen[inc] + " row(s)", false);
    });
    select.addEventListener("change", function () {
      state.increment = select.value === "" ? null : +select.value; draw();
    });
  }
  if (D.selector) document.getElementById("tl-pick").hidden = false;
  // A link can pick the view and the order: #version=N or #increment=N, and
  // sort=NAME (sort=-NAME: descending), e.g. page.html#version=3&sort=-loss.
  var want = new URLSearchParams(location.hash.slice(1));
  var pick = want.get(D.selector || "");
  if (pick !== null && /^-?\d+$/.test(pick)) {
    for (var i = 0; i < select.options.length; i++) {
      var o = select.options[i];
      var v = D.selector === "version" ? D.views[+o.value].version : +o.value;
      if (o.value !== "" && v === +pick) { select.value = o.value; }
    }
    if (D.selector === "version") state.view = +select.value;
    else if (select.value !== "") state.increment = +select.value;
  }
  var by = want.get("sort");
  if (by) {
    state.dir = by.charAt(0) === "-" ? -1 : 1;
    var name = state.dir < 0 ? by.slice(1) : by;
    D.views[state.view].columns.forEach(function (c, i) { if (c.name === name) state.col = i; });
  }
  draw();
  document.body.setAttribute("data-rendered", "1");
})();
"""


__all__ = ["DEFAULT_MAX_ROWS", "DEFAULT_MAX_VERSIONS", "HtmlPage", "media_resolver", "write_html"]
