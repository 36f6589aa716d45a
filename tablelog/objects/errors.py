"""The one place where backend exceptions are translated.

Nothing else in tablelog looks at backend exception classes or messages.
"""

from __future__ import annotations

import errno
from typing import Any

from tablelog.errors import NotFoundError, StoreError

#: S3 error codes that mean "the precondition (If-None-Match: *) failed".
_EXISTS_CODES = frozenset({"PreconditionFailed"})
#: 409 ConditionalRequestConflict: another conditional write to the key is in flight.
_CONFLICT_CODES = frozenset({"ConditionalRequestConflict", "OperationAborted"})


def _s3_error(exc: BaseException) -> tuple[str, int] | None:
    """(error code, HTTP status) of a botocore ClientError anywhere in the chain."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        response: Any = getattr(cur, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return code, status
        cur = cur.__cause__ or cur.__context__
    return None


def is_precondition_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means "create-if-absent found the key already there".

    Local backends raise ``FileExistsError``. s3fs raises ``FileExistsError`` only when
    the 412 reply carries a ``Condition`` field; other servers (SeaweedFS) omit it and
    s3fs raises ``OSError(EINVAL)``, so the response itself is inspected.
    """
    if isinstance(exc, FileExistsError):
        return True
    found = _s3_error(exc)
    if found is None:
        return False
    code, status = found
    return code in _EXISTS_CODES or (status == 412 and code not in _CONFLICT_CODES)


def is_conditional_conflict(exc: BaseException) -> bool:
    """409 ConditionalRequestConflict: a concurrent conditional write; retry later."""
    found = _s3_error(exc)
    return found is not None and (found[0] in _CONFLICT_CODES or found[1] == 409)


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` means the key (or bucket) does not exist."""
    if isinstance(exc, FileNotFoundError):
        return True
    found = _s3_error(exc)
    return found is not None and (found[0] in {"NoSuchKey", "404", "NotFound"})


def _in_chain(exc: BaseException, *names: str) -> BaseException | None:
    """The first exception in ``exc``'s chain whose class (or a base) has one of ``names``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if any(c.__name__ in names for c in type(cur).__mro__):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def translate(exc: BaseException, *, url: str, action: str) -> Exception:
    """A tablelog error for a backend exception raised while doing ``action`` on ``url``."""
    if _in_chain(exc, "NoCredentialsError", "PartialCredentialsError") is not None:
        return StoreError(
            f"no S3 credentials found to {action} {url}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or pass storage_options={'key': ..., "
            "'secret': ...}; for MinIO, SeaweedFS or LocalStack also set AWS_ENDPOINT_URL"
        )
    down = _in_chain(exc, "EndpointConnectionError", "ConnectTimeoutError")
    if down is not None:
        kwargs: Any = getattr(down, "kwargs", None)
        tried = kwargs.get("endpoint_url") if isinstance(kwargs, dict) else None
        return StoreError(
            f"could not connect to {tried or 'the S3 endpoint'} to {action} {url}: is the "
            "server running and the URL right? It comes from AWS_ENDPOINT_URL (or "
            "storage_options={'client_kwargs': {'endpoint_url': ...}}), else AWS' own"
        )
    if is_not_found(exc):
        found = _s3_error(exc)
        if found is not None and found[0] == "NoSuchBucket":
            return NotFoundError(f"bucket of {url} does not exist (while trying to {action})")
        return NotFoundError(f"{url} does not exist (while trying to {action})")
    if isinstance(exc, PermissionError) or (
        isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM)
    ):
        return StoreError(
            f"permission denied to {action} {url}: check the credentials "
            "(AWS_PROFILE / AWS_ACCESS_KEY_ID or storage_options) and the bucket policy"
        )
    found = _s3_error(exc)
    detail = f"{found[0]} (HTTP {found[1]})" if found else type(exc).__name__
    return StoreError(f"could not {action} {url}: {detail}")


#: S3 error codes of a server that is overloaded or failing for now.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeTooSkewed",
    }
)
_PERMANENT_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EEXIST})


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may go away by itself: a 5xx or throttling reply, a timeout, a
    reset or refused connection (not a missing key, a refusal or a failed condition)."""
    if isinstance(exc, FileNotFoundError | PermissionError | FileExistsError):
        return False
    found = _s3_error(exc)
    if found is not None:
        return found[1] >= 500 or found[0] in _TRANSIENT_CODES
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OSError):
        return exc.errno not in _PERMANENT_ERRNOS
    module = type(exc).__module__.split(".", 1)[0]
    return module in ("botocore", "aiobotocore", "aiohttp", "urllib3", "asyncio")
