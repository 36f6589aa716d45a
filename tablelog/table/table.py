"""``Table``: a W&B-style table in memory, with column types and log-mode rules.

Rows added with :meth:`Table.add_data` are kept as Python rows until they are
needed, then converted column by column to Arrow; DataFrames and 2-D arrays go to
Arrow directly (columnar, never row by row).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablelog.errors import ColumnTypeError, TableError
from tablelog.media.kinds import as_media_columns
from tablelog.table.spill import Loader, Spilled
from tablelog.table.types import (
    _KIND_BY_TYPE,
    array_shape,
    check_kind,
    check_nesting,
    column_to_arrow,
    kind_of,
    kind_of_arrow,
    to_json_text,
)

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

LOG_MODES = ("IMMUTABLE", "MUTABLE", "INCREMENTAL")


def _check_mode(log_mode: object) -> str:
    mode = "IMMUTABLE" if log_mode is None else log_mode
    if not isinstance(mode, str) or mode.upper() not in LOG_MODES:
        raise TableError(
            f"log_mode must be one of 'IMMUTABLE', 'MUTABLE' or 'INCREMENTAL', got {log_mode!r}"
        )
    return mode.upper()


def _dataframe_to_arrow(df: Any) -> pa.Table | None:
    """``df`` as Arrow, zero-copy where it can; None for a pandas frame with object
    columns Arrow cannot type (media values), which is then added row by row."""
    module = type(df).__module__.split(".")[0]
    if module == "polars":
        table = df.to_arrow()
    elif module == "pandas":
        try:
            table = pa.Table.from_pandas(df, preserve_index=False)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return None
    elif isinstance(df, pa.Table):
        table = df
    else:
        raise TableError(
            f"dataframe must be a pandas or Polars DataFrame (or an Arrow table), "
            f"got {type(df).__name__}"
        )
    bad = [c for c in table.column_names if not isinstance(c, str) or not c]
    if bad:
        raise TableError(f"column names must be non-empty strings, got {bad!r}")
    # zero-copy: chunked columns are fine for Arrow and Parquet
    return as_media_columns(table)


def _values_to_arrow(name: str, values: Any, kind_hint: str | None) -> tuple[pa.Array, str | None]:
    """A new column's values (list, numpy, pandas/Polars Series, Arrow) as Arrow."""
    module = type(values).__module__.split(".")[0]
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    elif module == "polars":
        arr = values.to_arrow()
    elif module == "pandas" and values.dtype != object:
        arr = pa.Array.from_pandas(values)
    elif module == "numpy" and getattr(values, "ndim", 1) == 1 and values.dtype.kind in "biuf":
        arr = pa.array(values, from_pandas=True)
    else:
        seq = list(values)
        kind = kind_hint
        for v in seq:
            kind = check_kind(name, v, kind)
        return column_to_arrow(name, seq, kind), kind
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr, kind_of_arrow(arr.type)


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
        del dtype  # accepted for W&B compatibility; types come from the values
        self._log_mode = _check_mode(log_mode)
        self._uid = uuid.uuid4().hex
        self._mixed = bool(allow_mixed_types)
        self._frozen = False
        self._arrow: pa.Table | None = None
        #: Batches appended since ``_arrow`` was last consolidated (same schema), so
        #: that appending stays O(batch) however many batches came before.
        self._tail: list[pa.Table] = []
        self._tail_rows = 0
        #: Leading rows that are committed and were released from memory.
        self._spilled = Spilled()
        #: Changes applied to every row so far, in order (see ``_generation``).
        self._rewrites: list[Callable[[pa.Table], pa.Table]] = []
        self._pending: list[list[Any]] = []
        #: Blob name -> bytes of every media value added (uploaded when logged).
        self._blobs: dict[str, bytes] = {}
        #: Column index -> the shape of its numpy arrays (fixed per column).
        self._shapes: dict[int, tuple[int, ...]] = {}
        if data is None and rows is not None:
            data = rows
        arrow = None if dataframe is None else _dataframe_to_arrow(dataframe)
        if dataframe is not None and arrow is None:
            columns = _check_columns(dataframe.columns)
            data = list(dataframe.itertuples(index=False, name=None))
            dataframe = None
        if arrow is not None:
            self._columns = list(arrow.column_names)
            self._kinds: list[str | None] = [kind_of_arrow(t) for t in arrow.schema.types]
            self._arrow = arrow
        else:
            if columns is None:
                width = _width(data)
                columns = [f"col{i}" for i in range(width)]
            self._columns = _check_columns(columns)
            self._kinds = [None] * len(self._columns)
        self._optional = _check_optional(optional, len(self._columns))
        if dataframe is None and data is not None:
            self._add_bulk(data)

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
        if len(row) != len(self._columns):
            raise TableError(
                f"add_data got {len(row)} value(s), but the table has {len(self._columns)} "
                f"columns: {self._columns}"
            )
        self._check_row(row)
        self._pending.append(list(row))

    def add_row(self, *row: Any) -> None:
        """Alias of :meth:`add_data` (W&B's older name)."""
        self.add_data(*row)

    def _check_row(self, row: Sequence[Any]) -> None:
        kinds = self._kinds
        for i, value in enumerate(row):
            if value is None or (type(value) is float and value != value):
                if not self._optional[i]:
                    raise TableError(f"column {self._columns[i]!r} is not optional: got {value!r}")
                continue
            if self._mixed:
                if getattr(value, "_tablelog_media", False):
                    self._blobs.update(value.blobs())
                continue
            have = kinds[i]
            kind = _KIND_BY_TYPE.get(type(value))
            if kind is None or (have is not None and kind != have):
                kind = check_kind(self._columns[i], value, have)
                if kind is None:
                    if not self._optional[i]:
                        raise TableError(
                            f"column {self._columns[i]!r} is not optional: got {value!r}"
                        )
                    continue
            if kind == "list" or kind == "dict":
                check_nesting(self._columns[i], value)
                if kind == "list":
                    self._check_shape(i, value)
            elif kind == "media":
                self._blobs.update(value.blobs())
            kinds[i] = kind

    def _check_shape(self, i: int, value: Any) -> None:
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
            if data.ndim != 2 or data.shape[1] != len(self._columns):
                raise TableError(
                    f"data must be a 2-D array with {len(self._columns)} columns "
                    f"({self._columns}), got shape {data.shape}"
                )
            arrays = [pa.array(data[:, i], from_pandas=True) for i in range(data.shape[1])]
            self._append_arrow(pa.table(arrays, names=self._columns))
            return
        for row in data:
            row = list(row)
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
        if not isinstance(name, str) or not name:
            raise TableError(f"a column name must be a non-empty string, got {name!r}")
        if name in self._columns:
            raise TableError(f"column {name!r} already exists: {self._columns}")
        n = len(data) if hasattr(data, "__len__") else None
        if n is None:
            data = list(data)
            n = len(data)
        if n != self.num_rows:
            raise TableError(
                f"column {name!r} has {n} value(s), but the table has {self.num_rows} rows"
            )
        arrow = self.to_arrow()
        values, kind = _values_to_arrow(name, data, None)
        if kind == "media":
            for v in data:
                if getattr(v, "_tablelog_media", False):
                    self._blobs.update(v.blobs())
        if not optional and isinstance(data, list | tuple) and any(v is None for v in data):
            # As in W&B: None needs optional=True (NaN in a float array is a null float).
            raise TableError(
                f"column {name!r} is not optional but has None values; pass optional=True"
            )
        self._arrow = arrow.append_column(name, values)
        self._columns.append(name)
        self._kinds.append(kind)
        self._optional.append(optional)

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
            assert self._arrow is not None
            self._arrow = pa.concat_tables([self._arrow, *self._tail])
            self._tail, self._tail_rows = [], 0
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
                self._arrow = self._arrow.schema.empty_table()
            else:
                self._tail_rows -= self._tail.pop(0).num_rows

    def _rows_since(self, start: int) -> pa.Table:
        """Rows ``start..`` as Arrow, without touching older batches when it can."""
        self._materialize()
        total, batches = self.num_rows, []
        first = total
        for batch in reversed(self._tail):
            if first <= start:
                break
            batches.append(batch)
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
        # Rows stay pending until they are converted: a value that only fails here (a
        # decimal with more places than the column) raises every time, never vanishes.
        rows = self._pending
        arrays = []
        for i, name in enumerate(self._columns):
            values = [r[i] for r in rows]
            kind = self._kinds[i]
            if self._mixed:
                kinds = {kind_of(v) for v in values} - {None}
                if len(kinds) > 1 or (kind is not None and kinds and kinds != {kind}):
                    kind = "json"
                elif kinds:
                    kind = next(iter(kinds))
                if kind == "json" and self._kinds[i] != "json":
                    self._to_json_column(i)
                self._kinds[i] = kind
            target = self._arrow.schema.field(i).type if self._arrow is not None else None
            if target is not None and pa.types.is_null(target):
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
            fields.append(pa.field(name, _unify(name, a, b)))
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
            raise ColumnTypeError(f"rows cannot be added: {e}") from e

    def _materialized_without_pending(self) -> pa.Table:
        assert self._arrow is not None
        if self._tail:
            self._arrow = pa.concat_tables([self._arrow, *self._tail])
            self._tail, self._tail_rows = [], 0
        return self._arrow

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
            try:
                cast = values.cast(dtype)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise ColumnTypeError(
                    f"column {column!r} ({values.type}) cannot be cast to {dtype}: {e}"
                ) from e
            kind = kind_of_arrow(dtype)
            self._arrow = arrow.set_column(i, column, cast)
        else:
            kind = _cast_kind(column, dtype)
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


def _json_column(i: int, name: str, table: pa.Table) -> pa.Table:
    """Column ``i`` of ``table`` as JSON text."""
    values = [to_json_text(v) for v in table.column(i).to_pylist()]
    return table.set_column(i, name, pa.array(values, type=pa.string()))


def _unify(name: str, a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if (pa.types.is_integer(a) or pa.types.is_floating(a)) and (
        pa.types.is_integer(b) or pa.types.is_floating(b)
    ):
        return pa.float64() if (pa.types.is_floating(a) or pa.types.is_floating(b)) else a
    if pa.types.is_string(a) or pa.types.is_large_string(a):
        return a
    raise ColumnTypeError(f"column {name!r} changed type from {a} to {b}")


def _width(data: Any) -> int:
    if data is None:
        return 0
    if hasattr(data, "shape"):
        return int(data.shape[1]) if len(data.shape) == 2 else 0
    for row in data:
        return len(row)
    return 0


def _check_columns(columns: Iterable[Any]) -> list[str]:
    cols = list(columns)
    for c in cols:
        if not isinstance(c, str) or not c:
            raise TableError(f"column names must be non-empty strings, got {c!r}")
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise TableError(f"column names must be unique; repeated: {dupes}")
    return cols


def _check_optional(optional: bool | Sequence[bool], n: int) -> list[bool]:
    if isinstance(optional, bool):
        return [optional] * n
    flags = [bool(o) for o in optional]
    if len(flags) != n:
        raise TableError(f"optional has {len(flags)} flags for {n} columns")
    return flags


_CAST_KINDS: dict[Any, str] = {
    int: "number",
    float: "number",
    complex: "number",
    bool: "bool",
    str: "str",
    dict: "dict",
    list: "list",
    tuple: "list",
    bytes: "bytes",
}
_KIND_NAMES = ("number", "bool", "str", "list", "dict", "datetime", "bytes", "media")


def _cast_kind(column: str, dtype: Any) -> str:
    import datetime as _dt

    if isinstance(dtype, str) and dtype in _KIND_NAMES:
        return dtype
    if dtype in _CAST_KINDS:
        return _CAST_KINDS[dtype]
    if isinstance(dtype, type):
        if issubclass(dtype, _dt.date | _dt.time | _dt.timedelta):
            return "datetime"
        if getattr(dtype, "_tablelog_media", False):
            return "media"
    raise TableError(
        f"cannot cast column {column!r} to {dtype!r}: give a Python type (int, float, str, "
        f"bool, dict, list, bytes, datetime), a media class, one of {_KIND_NAMES} or a "
        "pyarrow type"
    )
