"""The one translation table from backend errors to tablelog errors (objects/errors.py).

Every case is a real exception object, built as botocore, s3fs, aiohttp and the OS
build them (constructing an exception is not mocking anything).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from s3fs.errors import translate_boto_error

from tablelog.errors import (
    NotFoundError,
    StoreError,
    StoreRefusedError,
    StoreUnavailableError,
    TablelogError,
)
from tablelog.objects import errors as E

URL = "s3://bucket/root/objects/ab/abc.parquet"
ENDPOINT = "http://127.0.0.1:1"


def client_error(code: str, status: int, op: str = "GetObject") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} message"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        op,
    )


def via_s3fs(code: str, status: int, op: str = "GetObject") -> BaseException:
    """The exception s3fs raises for a reply: a builtin one caused by the ClientError."""
    err: BaseException = translate_boto_error(client_error(code, status, op))
    return err


def _connector_error() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("127.0.0.1", 1, False, True, None, None, None, None)
    return aiohttp.ClientConnectorError(key, OSError(errno.ECONNREFUSED, "refused"))


@dataclass(frozen=True)
class Case:
    exc: BaseException
    meaning: E.Meaning
    error: type[Exception]
    says: str


CASES: dict[str, Case] = {
    # permanent: retrying the same request fails the same way
    "403 AccessDenied": Case(
        client_error("AccessDenied", 403), E.DENIED, StoreRefusedError, "permission denied"
    ),
    "403 via s3fs": Case(
        via_s3fs("AccessDenied", 403), E.DENIED, StoreRefusedError, "permission denied"
    ),
    "403 bare HEAD": Case(
        client_error("403", 403, "HeadObject"), E.DENIED, StoreRefusedError, "permission denied"
    ),
    "wrong secret": Case(
        via_s3fs("SignatureDoesNotMatch", 403),
        E.BAD_CREDENTIALS,
        StoreRefusedError,
        "rejected the credentials",
    ),
    "unknown key id": Case(
        client_error("InvalidAccessKeyId", 403),
        E.BAD_CREDENTIALS,
        StoreRefusedError,
        "AWS_ACCESS_KEY_ID",
    ),
    "expired token": Case(
        client_error("ExpiredToken", 400), E.BAD_CREDENTIALS, StoreRefusedError, "credentials"
    ),
    "no credentials": Case(
        NoCredentialsError(), E.NO_CREDENTIALS, StoreRefusedError, "no S3 credentials"
    ),
    "partial credentials": Case(
        PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
        E.NO_CREDENTIALS,
        StoreRefusedError,
        "no S3 credentials",
    ),
    "400 InvalidArgument": Case(
        client_error("InvalidArgument", 400), E.BAD_REQUEST, StoreRefusedError, "will not help"
    ),
    "400 bare": Case(
        client_error("400", 400, "HeadObject"), E.BAD_REQUEST, StoreRefusedError, "will not help"
    ),
    "401 other code": Case(
        client_error("Unauthorized", 401), E.BAD_CREDENTIALS, StoreRefusedError, "credentials"
    ),
    "404 NoSuchBucket": Case(
        client_error("NoSuchBucket", 404), E.NO_BUCKET, NotFoundError, "bucket of"
    ),
    "404 bucket via s3fs": Case(
        via_s3fs("NoSuchBucket", 404), E.NO_BUCKET, NotFoundError, "bucket of"
    ),
    "404 NoSuchKey": Case(
        client_error("NoSuchKey", 404), E.NO_KEY, NotFoundError, "does not exist"
    ),
    "404 bare HEAD": Case(
        client_error("404", 404, "HeadObject"), E.NO_KEY, NotFoundError, "does not exist"
    ),
    "412 PreconditionFailed": Case(
        client_error("PreconditionFailed", 412, "PutObject"),
        E.EXISTS,
        StoreRefusedError,
        "already exists",
    ),
    "412 via s3fs (EINVAL)": Case(
        via_s3fs("PreconditionFailed", 412, "PutObject"),
        E.EXISTS,
        StoreRefusedError,
        "already exists",
    ),
    "412 other code": Case(
        client_error("Whatever", 412, "PutObject"), E.EXISTS, StoreRefusedError, "already exists"
    ),
    "ENOENT": Case(
        FileNotFoundError(errno.ENOENT, "no such file"), E.NO_KEY, NotFoundError, "does not exist"
    ),
    "EACCES": Case(
        PermissionError(errno.EACCES, "denied"), E.DENIED, StoreRefusedError, "permission denied"
    ),
    "EPERM OSError": Case(
        OSError(errno.EPERM, "not permitted"), E.DENIED, StoreRefusedError, "permission denied"
    ),
    "EEXIST": Case(
        FileExistsError(errno.EEXIST, "exists"), E.EXISTS, StoreRefusedError, "already exists"
    ),
    "EISDIR": Case(
        IsADirectoryError(errno.EISDIR, "a directory"),
        E.BAD_REQUEST,
        StoreRefusedError,
        "will not help",
    ),
    "unknown 4xx": Case(client_error("Teapot", 418), E.UNKNOWN, StoreError, "Teapot (HTTP 418)"),
    "unknown non-OS error": Case(KeyError("x"), E.UNKNOWN, StoreError, "KeyError"),
    # transient: the server is failing or overloaded for now
    "500 InternalError": Case(
        client_error("InternalError", 500), E.UNAVAILABLE, StoreUnavailableError, "retry later"
    ),
    "500 via s3fs": Case(
        via_s3fs("InternalError", 500),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "InternalError (HTTP 500)",
    ),
    "502 no code": Case(client_error("", 502), E.UNAVAILABLE, StoreUnavailableError, "HTTP 502"),
    "503 SlowDown": Case(
        client_error("SlowDown", 503, "PutObject"), E.UNAVAILABLE, StoreUnavailableError, "SlowDown"
    ),
    "503 via s3fs": Case(
        via_s3fs("SlowDown", 503, "PutObject"), E.UNAVAILABLE, StoreUnavailableError, "SlowDown"
    ),
    "400 IncompleteBody (cut on the way)": Case(
        client_error("IncompleteBody", 400), E.UNAVAILABLE, StoreUnavailableError, "IncompleteBody"
    ),
    "400 BadDigest (damaged on the way)": Case(
        client_error("BadDigest", 400), E.UNAVAILABLE, StoreUnavailableError, "BadDigest"
    ),
    "400 XAmzContentSHA256Mismatch": Case(
        client_error("XAmzContentSHA256Mismatch", 400),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "XAmzContentSHA256Mismatch",
    ),
    "throttling 400": Case(
        client_error("Throttling", 400), E.UNAVAILABLE, StoreUnavailableError, "Throttling"
    ),
    "429": Case(
        client_error("TooManyRequests", 429), E.UNAVAILABLE, StoreUnavailableError, "retry later"
    ),
    "RequestTimeout 400": Case(
        client_error("RequestTimeout", 400, "PutObject"),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "RequestTimeout",
    ),
    "409 conditional conflict": Case(
        client_error("ConditionalRequestConflict", 409, "PutObject"),
        E.CONFLICT,
        StoreUnavailableError,
        "HTTP 409",
    ),
    "endpoint down": Case(
        EndpointConnectionError(endpoint_url=ENDPOINT),
        E.UNREACHABLE,
        StoreUnavailableError,
        f"could not connect to {ENDPOINT}",
    ),
    "connect timeout": Case(
        ConnectTimeoutError(endpoint_url=ENDPOINT),
        E.UNREACHABLE,
        StoreUnavailableError,
        "could not connect",
    ),
    "read timeout": Case(
        ReadTimeoutError(endpoint_url=ENDPOINT),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "ReadTimeoutError",
    ),
    "connection closed": Case(
        ConnectionClosedError(endpoint_url=ENDPOINT),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "retry later",
    ),
    "aiohttp connector": Case(
        _connector_error(), E.UNREACHABLE, StoreUnavailableError, "could not connect"
    ),
    "aiohttp disconnected": Case(
        aiohttp.ServerDisconnectedError(), E.UNAVAILABLE, StoreUnavailableError, "retry later"
    ),
    "aiohttp reset": Case(
        aiohttp.ClientConnectionResetError("reset"),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "retry later",
    ),
    "aiohttp timeout": Case(
        aiohttp.ServerTimeoutError("slow"), E.UNAVAILABLE, StoreUnavailableError, "retry later"
    ),
    "aiohttp payload": Case(
        aiohttp.ClientPayloadError("cut"), E.UNAVAILABLE, StoreUnavailableError, "retry later"
    ),
    "ECONNRESET": Case(
        ConnectionResetError(errno.ECONNRESET, "reset"),
        E.UNAVAILABLE,
        StoreUnavailableError,
        "retry later",
    ),
    "ETIMEDOUT OSError": Case(
        OSError(errno.ETIMEDOUT, "timed out"), E.UNAVAILABLE, StoreUnavailableError, "retry later"
    ),
    "TimeoutError": Case(TimeoutError(), E.UNAVAILABLE, StoreUnavailableError, "retry later"),
    "EIO": Case(OSError(errno.EIO, "i/o"), E.UNAVAILABLE, StoreUnavailableError, "retry later"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_backend_error_has_one_meaning_and_one_translation(name: str) -> None:
    case = CASES[name]
    assert E.classify(case.exc) is case.meaning
    assert E.is_transient(case.exc) is case.meaning.transient
    out = E.translate(case.exc, url=URL, action="read")
    assert type(out) is case.error
    assert isinstance(out, TablelogError)
    assert case.says in str(out)
    if isinstance(out, StoreError):
        # the error tells the caller whether to retry, and agrees with the table
        assert out.transient is case.meaning.transient
    assert E.is_not_found(case.exc) is (case.meaning in (E.NO_KEY, E.NO_BUCKET))
    assert E.is_precondition_failure(case.exc) is (case.meaning is E.EXISTS)
    assert E.is_conditional_conflict(case.exc) is (case.meaning is E.CONFLICT)


def test_the_cases_cover_both_sides_and_every_meaning() -> None:
    meanings = {c.meaning for c in CASES.values()}
    assert meanings == {v for v in vars(E).values() if isinstance(v, E.Meaning)}
    assert any(m.transient for m in meanings) and any(not m.transient for m in meanings)


def test_the_reply_wins_over_the_wrapper_and_a_url_is_named() -> None:
    # s3fs turns a 403 SignatureDoesNotMatch into PermissionError: the code says more.
    exc = via_s3fs("SignatureDoesNotMatch", 403)
    assert isinstance(exc, PermissionError)
    out = E.translate(exc, url=URL, action="write")
    assert "rejected the credentials to write " + URL in str(out)
    # a wrapper raised from a transient reply stays transient
    try:
        try:
            raise client_error("SlowDown", 503)
        except ClientError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert E.is_transient(outer)


def test_store_error_classes_say_whether_to_retry() -> None:
    assert StoreUnavailableError("x").transient
    assert not StoreRefusedError("x").transient
    assert not StoreError("x").transient
    assert issubclass(StoreRefusedError, StoreError) and issubclass(
        StoreUnavailableError, StoreError
    )
