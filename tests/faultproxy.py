"""A fault-injecting HTTP reverse proxy in front of a loopback S3 server (stdlib only).

Clients (s3fs/aiobotocore, boto3, Polars' object_store) use ``proxy.endpoint_url``
as their S3 endpoint with path-style addressing. Every request is forwarded to the
upstream server with its method, path and query, headers and body, and the reply
is relayed. Requests are recorded (``proxy.requests``), and rules inject faults:

* ``strip_request_header(name)``: forward without that header (e.g. ``If-None-Match``,
  to emulate a store that ignores conditional writes);
* ``drop_reply_after_success(match, times)``: forward, let the upstream store it,
  then close the client's connection without any reply (a reply lost after the write);
* ``inject_error(match, rate, status, code)``: answer with an S3 error (503 SlowDown)
  without forwarding;
* ``deny_writes(prefix)``: a read-only prefix (403 AccessDenied to writes below it);
* ``black_hole(match)``: read the request, then never answer (the connection stays
  open until the rule is cleared or the proxy closes): the client's timeout decides.
* ``emulate_latency(profile)``: delay every request by a time drawn per request kind
  (PUT, GET, HEAD, LIST) from a log-normal distribution, half before forwarding and
  half after (:data:`S3_LATENCY`: defaults from published S3 figures, docs/scaling.md).
  The delay is spent sleeping in the request's own thread (no CPU, no lock held), so
  concurrent requests wait concurrently, as they do against a remote store.

SigV4 signs the ``Host`` header, and clients sign the host they connect to, which is
the proxy. The proxy therefore forwards the client's ``Host`` header unchanged (it
never rewrites it), so the signature still verifies upstream (SeaweedFS checks it;
moto does not check signatures at all).

Request bodies: aiobotocore sends ``Content-Length`` bodies (its ``aws-chunked``
framing, when used, lives inside such a body with ``Content-Encoding: aws-chunked``
and is forwarded byte for byte); ``Transfer-Encoding: chunked`` is de-chunked and
forwarded with a ``Content-Length``. ``Expect: 100-continue`` is answered by the
proxy (``http.server`` does it) and not forwarded.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["S3_LATENCY", "FaultProxy", "Latency", "Request", "request_kind"]

#: Request headers kept in each record.
RECORDED_HEADERS = (
    "If-None-Match",
    "If-Match",
    "Content-Length",
    "Content-Encoding",
    "Transfer-Encoding",
    "Range",
    "Expect",
    "x-amz-decoded-content-length",
    "x-amz-content-sha256",
)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)


@dataclass
class Request:
    """One request the proxy received, and what became of it."""

    method: str
    path: str  # the URL path, unquoted as sent (``/bucket/key``)
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    status: int | None = None  # what the client got (None: dropped, or not answered yet)
    fate: str = "forwarded"  # forwarded | dropped | injected
    upstream_status: int | None = None
    seconds: float = 0.0
    emulated: float = 0.0  # seconds of emulated latency slept (emulate_latency)

    @property
    def key(self) -> str:
        """``key`` of ``/bucket/key`` (path-style)."""
        parts = self.path.lstrip("/").split("/", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def bucket(self) -> str:
        return self.path.lstrip("/").split("/", 1)[0]

    def __str__(self) -> str:
        q = "&".join(f"{k}={v}" if v else k for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + q if q else ''} -> {self.status} ({self.fate})"


Match = Callable[[Request], bool]


@dataclass(frozen=True)
class Latency:
    """A log-normal request latency given by its median and 99th percentile (seconds),
    cut at ``cap`` (a client would have retried by then)."""

    median: float
    p99: float
    cap: float = 2.0

    def sample(self, rng: random.Random) -> float:
        if self.median <= 0:
            return 0.0
        sigma = math.log(max(self.p99, self.median) / self.median) / 2.326  # z(0.99)
        return min(self.cap, self.median * math.exp(rng.gauss(0.0, sigma)))


#: Emulated S3 Standard latencies per request kind for small objects (docs/scaling.md,
#: "Latency emulation", cites the source): medians in the tens of milliseconds, a tail
#: of ~4x the median at p99, cut at the 2 s after which AWS advises retrying.
S3_LATENCY: dict[str, Latency] = {
    "PUT": Latency(median=0.050, p99=0.200),
    "GET": Latency(median=0.030, p99=0.120),
    "HEAD": Latency(median=0.020, p99=0.080),
    "LIST": Latency(median=0.060, p99=0.250),
}


def request_kind(req: Request) -> str:
    """PUT, GET, HEAD or LIST (a GET of a bucket or with ``list-type``); POST and
    DELETE count as PUT."""
    if req.method == "GET":
        return "LIST" if "list-type" in req.query or not req.key else "GET"
    if req.method == "HEAD":
        return "HEAD"
    return "PUT"


@dataclass
class _Drop:
    match: Match
    times: int


@dataclass
class _Inject:
    match: Match
    rate: float
    status: int
    code: str
    message: str
    rng: random.Random
    max_consecutive: int | None
    streak: dict[str, int] = field(default_factory=dict)


def _error_xml(code: str, message: str, resource: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>faultproxy</RequestId></Error>"
    ).encode()


class FaultProxy:
    """A threaded reverse proxy on 127.0.0.1 (a free port) in front of ``upstream``."""

    def __init__(self, upstream: str, *, timeout: float = 60.0) -> None:
        u = urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = u.hostname
        self.upstream_port = u.port or 80
        self.timeout = timeout
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._strip: set[str] = set()
        self._resign: tuple[str, str, str] | None = None
        self._drops: list[_Drop] = []
        self._injects: list[_Inject] = []
        self._resets: list[tuple[Match, float, random.Random]] = []
        self._delays: list[tuple[Match, float, float, random.Random]] = []
        self._holes: list[Match] = []
        #: Set to let every held (black-holed) connection go; a new Event per hole rule set.
        self._release = threading.Event()
        self._latency: dict[str, Latency] | None = None
        self._latency_rng = random.Random(0)
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"faultproxy-{self.port}", daemon=True
        )
        self._thread.start()

    # -- rules -----------------------------------------------------------------
    def strip_request_header(
        self, name: str, *, resign: tuple[str, str, str] | None = None
    ) -> None:
        """Forward every request without header ``name`` (case-insensitive).

        SigV4 signs most headers (``If-None-Match`` included), so a server that checks
        signatures (SeaweedFS) refuses the stripped request with 403. With
        ``resign=(key, secret, region)`` the proxy signs such requests again (botocore's
        S3 SigV4 signer, for the same Host), as a store that ignored the header would
        have received them.
        """
        with self._lock:
            self._strip.add(name.lower())
            if resign is not None:
                self._resign = resign

    def drop_reply_after_success(self, match: Match, times: int = 1) -> None:
        """For the next ``times`` matching requests the upstream answers 2xx to: forward,
        then close the client connection without a reply."""
        with self._lock:
            self._drops.append(_Drop(match, times))

    def inject_error(
        self,
        match: Match,
        rate: float = 1.0,
        *,
        status: int = 503,
        code: str = "SlowDown",
        message: str = "Please reduce your request rate.",
        seed: int = 0,
        max_consecutive: int | None = None,
    ) -> None:
        """Answer ``rate`` of the matching requests with ``status``/``code``, unforwarded.

        ``max_consecutive`` caps how many times in a row one path is refused (a
        deterministic bound, so a client with a finite retry budget always gets through).
        """
        with self._lock:
            self._injects.append(
                _Inject(match, rate, status, code, message, random.Random(seed), max_consecutive)
            )

    def reset_connections(self, match: Match, rate: float, *, seed: int = 0) -> None:
        """Close ``rate`` of the matching connections before forwarding (the client sees
        a reset; the upstream never sees the request)."""
        with self._lock:
            self._resets.append((match, rate, random.Random(seed)))

    def delay_replies(self, match: Match, seconds: float, rate: float, *, seed: int = 0) -> None:
        """Hold ``rate`` of the matching replies back for ``seconds`` after forwarding."""
        with self._lock:
            self._delays.append((match, seconds, rate, random.Random(seed)))

    def deny_writes(self, prefix: str = "") -> None:
        """Refuse PUT/POST/DELETE of keys below ``prefix`` (bucket-relative) with 403
        AccessDenied, as a bucket policy making that prefix read-only does."""
        self.inject_error(
            lambda r: r.method in ("PUT", "POST", "DELETE") and r.key.startswith(prefix),
            status=403,
            code="AccessDenied",
            message="Access Denied",
        )

    def black_hole(self, match: Match) -> None:
        """Accept the matching requests and never answer them (until ``clear_rules``)."""
        with self._lock:
            if not self._holes:
                self._release = threading.Event()
            self._holes.append(match)

    def _held(self, req: Request) -> threading.Event | None:
        with self._lock:
            return self._release if any(m(req) for m in self._holes) else None

    def emulate_latency(
        self, profile: dict[str, Latency] | None = None, *, scale: float = 1.0, seed: int = 0
    ) -> None:
        """Delay every request by a latency drawn for its kind (:func:`request_kind`)
        from ``profile`` (default :data:`S3_LATENCY`), times ``scale``: half before
        forwarding, half before replying. Kinds missing from ``profile`` are not delayed.
        The draw is seeded; the sleep holds no lock and uses no CPU."""
        chosen = S3_LATENCY if profile is None else profile
        with self._lock:
            self._latency = {
                k: Latency(v.median * scale, v.p99 * scale, v.cap) for k, v in chosen.items()
            }
            self._latency_rng = random.Random(seed)

    def _emulated_latency(self, req: Request) -> float:
        with self._lock:
            if self._latency is None:
                return 0.0
            dist = self._latency.get(request_kind(req))
            return 0.0 if dist is None else dist.sample(self._latency_rng)

    def clear_rules(self) -> None:
        with self._lock:
            self._holes.clear()
            self._release.set()
            self._latency = None
            self._strip.clear()
            self._drops.clear()
            self._injects.clear()
            self._resets.clear()
            self._delays.clear()

    def _should_reset(self, req: Request) -> bool:
        with self._lock:
            return any(m(req) and rng.random() < rate for m, rate, rng in self._resets)

    def _delay_for(self, req: Request) -> float:
        with self._lock:
            return sum(s for m, s, rate, rng in self._delays if m(req) and rng.random() < rate)

    # -- records ---------------------------------------------------------------
    def reset(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def where(self, pred: Match) -> list[Request]:
        return [r for r in self.snapshot() if pred(r)]

    # -- client options ----------------------------------------------------------
    def storage_options(self, key: str, secret: str, region: str = "us-east-1") -> dict[str, Any]:
        """s3fs ``storage_options`` that talk to the upstream through this proxy."""
        return {
            "key": key,
            "secret": secret,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": region},
        }

    # -- lifecycle ---------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decisions (called from handler threads) ---------------------------------
    def _record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def _injection(self, req: Request) -> _Inject | None:
        with self._lock:
            for rule in self._injects:
                if not rule.match(req):
                    continue
                streak = rule.streak.get(req.path, 0)
                capped = rule.max_consecutive is not None and streak >= rule.max_consecutive
                if not capped and rule.rng.random() < rule.rate:
                    rule.streak[req.path] = streak + 1
                    return rule
                rule.streak[req.path] = 0
            return None

    def _should_drop(self, req: Request) -> bool:
        with self._lock:
            for rule in self._drops:
                if rule.times > 0 and rule.match(req):
                    rule.times -= 1
                    return True
            return False


class _Server(ThreadingHTTPServer):
    # many concurrent clients (64 writers' connection pools) connect at once
    request_queue_size = 1024

    def get_request(self) -> tuple[socket.socket, Any]:
        # Headers and body leave in separate writes: without TCP_NODELAY the body waits
        # for the client's delayed ACK (+40 ms per GET/LIST reply on loopback).
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        owner = self.owner
        t0 = time.monotonic()
        body = self._read_body()
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={h: v for h in RECORDED_HEADERS if (v := self.headers.get(h)) is not None},
            body_size=len(body),
        )
        # recorded before any reply byte is sent: a client that got its reply sees it
        owner._record(req)
        try:
            req.emulated = owner._emulated_latency(req)
            if req.emulated:
                time.sleep(req.emulated / 2)  # the request travelling to the store
            if owner._should_reset(req):
                req.fate = "reset"
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            held = owner._held(req)
            if held is not None:
                req.fate = "held"
                held.wait()  # no reply; then drop the connection
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            inject = owner._injection(req)
            if inject is not None:
                payload = _error_xml(inject.code, inject.message, split.path)
                req.fate, req.status = "injected", inject.status
                self.send_response(inject.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return

            status, reason, headers, payload = self._forward(body)
            req.upstream_status = status
            delay = owner._delay_for(req) + req.emulated / 2  # (+ the reply travelling back)
            if delay:
                time.sleep(delay)
            if 200 <= status < 300 and owner._should_drop(req):
                # the upstream did it; the client never hears so
                req.fate = "dropped"
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            req.status = status
            self.send_response(status, reason)
            has_length = False
            for name, value in headers:
                low = name.lower()
                if low in _HOP_BY_HOP or low in ("server", "date"):
                    continue
                if low == "content-length":
                    if self.command == "HEAD":
                        has_length = True  # the object's size, no body follows
                    else:
                        continue  # set from the body we relay
                self.send_header(name, value)
            if self.command != "HEAD" and status not in (204, 304) and not 100 <= status < 200:
                self.send_header("Content-Length", str(len(payload)))
            elif not has_length and self.command != "HEAD":
                self.send_header("Content-Length", "0")
            self.end_headers()
            if self.command != "HEAD" and payload:
                self.wfile.write(payload)
        finally:
            req.seconds = time.monotonic() - t0

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        owner = self.owner
        strip = owner._strip
        conn = http.client.HTTPConnection(
            owner.upstream_host, owner.upstream_port, timeout=owner.timeout
        )
        headers = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        ]
        kept = [(n, v) for n, v in headers if n.lower() not in strip]
        if len(kept) < len(headers) and owner._resign is not None:
            kept = _resign(self.command, self.path, kept, body, owner._resign)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in kept:
                conn.putheader(name, value)  # Host included, unchanged: SigV4 signs it
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp.reason, resp.getheaders(), payload
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


def _resign(
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    creds: tuple[str, str, str],
) -> list[tuple[str, str]]:
    """``headers`` with a fresh SigV4 signature (same Host) for this request."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    drop = {"authorization", "x-amz-date", "x-amz-security-token"}
    kept = [(n, v) for n, v in headers if n.lower() not in drop]
    host = next(v for n, v in kept if n.lower() == "host")
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body)
    for name, value in kept:
        request.headers[name] = value
    key, secret, region = creds
    S3SigV4Auth(Credentials(key, secret), "s3", region).add_auth(request)
    return list(request.headers.items())
