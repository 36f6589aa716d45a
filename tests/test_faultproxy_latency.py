"""The fault proxy's S3 latency emulation: what it delays, by how much (drawn, not timed)."""

from __future__ import annotations

import random
import statistics

from faultproxy import S3_LATENCY, FaultProxy, Latency, request_kind
from servers import S3Server, _boto_client


def test_latency_draws_have_the_stated_median_and_p99() -> None:
    rng = random.Random(1)
    for kind, dist in S3_LATENCY.items():
        draws = sorted(dist.sample(rng) for _ in range(20_000))
        median, p99 = statistics.median(draws), draws[int(0.99 * len(draws))]
        assert abs(median / dist.median - 1) < 0.05, kind
        assert abs(p99 / dist.p99 - 1) < 0.10, kind
        assert max(draws) <= dist.cap
    assert Latency(0.0, 0.0).sample(rng) == 0.0


def test_every_request_kind_is_delayed_by_its_own_distribution(moto_server: S3Server) -> None:
    moto_server.create_bucket("latency")
    # one kind at a time, with distinct medians, so each request's draw names its kind
    profile = {
        "PUT": Latency(0.004, 0.004),
        "GET": Latency(0.003, 0.003),
        "HEAD": Latency(0.002, 0.002),
        "LIST": Latency(0.001, 0.001),
    }
    with FaultProxy(moto_server.endpoint_url) as proxy:
        proxy.emulate_latency(profile, scale=10)
        s3 = _boto_client(proxy.endpoint_url, moto_server.key, moto_server.secret, "us-east-1")
        s3.put_object(Bucket="latency", Key="a/b", Body=b"x")
        s3.get_object(Bucket="latency", Key="a/b")["Body"].read()
        s3.head_object(Bucket="latency", Key="a/b")
        s3.list_objects_v2(Bucket="latency", Prefix="a/")
        proxy.clear_rules()
        s3.head_object(Bucket="latency", Key="a/b")
        got = [(request_kind(r), r.status, round(r.emulated, 6)) for r in proxy.snapshot()]
    assert got == [
        ("PUT", 200, 0.04),
        ("GET", 200, 0.03),
        ("HEAD", 200, 0.02),
        ("LIST", 200, 0.01),
        ("HEAD", 200, 0.0),
    ]
