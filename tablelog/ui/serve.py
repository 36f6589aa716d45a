"""``tablelog ui``: serve the viewer on a local port until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import errno
import socket
import threading
import webbrowser
from typing import Any

from tablelog.errors import InvalidArgumentError

DEFAULT_PORT = 6464
_TRIES = 20  # with the default port: the next free one of these


def add_command(sub: Any, make: Any) -> None:
    """Register ``tablelog ui`` (``make`` is the CLI's subcommand factory)."""
    p = make(
        sub,
        "ui",
        run,
        "look at tables in a browser: a local, read-only web viewer",
        "Serves projects, runs (with config and summary, filterable and sortable), a "
        "run's tables, any version, step or increment of a table with paging, sorting "
        "and filters, media players, scalar charts and run comparisons. Reads ROOT (a "
        "folder or s3://bucket/prefix; S3 settings from AWS_*) and never writes to it. "
        "Needs the ui extra: pip install 'tablelog[ui]'.",
        "examples:\n  tablelog ui\n  tablelog ui s3://team-bucket/tables --port 8080\n"
        "  tablelog ui ./tablelog-data --no-browser",
    )
    p.add_argument("target", nargs="?", metavar="ROOT", help="root to view (default --root)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT}, or the next free)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")


def bind_socket(host: str, port: int | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    candidates = [port] if port is not None else [DEFAULT_PORT + i for i in range(_TRIES)]
    last: OSError | None = None
    for p in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, p))
        except OSError as e:
            sock.close()
            last = e
            if e.errno != errno.EADDRINUSE:
                break
            continue
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise OSError(f"cannot listen on {host} port {candidates[0]}: {last}")


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from tablelog.ui.app import create_app
    except ImportError as e:
        raise OSError(
            f"tablelog ui needs the ui extra ({e.name} is missing): pip install 'tablelog[ui]'"
        ) from None
    from tablelog.objects.open import resolve_root

    root = args.target or args.root
    root_url = resolve_root(root)
    if args.port is not None and not 0 <= args.port <= 65535:
        raise InvalidArgumentError(f"--port must be 0..65535, got {args.port}")
    hosts = None
    if args.host not in ("0.0.0.0", "::", ""):
        hosts = sorted({"127.0.0.1", "localhost", "::1", "[::1]", args.host})
    app = create_app(root_url, allowed_hosts=hosts)
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    url = url_of(args.host, port)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    print(f"tablelog ui: serving {app.state.root_url} at {url}  (Ctrl-C stops)", flush=True)
    if hosts is None:
        print(
            f"tablelog ui: listening on every interface ({args.host}): whoever can reach "
            "this machine can read the root",
            flush=True,
        )
    if not args.no_browser:
        threading.Timer(0.5, lambda: _open(url)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    print("tablelog ui: stopped", flush=True)
    return 0


def _open(url: str) -> None:
    with contextlib.suppress(Exception):  # no browser here: the printed URL is enough
        webbrowser.open(url)
