"""``Table``: a W&B-style table in memory, with column types and log-mode rules.

Rows added with :meth:`Table.add_data` are kept as Python rows until they are
needed, then converted column by column to Arrow; DataFrames and 2-D arrays go to
Arrow directly (columnar, never row by row).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablelog.errors import ColumnTypeError, NotOptionalError, TableError
from tablelog.format.arrow_types import type_from_json
from tablelog.format.values import to_json_text
from tablelog.ids import random_hex
from tablelog.table.convert import (
    cast_kind,
    check_columns,
    check_optional,
    dataframe_to_arrow,
    frame_names,
    is_dataframe,
    row_width,
    unify_types,
    values_to_arrow,
)
from tablelog.table.plain_rows import DeferredRows, PlainRows
from tablelog.table.spill import Loader, Spilled
from tablelog.table.types import (
    DATE,
    DEC,
    FLOAT,
    HUGE,
    INT,
    KIND_BY_TYPE,
    NEG,
    SAFE_INT,
    array_shape,
    arrow_bits,
    check_bits,
    check_cell_text,
    check_kind,
    check_nesting,
    column_to_arrow,
    decimal_in_integer_column,
    kind_of,
    kind_of_arrow,
    value_bits,
)

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

LOG_MODES = ("IMMUTABLE", "MUTABLE", "INCREMENTAL")


#: W&B's columns for a Table created without columns or data.
DEFAULT_COLUMNS = ("Input", "Output", "Expected")
_NULL_TYPE_ID = pa.null().id

#: ``dtype=`` as W&B takes it (Python types), as logical kinds.
_DTYPE_KINDS: dict[Any, str] = {
    int: "number",
    float: "number",
    bool: "bool",
    str: "str",
    list: "list",
    tuple: "list",
    dict: "dict",
    bytes: "bytes",
}


def _check_mode(log_mode: object) -> str:
    mode = "IMMUTABLE" if log_mode is None else log_mode
    if not isinstance(mode, str) or mode.upper() not in LOG_MODES:
        raise TableError(
            f"log_mode must be one of 'IMMUTABLE', 'MUTABLE' or 'INCREMENTAL', got {log_mode!r}"
        )
    return mode.upper()


class Table:
    """A two-dimensional table of typed columns, logged with ``run.log({key: table})``.

    Parameters
    ----------
    columns:
        Column names.
    data:
        Rows (a list of lists) or a 2-D numpy array.
    dataframe:
        A pandas or Polars DataFrame; overrides ``columns`` and ``data``.
    log_mode:
        ``"IMMUTABLE"`` (default), ``"MUTABLE"`` or ``"INCREMENTAL"`` (SPEC.md).
    optional:
        Whether columns may hold ``None`` (a bool, or one bool per column).
    allow_mixed_types:
        Turn the per-column type check off; mixed columns are stored as JSON text.
    """

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        data: Any = None,
        *,
        rows: Any = None,
        dataframe: Any = None,
        dtype: Any = None,
        optional: bool | Sequence[bool] = True,
        allow_mixed_types: bool = False,
        log_mode: str | None = "IMMUTABLE",
    ) -> None:
        self._log_mode = _check_mode(log_mode)
        self._uid = random_hex()  # (uuid4 hands the GIL over: run.log makes history rows)
        self._mixed = bool(allow_mixed_types)
        self._frozen = False
        self._arrow: pa.Table | None = None
        #: Batches appended since ``_arrow`` was last consolidated (same schema), so
        #: that appending stays O(batch) however many batches came before.
        #: (Deferred rows are plain rows run.log handed over unconverted: see
        #: ``_hand_over``.)
        self._tail: list[pa.Table | DeferredRows] = []
        self._tail_rows = 0
        #: Leading rows that are committed and were released from memory.
        self._spilled = Spilled()
        #: Changes applied to every row so far, in order (see ``_generation``).
        self._rewrites: list[Callable[[pa.Table], pa.Table]] = []
        self._pending: list[tuple[Any, ...]] = []
        self._plain: PlainRows | None = None  # converts rows of plain values (_convert_pending)
        self._empty_table: pa.Table | None = None  # (see _empty)
        #: Blob name -> bytes of every media value added (uploaded when logged).
        self._blobs: dict[str, bytes] = {}
        #: Column index -> the shape of its numpy arrays (fixed per column).
        self._shapes: dict[int, tuple[int, ...]] = {}
        #: Per column: what its numbers or datetimes mix so far (types.value_bits).
        self._subs: list[int] = []
        #: Column index -> the scale of its decimals, once converted.
        self._dec_scale: dict[int, int] = {}
        #: The key's column types (name -> Arrow type JSON) once this INCREMENTAL or
        #: MUTABLE Table was logged: the store's columns keep their types.
        self._logged: dict[str, Any] | None = None
        if data is None and rows is not None:
            data = rows
        if dataframe is None and is_dataframe(data):
            dataframe, data = data, None  # as W&B: Table(data=df) is Table(dataframe=df)
        arrow = None if dataframe is None else dataframe_to_arrow(dataframe)
        if dataframe is not None and arrow is None:
            columns = check_columns(frame_names(dataframe))
            if type(dataframe).__module__.split(".")[0] == "polars":
                data = dataframe.rows()
            else:
                data = list(dataframe.itertuples(index=False, name=None))
            dataframe = None
        if arrow is not None:
            self._columns = list(arrow.column_names)
            self._kinds: list[str | None] = [kind_of_arrow(t) for t in arrow.schema.types]
            self._subs = [arrow_bits(t, arrow.column(i)) for i, t in enumerate(arrow.schema.types)]
            self._arrow = arrow
        else:
            if columns is None:
                width = row_width(data)
                columns = [f"col{i}" for i in range(width)]
                if not width or (width == len(DEFAULT_COLUMNS) and not hasattr(data, "shape")):
                    columns = list(DEFAULT_COLUMNS)  # as W&B
            self._columns = check_columns(columns)
            self._kinds = [None] * len(self._columns)
            self._subs = [0] * len(self._columns)
        self._optional = check_optional(optional, len(self._columns))
        if dtype is not None:
            self._set_dtypes(dtype)
        if dataframe is None and data is not None:
            self._add_bulk(data)

    def _set_dtypes(self, dtype: Any) -> None:
        """W&B's ``dtype=``: one type for every column, or one per column; a value of
        another type is then a TypeError at add_data."""
        types = list(dtype) if isinstance(dtype, list | tuple) else [dtype] * len(self._columns)
        if len(types) != len(self._columns):
            raise TableError(f"dtype has {len(types)} types for {len(self._columns)} columns")
        for i, t in enumerate(types):
            if t is None:
                continue
            kind = _DTYPE_KINDS.get(t)
            if kind is None and isinstance(t, type):
                import datetime as _dt

                if issubclass(t, _dt.date | _dt.time | _dt.timedelta):
                    kind = "datetime"
            if kind is None:
                raise TableError(
                    f"dtype {t!r} of column {self._columns[i]!r} is not supported; use int, "
                    "float, bool, str, list, dict, bytes or a datetime type (or None)"
                )
            have = self._kinds[i]
            if have is not None and have != kind:
                raise ColumnTypeError(
                    f"column {self._columns[i]!r} holds {have} values, but dtype says {kind}"
                )
            self._kinds[i] = kind

    # ------------------------------------------------------------------ properties

    @property
    def log_mode(self) -> str:
        return self._log_mode

    @property
    def columns(self) -> list[str]:
        """Column names, in order (a copy)."""
        return list(self._columns)

    @property
    def data(self) -> list[list[Any]]:
        """All rows as lists of Python values (a copy)."""
        arrow = self.to_arrow()
        cols = [self._decode(i, arrow.column(i).to_pylist()) for i in range(len(self._columns))]
        return [list(r) for r in zip(*cols, strict=True)] if cols else []

    @property
    def num_rows(self) -> int:
        base = self._arrow.num_rows if self._arrow is not None else 0
        return self._spilled.rows + base + self._tail_rows + len(self._pending)

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return (
            f"Table(columns={self._columns!r}, rows={self.num_rows}, log_mode={self._log_mode!r})"
        )

    def _repr_html_(self) -> str:
        """Notebooks: the first rows as an escaped HTML table, images as thumbnails."""
        import polars as pl

        from tablelog.table.html import REPR_ROWS, frame_html

        frame = pl.from_arrow(self._head(REPR_ROWS))
        assert isinstance(frame, pl.DataFrame)
        blobs: dict[str, bytes] = getattr(self, "_blobs", {})  # media added to this Table
        return frame_html(
            frame,
            title=f"Table · {self._log_mode}",
            total_rows=self.num_rows,
            kinds=dict(zip(self._columns, self._kinds, strict=True)),
            resolve=lambda cell: blobs.get(f"{cell.get('digest')}.{cell.get('ext')}"),
        )

    # --------------------------------------------------------------------- editing

    def _check_editable(self, action: str) -> None:
        if self._frozen:
            raise TableError(
                f"cannot {action}: this IMMUTABLE table was already logged and is final; "
                "create a new Table (or use log_mode='MUTABLE')"
            )

    def add_data(self, *row: Any) -> None:
        """Append one row; it must have one value per column."""
        self._check_editable("add data")
        self._check_has_columns()
        if len(row) != len(self._columns):
            raise TableError(
                f"add_data got {len(row)} value(s), but the table has {len(self._columns)} "
                f"columns: {self._columns}"
            )
        self._check_row(row)
        self._pending.append(row)

    def _check_has_columns(self) -> None:
        if not self._columns:
            raise TableError(
                "this table has no columns, so a row of it would hold nothing (and read back "
                "as nothing): give the table columns (Table(columns=[...]) or add_column)"
            )

    def add_row(self, *row: Any) -> None:
        """Alias of :meth:`add_data` (W&B's older name)."""
        self.add_data(*row)

    def _check_row(self, row: Sequence[Any]) -> None:
        kinds = self._kinds
        for i, value in enumerate(row):
            if value is None or (type(value) is float and value != value):
                if not self._optional[i]:
                    raise NotOptionalError(
                        f"column {self._columns[i]!r} is not optional: got {value!r}"
                    )
                continue
            if self._mixed:
                mixed_kind = check_kind(self._columns[i], value, None)  # storable at all
                if mixed_kind == "list" or mixed_kind == "dict":
                    check_nesting(self._columns[i], value)
                elif mixed_kind == "str":
                    check_cell_text(self._columns[i], value)
                elif mixed_kind == "number" or mixed_kind == "datetime":
                    self._check_bits(i, mixed_kind, value)
                if self._logged is not None:
                    self._check_logged_kind(i, value)
                if getattr(value, "_tablelog_media", False):
                    self._blobs.update(value.blobs())
                continue
            have = kinds[i]
            t = type(value)
            kind = KIND_BY_TYPE.get(t)
            if kind is None or (have is not None and kind != have):
                found = check_kind(self._columns[i], value, None)  # (raises, naming it)
                if found is None:  # (NaN, NA, NaT are nulls)
                    if not self._optional[i]:
                        raise NotOptionalError(
                            f"column {self._columns[i]!r} is not optional: got {value!r}"
                        )
                    continue
                if have is not None and found != have:
                    check_kind(self._columns[i], value, have)  # raises the type change
                kind = found
            if kind == "number":
                # (the common values inline: add_data is on every training step)
                subs = self._subs[i]
                if t is float:
                    if subs & FLOAT:
                        kinds[i] = kind
                        continue
                elif t is int and 0 <= value <= SAFE_INT and subs & INT:
                    kinds[i] = kind
                    continue
                self._check_bits(i, kind, value)
            elif kind == "str":
                if t is not str or not value.isascii():
                    check_cell_text(self._columns[i], value)
            elif kind == "datetime":
                self._check_bits(i, kind, value)
            elif kind == "list" or kind == "dict":
                check_nesting(self._columns[i], value)
                if kind == "list" and array_shape(value) is not None:
                    self._check_shape(i, value)
            elif kind == "media":
                self._blobs.update(value.blobs())
            kinds[i] = kind

    def _check_bits(self, i: int, kind: str, value: Any) -> None:
        """Refuse a number or datetime that its column cannot store with the values it
        holds (or that its column in the store cannot take), before it is added."""
        bits = value_bits(self._columns[i], kind, value)
        have = self._subs[i]
        if bits & DEC and i in self._dec_scale:
            places = max(0, -int(value.as_tuple().exponent))
            if places > self._dec_scale[i]:
                raise ColumnTypeError(
                    f"column {self._columns[i]!r} holds decimals with "
                    f"{self._dec_scale[i]} decimal place(s) (fixed by its first rows); "
                    f"{value!r} has {places}: round it (value.quantize(...)), or add the "
                    "value with the most places first"
                )
        if have | bits == have:
            return
        both = check_bits(self._columns[i], have, bits, value)
        stored = None if self._logged is None else self._logged.get(self._columns[i])
        if bits & DEC and not have & DEC:
            # Ints still pending become decimals with it; converted ones are integers.
            held = None if self._arrow is None else self._arrow.schema.field(i).type
            if held is not None and pa.types.is_integer(held):
                raise ColumnTypeError(decimal_in_integer_column(self._columns[i], held))
            if stored is not None and pa.types.is_integer(type_from_json(stored)):
                raise ColumnTypeError(decimal_in_integer_column(self._columns[i], stored))
        if (stored == "int64" and bits & HUGE) or (stored == "uint64" and bits & NEG):
            raise ColumnTypeError(
                f"column {self._columns[i]!r} was logged as {stored}; {value!r} does not "
                "fit it (a logged column keeps its type). Log it under a new key, or "
                "store such integers as str"
            )
        if (
            kind == "datetime"
            and stored is not None
            and stored != "null"
            and pa.types.is_date(type_from_json(stored))
            and both & ~DATE
        ):
            raise ColumnTypeError(
                f"column {self._columns[i]!r} was logged as dates; {value!r:.60} has a "
                "time of day that the stored column cannot keep. Add datetimes from the "
                "first log on (dates then read back as midnight), or log under a new key"
            )
        self._subs[i] = both

    def _check_logged_kind(self, i: int, value: Any) -> None:
        """A mixed-type column keeps the type it was logged with: the store's column
        cannot turn into JSON text once it holds typed values."""
        have = self._kinds[i]
        if have is None or have == "json" or self._columns[i] not in self._logged_names():
            return
        kind = kind_of(value)
        if kind is not None and kind != have:
            raise ColumnTypeError(
                f"column {self._columns[i]!r} was logged with {have} values, and "
                f"{value!r:.60} is {kind}: allow_mixed_types=True lets a column mix types "
                "until its first log, which fixes the stored type. Log a mix from the first "
                "log on (stored as JSON text), or log under a new key"
            )

    def _logged_names(self) -> dict[str, Any]:
        return self._logged or {}

    def _logged_types(self, schema: Sequence[Any]) -> None:
        """(run.log) This Table was logged; ``schema`` is the key's columns now."""
        self._logged = {c.name: c.arrow for c in schema}

    def _check_shape(self, i: int, value: Any) -> None:
        if value.dtype.kind == "c" or (value.dtype.kind == "f" and value.dtype.itemsize > 8):
            raise ColumnTypeError(
                f"column {self._columns[i]!r}: numpy arrays of dtype {value.dtype} have no "
                "Arrow type; convert them (.astype(numpy.float64))"
            )
        shape = array_shape(value)
        if shape is None:
            return
        have = self._shapes.setdefault(i, shape)
        if have != shape:
            raise ColumnTypeError(
                f"column {self._columns[i]!r} holds arrays of shape {have}, but this value "
                f"has shape {shape}; an array column keeps one shape (create the Table with "
                "allow_mixed_types=True to store varying shapes as JSON text)"
            )

    def _add_bulk(self, data: Any) -> None:
        if type(data).__module__.split(".")[0] == "numpy":
            if len(data):
                self._check_has_columns()
            if data.ndim > 2:
                # As W&B: each row's cells are arrays (one array per row for one column).
                if len(self._columns) == 1 and data.shape[1] != 1:
                    for cell in data:
                        self.add_data(cell)
                    return
                if data.shape[1] == len(self._columns):
                    for row in data:
                        self.add_data(*row)
                    return
            if data.ndim != 2 or data.shape[1] != len(self._columns):
                raise TableError(
                    f"data must be a 2-D array with {len(self._columns)} columns "
                    f"({self._columns}), or an array of more dimensions for one column "
                    f"(one array per row), got shape {data.shape}"
                )
            if data.dtype.kind not in "biuf" or data.dtype.itemsize > 8:
                for row in data:
                    self.add_data(*row)
                return
            arrays = [pa.array(data[:, i], from_pandas=True) for i in range(data.shape[1])]
            batch = pa.table(arrays, names=self._columns)
            for i, t in enumerate(batch.schema.types):
                self._subs[i] = check_bits(
                    self._columns[i], self._subs[i], arrow_bits(t, batch.column(i)), data[0, i]
                )
            self._append_arrow(batch)
            return
        if isinstance(data, str | bytes) or not hasattr(data, "__iter__"):
            raise TableError(
                f"data must be a list of rows (or a 2-D numpy array, or a DataFrame), "
                f"got {type(data).__name__}"
            )
        for row in data:
            if isinstance(row, str | bytes) or not hasattr(row, "__iter__"):
                raise TableError(
                    f"each row of data must be a list of {len(self._columns)} value(s) "
                    f"({self._columns}), got {type(row).__name__} {row!r:.60}"
                )
            row = tuple(row)
            self._check_has_columns()
            if len(row) != len(self._columns):
                raise TableError(
                    f"a row of data has {len(row)} value(s), but the table has "
                    f"{len(self._columns)} columns: {self._columns}"
                )
            self._check_row(row)
            self._pending.append(row)

    def add_column(self, name: str, data: Any, optional: bool = False) -> None:
        """Add a column; ``name`` must be new and ``data`` one value per row."""
        self._check_editable("add a column")
        if self._log_mode == "INCREMENTAL":
            raise TableError(
                f"cannot add column {name!r}: INCREMENTAL tables take new rows only; "
                "use log_mode='MUTABLE' to add columns"
            )
        if name in self._columns:
            raise TableError(f"column {name!r} already exists: {self._columns}")
        check_columns([*self._columns, name])
        if isinstance(data, str | bytes) or not hasattr(data, "__iter__"):
            raise TableError(
                f"column {name!r}: data must be a list, array or Series of one value per "
                f"row, got {type(data).__name__}"
            )
        n = len(data) if hasattr(data, "__len__") else None
        if n is None:
            data = list(data)
            n = len(data)
        empty = self.num_rows == 0 and n > 0 and not self._spilled.rows
        if n != self.num_rows and not empty:
            raise TableError(
                f"column {name!r} has {n} value(s), but the table has {self.num_rows} rows"
            )
        values, kind = values_to_arrow(name, data, None)
        arrow = self.to_arrow()
        if empty:
            # As W&B: a column added to a table without rows sets its row count (the
            # other columns are null there).
            arrow = pa.table([pa.nulls(n, t) for t in arrow.schema.types], names=self._columns)
            self._tail, self._tail_rows = [], 0
        if kind == "media":
            for v in data:
                if getattr(v, "_tablelog_media", False):
                    self._blobs.update(v.blobs())
        if not optional and isinstance(data, list | tuple) and any(v is None for v in data):
            # As in W&B: None needs optional=True (NaN in a float array is a null float).
            raise NotOptionalError(
                f"column {name!r} is not optional but has None values; pass optional=True"
            )
        if arrow.num_columns == 0:
            self._arrow = pa.table([values], names=[name])
            self._spilled = Spilled()
        else:
            self._arrow = arrow.append_column(name, values)
        self._columns.append(name)
        self._kinds.append(kind)
        self._optional.append(optional)
        self._subs.append(arrow_bits(values.type, values))

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The values of column ``name`` (a list; ``convert_to="numpy"`` for an array)."""
        if name not in self._columns:
            raise TableError(f"no column {name!r}; columns are {self._columns}")
        i = self._columns.index(name)
        col = self.to_arrow().column(i)
        if convert_to == "numpy":
            return self._column_numpy(i, col)
        if convert_to is not None:
            raise TableError(f"convert_to must be None or 'numpy', got {convert_to!r}")
        return self._decode(i, col.to_pylist())

    def _column_numpy(self, i: int, col: pa.ChunkedArray) -> Any:
        """Numbers as a numeric array (NaN for nulls), arrays and images stacked."""
        import numpy as np

        t = col.type
        if (pa.types.is_integer(t) or pa.types.is_floating(t)) and not pa.types.is_null(t):
            return col.to_numpy()
        if pa.types.is_fixed_size_list(t) and col.null_count == 0:
            shape = [col.length()]
            inner: pa.DataType = t
            while pa.types.is_fixed_size_list(inner):
                shape.append(inner.list_size)
                inner = inner.value_type
            flat = col.combine_chunks()
            while isinstance(flat, pa.FixedSizeListArray):
                flat = flat.flatten()
            return flat.to_numpy(zero_copy_only=False).reshape(shape)
        values = self._decode(i, col.to_pylist())
        if self._kinds[i] == "media":
            from tablelog.media.kinds import Media

            name = self._columns[i]
            kinds = {v.kind for v in values if isinstance(v, Media)}
            if kinds - {"image", "audio"}:
                raise ColumnTypeError(
                    f"column {name!r} cannot convert to numpy: only image and audio cells "
                    f"have numpy values, it holds {sorted(kinds - {'image', 'audio'})}"
                )
            if any(v is not None and not isinstance(v, Media) for v in values):
                raise ColumnTypeError(
                    f"column {name!r} cannot convert to numpy: the bytes of its media cells "
                    "are not in this Table; use tablelog.media.load_many(cells, root=..., "
                    "to='numpy')"
                )
            arrays = [None if v is None else v.to_numpy() for v in values]
            shapes = {a.shape for a in arrays if a is not None}
            if len(shapes) == 1 and all(a is not None for a in arrays):
                return np.stack(arrays)  # type: ignore[arg-type]
            out = np.empty(len(arrays), dtype=object)
            out[:] = arrays
            return out
        return np.asarray(values)

    def _decode(self, i: int, values: list[Any]) -> list[Any]:
        if self._kinds[i] == "media":
            from tablelog.media.kinds import Media

            blobs = self._blobs
            return [
                None
                if c is None
                else Media.from_cell(c, blobs[f"{c['digest']}.{c['ext']}"])
                if f"{c['digest']}.{c['ext']}" in blobs
                else c
                for c in values
            ]
        if self._arrow is not None and self._kinds[i] in ("list", "dict", "json"):
            t = self._arrow.schema.field(i).type
            if pa.types.is_string(t):
                return [None if v is None else json.loads(v) for v in values]
        return values

    # ------------------------------------------------------------------ conversion

    def to_arrow(self) -> pa.Table:
        """The whole table as an Arrow table (pending rows converted first; rows
        released after their commit are read back from the store)."""
        self._materialize()
        if self._tail:
            self._materialized_without_pending()
        if self._arrow is None:
            return (
                pa.table({c: pa.nulls(0) for c in self._columns}) if self._columns else pa.table({})
            )
        if self._spilled.rows:
            return pa.concat_tables([*self._spilled.load(self._arrow.schema), self._arrow])
        return self._arrow

    def _head(self, n: int) -> pa.Table:
        """The first ``n`` rows, reading back only the released increments they need."""
        if self._spilled.rows < n:  # (also when nothing was released)
            return self.to_arrow().slice(0, n)
        self._materialize()  # pending rows may still change the Table's types
        assert self._arrow is not None
        return pa.concat_tables(self._spilled.load(self._arrow.schema, rows=n)).slice(0, n)

    @property
    def _generation(self) -> int:
        """Changes to every row so far (a column turned to JSON text): rows committed
        before the n-th read back with the changes from the n-th on applied."""
        return len(self._rewrites)

    def _release(self, first_row: int, rows: int, loader: Loader, generation: int) -> None:
        """Rows ``first_row..`` are committed and ``loader`` reads them back as they were
        at ``generation``: drop the in-memory batches that committed rows cover
        (called on the Table's thread)."""
        for rewrite in self._rewrites[generation:]:
            loader = functools.partial(_rewritten, loader, rewrite)
        self._spilled.land(first_row, rows, loader)
        while True:
            if self._arrow is not None and self._arrow.num_rows:
                front = self._arrow.num_rows
            elif self._tail:
                front = self._tail[0].num_rows
            else:
                return
            if not self._spilled.cover(front):
                return
            if self._arrow is not None and self._arrow.num_rows:
                self._arrow = self._empty(self._arrow.schema)
            else:
                self._tail_rows -= self._tail.pop(0).num_rows

    def _empty(self, schema: pa.Schema) -> pa.Table:
        """An empty table of ``schema``, built once per schema: this runs in run.log, and
        ``Schema.empty_table`` hands the GIL to the commit thread three times a column."""
        empty = self._empty_table
        if empty is None or not empty.schema.equals(schema, check_metadata=True):
            empty = self._empty_table = schema.empty_table()
        return empty

    def _rows_since(self, start: int) -> pa.Table:
        """Rows ``start..`` as Arrow, without touching older batches when it can."""
        self._materialize()
        total, batches = self.num_rows, []
        if start >= total and self._arrow is not None:  # (a re-log without new rows)
            return self._empty(self._arrow.schema)
        first = total
        for batch in reversed(self._tail):
            if first <= start:
                break
            batches.append(_arrow_of(batch))
            first -= batch.num_rows
        if first > start or not batches:
            return self.to_arrow().slice(start)
        batches.reverse()
        rows = batches[0] if len(batches) == 1 else pa.concat_tables(batches)
        return rows.slice(start - first)

    def get_dataframe(self) -> pd.DataFrame:
        """The table as a pandas DataFrame."""
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def to_polars(self) -> pl.DataFrame:
        """The table as a Polars DataFrame."""
        import polars as pl

        out = pl.from_arrow(self.to_arrow())
        assert isinstance(out, pl.DataFrame)
        return out

    def _materialize(self) -> None:
        if not self._pending:
            return
        # add_data refuses what conversion would fail on; should a value still fail
        # here, its rows are dropped with the error (never silently), so that the
        # Table stays usable instead of failing at every later use.
        try:
            self._convert_pending()
        except (
            ColumnTypeError,
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            OverflowError,
            UnicodeError,
        ) as e:
            n = len(self._pending)
            self._pending = []
            raise ColumnTypeError(
                f"{e}; the {n} row(s) added since the table was last converted or logged "
                "are not kept: add them again with values the column can hold"
            ) from e

    def _convert_pending(self) -> None:
        rows = self._pending
        if self._arrow is not None and not self._mixed:
            fast = self._plain_rows(self._arrow.schema).convert(rows)
            if fast is not None:
                self._append_arrow(fast)
                self._pending = []
                return
        arrays = []
        # (zip transposes the rows in one call; every row has one value per column)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self._columns)
        types = self._arrow.schema.types if self._arrow is not None else None
        for i, name in enumerate(self._columns):
            values = list(columns[i])
            kind = self._kinds[i]
            if self._mixed:
                kinds = {kind_of(v) for v in values} - {None}
                if len(kinds) > 1 or (kind is not None and kinds and kinds != {kind}):
                    kind = "json"
                elif kinds:
                    kind = next(iter(kinds))
                if kind == "json" and self._kinds[i] != "json":
                    self._to_json_column(i)
                    types = self._arrow.schema.types if self._arrow is not None else None
                self._kinds[i] = kind
            target = types[i] if types is not None else None
            if target is not None and target.id == _NULL_TYPE_ID:
                target = None
            arrays.append(
                column_to_arrow(name, values, kind, target=target, strict_shapes=not self._mixed)
            )
        self._append_arrow(pa.table(arrays, names=self._columns))
        self._pending = []

    def _to_json_column(self, i: int) -> None:
        if self._arrow is None:
            return
        if self._kinds[i] in ("list", "dict") and pa.types.is_string(
            self._arrow.schema.field(i).type
        ):
            return  # lists or dicts whose shapes varied: already stored as JSON text
        rewrite = functools.partial(_json_column, i, self._columns[i])
        # (not to_arrow: this runs inside _materialize)
        self._arrow = rewrite(self._materialized_without_pending())
        self._spilled.rewrite(rewrite)  # released rows: rewritten when read back
        self._rewrites.append(rewrite)

    def _append_arrow(self, batch: pa.Table) -> None:
        for i, t in enumerate(batch.schema.types):
            if self._kinds[i] is None:
                self._kinds[i] = kind_of_arrow(t)
            if pa.types.is_decimal(t) and i not in self._dec_scale:
                self._dec_scale[i] = t.scale
        if self._arrow is None or (
            self._arrow.num_rows == 0
            and batch.num_rows
            and not self._tail
            and not self._spilled.rows
        ):
            self._arrow = batch
            return
        if batch.num_rows == 0:
            return
        old_schema = self._arrow.schema
        if batch.schema == old_schema:  # the usual next batch: nothing to unify
            self._tail.append(batch)
            self._tail_rows += batch.num_rows
            return
        fields = []
        for i, (a, b) in enumerate(zip(old_schema.types, batch.schema.types, strict=True)):
            name = self._columns[i]
            fields.append(pa.field(name, unify_types(name, a, b)))
        schema = pa.schema(fields)
        try:
            if batch.schema != schema:
                batch = batch.cast(schema)
            if old_schema == schema:
                self._tail.append(batch)
                self._tail_rows += batch.num_rows
                return
            # (Released rows are cast to the Table's new type when read back.)
            old = self._materialized_without_pending().cast(schema)
            self._arrow = pa.concat_tables([old, batch])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            bad = [
                n
                for n, a, b in zip(self._columns, old_schema.types, schema.types, strict=True)
                if a != b
            ]
            raise ColumnTypeError(f"rows cannot be added to column(s) {bad}: {e}") from e

    def _materialized_without_pending(self) -> pa.Table:
        assert self._arrow is not None
        if self._tail:
            self._arrow = pa.concat_tables([self._arrow, *map(_arrow_of, self._tail)])
            self._tail, self._tail_rows = [], 0
        return self._arrow

    def _hand_over(self, start: int) -> pa.Table | DeferredRows:
        """(run.log) Rows ``start..`` to log. When they are exactly the rows added since
        the last conversion and all plain values of the Table's types (PlainRows.defer),
        they go unconverted (:class:`DeferredRows`, converted by the commit thread):
        run.log then makes no Arrow call, each of which hands the GIL over."""
        pending = self._pending
        last = self._tail[-1] if self._tail else None
        if (
            not pending
            and isinstance(last, DeferredRows)
            and start == self.num_rows - last.num_rows
        ):
            return last  # (handed over already: logged under another key, or deferred_table)
        fresh = start == self.num_rows - len(pending)
        if pending and fresh and not self._mixed and self._arrow is not None:
            deferred = self._plain_rows(self._arrow.schema).defer(pending)
            if deferred is not None:
                self._tail.append(deferred)
                self._tail_rows += deferred.num_rows
                self._pending = []
                return deferred
        return self._rows_since(start)

    def _hold(self, rows: DeferredRows) -> None:
        """Become a Table of just ``rows`` (a new Table with their columns)."""
        self._arrow = rows.plain.empty
        types = rows.schema.types
        self._kinds = [kind_of_arrow(t) for t in types]
        self._subs = [arrow_bits(t) for t in types]
        self._plain = rows.plain
        self._tail, self._tail_rows = [rows], rows.num_rows

    def _plain_rows(self, schema: pa.Schema) -> PlainRows:
        plain = self._plain
        if plain is None or not plain.schema.equals(schema):
            plain = self._plain = PlainRows(schema)
        return plain

    # ----------------------------------------------------------- log-time helpers

    def _freeze(self) -> None:
        self._frozen = True

    @property
    def _is_frozen(self) -> bool:
        return self._frozen

    # ------------------------------------------------------------------------------
    # W&B Table methods (#17): iterrows, get_index, add_computed_columns, ==, cast.
    # (Kept together, apart from the value handling above.)

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        """``(index, row)`` for every row, in order (W&B's ``Table.iterrows``)."""
        yield from enumerate(self.data)

    def get_index(self) -> list[int]:
        """The row indices ``[0, 1, ..., num_rows - 1]`` (W&B's ``Table.get_index``)."""
        return list(range(self.num_rows))

    def add_computed_columns(self, fn: Callable[[int, dict[str, Any]], Mapping[str, Any]]) -> None:
        """Add the columns ``fn(index, row)`` returns for each row (``row`` maps column
        name to value; ``fn`` returns a dict of new column name to value)."""
        if self._log_mode == "INCREMENTAL":
            raise TableError(
                "Operation 'add_computed_columns' is not supported for tables with "
                "log_mode='INCREMENTAL'. Use a different log mode like 'MUTABLE' or "
                "'IMMUTABLE'."
            )
        self._check_editable("add computed columns")
        new: dict[str, list[Any]] = {}
        for i, row in self.iterrows():
            out = fn(i, dict(zip(self._columns, row, strict=True)))
            if not isinstance(out, Mapping):
                raise TableError(
                    f"add_computed_columns: fn must return a dict of column -> value, got "
                    f"{type(out).__name__} for row {i}"
                )
            if i == 0:
                new = {str(k): [] for k in out}
            if set(out) != set(new):
                raise TableError(
                    f"add_computed_columns: fn returned columns {sorted(out)} for row {i}, "
                    f"but {sorted(new)} for row 0; it must return the same columns for every row"
                )
            for k, v in out.items():
                new[str(k)].append(v)
        for name, values in new.items():
            self.add_column(name, values, optional=True)

    def __eq__(self, other: object) -> bool:
        """Equal columns, column types and values (W&B's value equality)."""
        if not isinstance(other, Table):
            return NotImplemented
        if self is other:
            return True
        if self._columns != other._columns or self.num_rows != other.num_rows:
            return False
        if self._kinds != other._kinds:
            return False
        # Arrow's Python values: arrays as lists, so no elementwise numpy comparison.
        return bool(self.to_arrow().to_pylist() == other.to_arrow().to_pylist())

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = object.__hash__  # a Table is mutable: hashed by identity, compared by value

    def cast(self, column: str, dtype: Any, optional: bool = False) -> None:
        """Fix the type of ``column`` (W&B's ``Table.cast``): later rows are checked
        against it (a ``TypeError`` otherwise), and ``optional=False`` refuses ``None``.

        ``dtype`` is a Python type (``int``, ``float``, ``str``, ``bool``, ``dict``,
        ``list``, ``bytes``, ``datetime``), a media class (``tablelog.Image``...), a
        kind name (``"number"``, ``"str"``...), or a pyarrow type, which also converts
        the values already in the column (``pa.float32()``).
        """
        self._check_editable("cast a column")
        if column not in self._columns:
            raise TableError(f"no column {column!r}; columns are {self._columns}")
        i = self._columns.index(column)
        arrow = self.to_arrow()
        values = arrow.column(i)
        if isinstance(dtype, pa.DataType):
            try:  # (every row, the released ones too: refused before anything changes)
                values.cast(dtype)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise ColumnTypeError(
                    f"column {column!r} ({values.type}) cannot be cast to {dtype}: {e}"
                ) from e
            kind = kind_of_arrow(dtype)
            # In memory, and for the rows released after their commit when they are
            # read back (``arrow`` holds those too: it must not become the Table).
            rewrite = functools.partial(_cast_column, i, column, dtype)
            held = arrow if self._arrow is None else self._materialized_without_pending()
            self._arrow = rewrite(held)  # (a Table without rows yet: its empty columns)
            self._spilled.rewrite(rewrite)
            self._rewrites.append(rewrite)
        else:
            kind = cast_kind(column, dtype)
            have = self._kinds[i]
            if have is not None and have != kind:
                raise ColumnTypeError(
                    f"column {column!r} holds {have} values; it cannot be cast to {kind}"
                )
        if not optional and values.null_count:
            raise ColumnTypeError(
                f"column {column!r} has {values.null_count} None value(s); cast it with "
                "optional=True to allow None"
            )
        self._kinds[i] = kind
        self._optional[i] = bool(optional)


def _rewritten(loader: Loader, rewrite: Callable[[pa.Table], pa.Table]) -> pa.Table:
    return rewrite(loader())


def _cast_column(i: int, name: str, dtype: pa.DataType, table: pa.Table) -> pa.Table:
    """Column ``i`` of ``table`` cast to ``dtype`` (``Table.cast``)."""
    return table.set_column(i, name, table.column(i).cast(dtype))


def _json_column(i: int, name: str, table: pa.Table) -> pa.Table:
    """Column ``i`` of ``table`` as JSON text."""
    values = [to_json_text(v) for v in table.column(i).to_pylist()]
    return table.set_column(i, name, pa.array(values, type=pa.string()))


# ------------------------------------------------- the run's side of a Table
# What ``writer`` (run.log, the key logs) reads and tells a Table; not user API, so
# functions here rather than public methods on the W&B-compatible class.


def table_uid(table: Table) -> str:
    """The identity of ``table`` across logs (a re-log of the same Table appends)."""
    return table._uid


def table_generation(table: Table) -> int:
    """Changes to every row of ``table`` so far (a column turned to JSON text)."""
    return table._generation


def table_kinds(table: Table) -> list[str | None]:
    """The logical kind of each column (None: no non-null value yet)."""
    return list(table._kinds)


def table_blobs(table: Table) -> dict[str, bytes]:
    """The media blobs added to ``table`` (name -> bytes), updated in place by the run."""
    return table._blobs


def deferred_table(rows: DeferredRows, log_mode: str = "INCREMENTAL") -> Table:
    """A Table of ``rows``, plain rows not converted yet (run.log's history row): its
    log hands them to the commit thread as they are."""
    table = Table(columns=rows.column_names, log_mode=log_mode)
    table._hold(rows)
    return table


def hand_over(table: Table, start: int) -> pa.Table | DeferredRows:
    """Rows ``start..`` of ``table`` for run.log: as Arrow, or plain rows unconverted."""
    return table._hand_over(start)


def _arrow_of(batch: pa.Table | DeferredRows) -> pa.Table:
    return batch.table() if isinstance(batch, DeferredRows) else batch


def append_arrow(table: Table, batch: pa.Table) -> None:
    """Append ``batch`` (columns and types as ``table``'s) to ``table``."""
    table._append_arrow(batch)


def freeze(table: Table) -> None:
    """``table`` (IMMUTABLE) was logged: further changes are refused."""
    table._freeze()


def logged_as(table: Table, schema: Sequence[Any]) -> None:
    """``table`` was logged; ``schema`` is its key's committed columns now."""
    table._logged_types(schema)


def release_rows(table: Table, first_row: int, rows: int, loader: Loader, generation: int) -> None:
    """Rows ``first_row..`` of ``table`` are committed and ``loader`` reads them back (as
    they were at ``generation``): ``table`` drops the batches they cover."""
    table._release(first_row, rows, loader, generation)
