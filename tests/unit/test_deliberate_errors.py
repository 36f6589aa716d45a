"""Every error tablelog raises on purpose derives from TablelogError (tablelog/errors.py).

The package's source is walked (ast): a ``raise`` of a builtin exception class is a
failure unless it is listed below with the reason it must stay builtin.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import tablelog

PACKAGE = Path(tablelog.__file__).parent

#: (file below tablelog/, enclosing function, builtin class) -> why it stays builtin.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("media/kinds.py", "__getattr__", "AttributeError"): (
        "the attribute protocol: getattr(value, name, default) and hasattr need it"
    ),
    ("session.py", "__getattr__", "AttributeError"): "the attribute protocol",
    ("writer/config.py", "__getattr__", "AttributeError"): "the attribute protocol",
    ("writer/config.py", "__delitem__", "KeyError"): (
        "the mapping protocol: del config[key] of a missing key, as dict"
    ),
    ("ui/serve.py", "bind_socket", "OSError"): (
        "no free port: the socket error of the machine, re-raised with the ports tried"
    ),
    ("ui/serve.py", "run", "OSError"): (
        "`tablelog ui` without its extra: reported as a failed start, as a busy port is"
    ),
    ("interop/iceberg.py", "_require_pyiceberg", "ImportError"): (
        "a missing optional dependency stays an ImportError (as in polars, pandas), "
        "with the pip command added"
    ),
    ("data/compaction.py", "compact_table", "AssertionError"): "unreachable, for mypy",
    ("__init__.py", "__getattr__", "AttributeError"): (
        "the module attribute protocol of the lazy re-exports (PEP 562)"
    ),
    ("objects/__init__.py", "__getattr__", "AttributeError"): (
        "the module attribute protocol of the lazy re-exports (PEP 562)"
    ),
}

_BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc
    if isinstance(exc, ast.Call):
        exc = exc.func
    return exc.id if isinstance(exc, ast.Name) else None


def builtin_raises() -> list[tuple[str, str, str, int]]:
    """(file, enclosing function, class, line) of each raise of a builtin class."""
    found: list[tuple[str, str, str, int]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))

        def walk(node: ast.AST, func: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                name = func
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = child.name
                if isinstance(child, ast.Raise):
                    raised = _raised_name(child)
                    if raised in _BUILTIN_ERRORS:
                        found.append((rel, func, raised, child.lineno))
                walk(child, name)

        walk(tree, "<module>")
    return found


def test_no_deliberate_error_is_a_bare_builtin() -> None:
    bare = [
        f"tablelog/{rel}:{line} raises {cls} in {func}()"
        for rel, func, cls, line in builtin_raises()
        if (rel, func, cls) not in ALLOWED
    ]
    assert not bare, (
        "raise a tablelog error (tablelog/errors.py: InvalidArgumentError is a ValueError, "
        "ArgumentTypeError a TypeError, ...) or add the place to ALLOWED with its reason:\n"
        + "\n".join(bare)
    )


def test_the_allow_list_has_no_stale_entries() -> None:
    used = {(rel, func, cls) for rel, func, cls, _ in builtin_raises()}
    assert not set(ALLOWED) - used


def test_the_walk_finds_a_bare_raise() -> None:
    # the checker itself: a builtin raise in a function is reported with its place
    tree = ast.parse("def f():\n    raise ValueError('x')\n")
    raise_node = next(n for n in ast.walk(tree) if isinstance(n, ast.Raise))
    assert _raised_name(raise_node) == "ValueError" and "ValueError" in _BUILTIN_ERRORS


def test_bad_arguments_are_tablelog_errors_and_still_value_or_type_errors() -> None:
    import datetime as dt

    import pytest

    from tablelog.errors import ArgumentTypeError, InvalidArgumentError
    from tablelog.read.export import export_format

    with pytest.raises(InvalidArgumentError, match="unknown extension") as exc:
        export_format("out.docx")
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, tablelog.TablelogError)
    with pytest.raises(ValueError, match="target_rows must be >= 1"):
        tablelog.compact("p/r/t", root="memory://deliberate-errors", target_rows=0)
    with pytest.raises(TypeError, match=r"min_age must be a datetime\.timedelta") as type_exc:
        tablelog.gc("memory://deliberate-errors", min_age=3600)  # type: ignore[arg-type]
    assert isinstance(type_exc.value, ArgumentTypeError)
    with pytest.raises(tablelog.TablelogError, match="must not be negative"):
        tablelog.gc("memory://deliberate-errors", min_age=-dt.timedelta(seconds=1))
