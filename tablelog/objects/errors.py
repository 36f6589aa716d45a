"""The one place where backend exceptions are translated.

Nothing else in tablelog looks at backend exception classes, codes or messages. One
table (as s3fs' ``ERROR_CODE_TO_EXCEPTION``) gives each backend error a
:class:`Meaning`; whether it is transient (retrying may help: 5xx, throttling,
timeouts, resets) or permanent (403, bad credentials, a missing bucket, 400) is a
property of the meaning, so :func:`is_transient` and :func:`translate` cannot
disagree.

Looked up in this order, first hit wins: the class of an exception anywhere in the
chain (botocore's credential and connection errors, aiohttp's), the S3 error code of
a reply anywhere in the chain (s3fs wraps botocore's ``ClientError`` in an
``OSError`` whose ``__cause__`` it is), the reply's HTTP status, then Python's own
``OSError`` subclasses and errno, then the module the exception comes from.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tablelog.errors import (
    NotFoundError,
    StoreError,
    StoreRefusedError,
    StoreUnavailableError,
)


@dataclass(frozen=True)
class Meaning:
    """What a backend error means for the caller."""

    name: str
    #: Whether the same request may succeed later (retry) or never will (raise now).
    transient: bool


EXISTS = Meaning("exists", transient=False)
"""A create-if-absent found the key there (412 PreconditionFailed, ``FileExistsError``)."""
CONFLICT = Meaning("conflict", transient=True)
"""409: another conditional write to the key is in flight; the outcome is unknown."""
NO_KEY = Meaning("no such key", transient=False)
NO_BUCKET = Meaning("no such bucket", transient=False)
DENIED = Meaning("permission denied", transient=False)
BAD_CREDENTIALS = Meaning("credentials rejected", transient=False)
NO_CREDENTIALS = Meaning("no credentials", transient=False)
BAD_REQUEST = Meaning("bad request", transient=False)
UNAVAILABLE = Meaning("unavailable", transient=True)
"""5xx, throttling, a timeout or a reset: the server is failing or overloaded for now."""
UNREACHABLE = Meaning("unreachable", transient=True)
"""No connection could be made (nothing listens, DNS, connect timeout)."""
UNKNOWN = Meaning("unknown", transient=False)

#: S3 error codes (``response["Error"]["Code"]``); checked before the HTTP status.
BY_CODE: Mapping[str, Meaning] = {
    "PreconditionFailed": EXISTS,
    "ConditionalRequestConflict": CONFLICT,
    "OperationAborted": CONFLICT,
    "NoSuchKey": NO_KEY,
    "NotFound": NO_KEY,
    "404": NO_KEY,
    "NoSuchBucket": NO_BUCKET,
    "AccessDenied": DENIED,
    "AllAccessDisabled": DENIED,
    "AccountProblem": DENIED,
    "Forbidden": DENIED,
    "403": DENIED,
    "InvalidAccessKeyId": BAD_CREDENTIALS,
    "SignatureDoesNotMatch": BAD_CREDENTIALS,
    "ExpiredToken": BAD_CREDENTIALS,
    "InvalidToken": BAD_CREDENTIALS,
    "TokenRefreshRequired": BAD_CREDENTIALS,
    "AuthorizationHeaderMalformed": BAD_CREDENTIALS,
    "BadRequest": BAD_REQUEST,
    "InvalidRequest": BAD_REQUEST,
    "InvalidArgument": BAD_REQUEST,
    "InvalidBucketName": BAD_REQUEST,
    "MalformedXML": BAD_REQUEST,
    "EntityTooLarge": BAD_REQUEST,
    "KeyTooLongError": BAD_REQUEST,
    "400": BAD_REQUEST,
    "SlowDown": UNAVAILABLE,
    "Throttling": UNAVAILABLE,
    "ThrottlingException": UNAVAILABLE,
    "RequestTimeout": UNAVAILABLE,
    "InternalError": UNAVAILABLE,
    "ServiceUnavailable": UNAVAILABLE,
    # A clock off by minutes is no fault of the request; tablelog has always retried it.
    "RequestTimeTooSkewed": UNAVAILABLE,
    # 400s that mean the body was damaged or cut on the way: sending it again may pass.
    "IncompleteBody": UNAVAILABLE,
    "BadDigest": UNAVAILABLE,
    "XAmzContentSHA256Mismatch": UNAVAILABLE,
}

#: HTTP status of a reply whose code is not in :data:`BY_CODE` (5xx: UNAVAILABLE).
BY_STATUS: Mapping[int, Meaning] = {
    400: BAD_REQUEST,
    401: BAD_CREDENTIALS,
    403: DENIED,
    404: NO_KEY,
    409: CONFLICT,
    412: EXISTS,
    429: UNAVAILABLE,
}

#: Exception class names (of the exception or a base, anywhere in the chain); checked
#: first, since these carry no reply.
BY_CLASS: Mapping[str, Meaning] = {
    "NoCredentialsError": NO_CREDENTIALS,
    "PartialCredentialsError": NO_CREDENTIALS,
    "EndpointConnectionError": UNREACHABLE,
    "ConnectTimeoutError": UNREACHABLE,
    "ClientConnectorError": UNREACHABLE,
    "ReadTimeoutError": UNAVAILABLE,
    "ConnectionClosedError": UNAVAILABLE,
    "ServerDisconnectedError": UNAVAILABLE,
    "ClientPayloadError": UNAVAILABLE,
    "ResponseStreamingError": UNAVAILABLE,
}

#: ``OSError.errno`` of an error without a reply (local files, sockets). Other errnos
#: are I/O trouble that may pass (UNAVAILABLE).
BY_ERRNO: Mapping[int, Meaning] = {
    errno.ENOENT: NO_KEY,
    errno.EEXIST: EXISTS,
    errno.EACCES: DENIED,
    errno.EPERM: DENIED,
    errno.EROFS: DENIED,
    errno.ENOTDIR: BAD_REQUEST,
    errno.EISDIR: BAD_REQUEST,
    errno.ENAMETOOLONG: BAD_REQUEST,
}

#: Modules whose other exceptions are transport trouble (a reset, a timeout).
_TRANSPORT_MODULES = frozenset({"botocore", "aiobotocore", "aiohttp", "urllib3", "asyncio"})


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _s3_error(exc: BaseException) -> tuple[str, int] | None:
    """(error code, HTTP status) of a botocore ClientError anywhere in the chain."""
    for cur in _chain(exc):
        response: Any = getattr(cur, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return code, status
    return None


def _by_class(exc: BaseException) -> tuple[Meaning, BaseException] | None:
    for cur in _chain(exc):
        for c in type(cur).__mro__:
            found = BY_CLASS.get(c.__name__)
            if found is not None:
                return found, cur
    return None


def classify(exc: BaseException) -> Meaning:
    """The :class:`Meaning` of a backend exception (see the module's docstring)."""
    by_class = _by_class(exc)
    if by_class is not None:
        return by_class[0]
    found = _s3_error(exc)
    if found is not None:
        code, status = found
        if code in BY_CODE:
            return BY_CODE[code]
        if status >= 500:
            return UNAVAILABLE
        return BY_STATUS.get(status, UNKNOWN)
    for cur in _chain(exc):
        if isinstance(cur, FileExistsError):
            return EXISTS
        if isinstance(cur, FileNotFoundError):
            return NO_KEY
        if isinstance(cur, PermissionError):
            return DENIED
        if isinstance(cur, ConnectionError | TimeoutError):
            return UNAVAILABLE
        if isinstance(cur, OSError):
            return BY_ERRNO.get(cur.errno or 0, UNAVAILABLE)
    if type(exc).__module__.split(".", 1)[0] in _TRANSPORT_MODULES:
        return UNAVAILABLE
    return UNKNOWN


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may go away by itself: a 5xx or throttling reply, a timeout, a
    reset or refused connection (not a missing key, a refusal or a failed condition)."""
    return classify(exc).transient


def is_precondition_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means "create-if-absent found the key already there".

    Local backends raise ``FileExistsError``. s3fs raises ``FileExistsError`` only when
    the 412 reply carries a ``Condition`` field; other servers (SeaweedFS) omit it and
    s3fs raises ``OSError(EINVAL)``, so the reply itself decides.
    """
    return classify(exc) is EXISTS


def is_conditional_conflict(exc: BaseException) -> bool:
    """409 ConditionalRequestConflict: a concurrent conditional write; retry later."""
    return classify(exc) is CONFLICT


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` means the key (or bucket) does not exist."""
    return classify(exc) in (NO_KEY, NO_BUCKET)


def translate(exc: BaseException, *, url: str, action: str) -> Exception:
    """A tablelog error for a backend exception raised while doing ``action`` on ``url``.

    Transient failures are :class:`StoreUnavailableError`, permanent refusals
    :class:`StoreRefusedError` (``error.transient`` says which), missing keys and
    buckets :class:`NotFoundError`. Messages name the URL and what to do, never a secret.
    """
    meaning = classify(exc)
    found = _s3_error(exc)
    detail = f"{found[0]} (HTTP {found[1]})" if found else type(exc).__name__
    if meaning is NO_CREDENTIALS:
        return StoreRefusedError(
            f"no S3 credentials found to {action} {url}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or pass storage_options={'key': ..., "
            "'secret': ...}; for MinIO, SeaweedFS or LocalStack also set AWS_ENDPOINT_URL"
        )
    if meaning is UNREACHABLE:
        by_class = _by_class(exc)
        kwargs: Any = getattr(by_class[1], "kwargs", None) if by_class else None
        tried = kwargs.get("endpoint_url") if isinstance(kwargs, dict) else None
        return StoreUnavailableError(
            f"could not connect to {tried or 'the S3 endpoint'} to {action} {url}: is the "
            "server running and the URL right? It comes from AWS_ENDPOINT_URL (or "
            "storage_options={'client_kwargs': {'endpoint_url': ...}}), else AWS' own"
        )
    if meaning is NO_BUCKET:
        return NotFoundError(f"bucket of {url} does not exist (while trying to {action})")
    if meaning is NO_KEY:
        return NotFoundError(f"{url} does not exist (while trying to {action})")
    if meaning is DENIED:
        return StoreRefusedError(
            f"permission denied to {action} {url}: check the credentials "
            "(AWS_PROFILE / AWS_ACCESS_KEY_ID or storage_options) and the bucket policy"
        )
    if meaning is BAD_CREDENTIALS:
        return StoreRefusedError(
            f"the store rejected the credentials to {action} {url} ({detail}): check "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or storage_options' "
            "key and secret); retrying will not help"
        )
    if meaning is BAD_REQUEST:
        return StoreRefusedError(
            f"the store refused to {action} {url}: {detail}; retrying will not help"
        )
    if meaning is EXISTS:
        return StoreRefusedError(f"could not {action} {url}: it already exists")
    if meaning.transient:
        return StoreUnavailableError(
            f"could not {action} {url}: {detail}; the store is failing for now, retry later"
        )
    return StoreError(f"could not {action} {url}: {detail}")
