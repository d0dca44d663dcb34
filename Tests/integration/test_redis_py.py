"""redis-py against the servers, over RESP2 and RESP3 (``protocol=3`` makes redis-py send HELLO 3 on connect).

Every test runs against redis-server too, which shows the expectations are Redis's.
"""

from __future__ import annotations

from typing import Iterator

import pytest

try:
    import redis
    import redis.exceptions
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - CI installs redis-py
    pytest.fail("redis-py is not installed: pip install redis", pytrace=False)

from servers import ServerProcess

PROTOCOLS = [2, 3]


@pytest.fixture(params=PROTOCOLS, ids=lambda p: f"resp{p}")
def protocol(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def r(any_server: ServerProcess, protocol: int) -> Iterator["redis.Redis"]:
    client = redis.Redis(host=any_server.host, port=any_server.port, protocol=protocol, socket_timeout=10)
    yield client
    client.close()


def test_protocol_is_negotiated(r: "redis.Redis", protocol: int) -> None:
    assert r.ping() is True
    hello = r.execute_command("HELLO")  # no version: reports the connection's current protocol
    fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in
              (hello.items() if isinstance(hello, dict) else zip(hello[0::2], hello[1::2]))}
    assert fields["proto"] == protocol


def test_set_get_with_expiry(r: "redis.Redis") -> None:
    assert r.set("k", "v", ex=100) is True
    assert r.get("k") == b"v"
    assert 95 <= r.ttl("k") <= 100
    assert 95_000 <= r.pttl("k") <= 100_000
    assert r.set("k", b"\x00\r\n\xff", keepttl=True) is True
    assert r.get("k") == b"\x00\r\n\xff"
    assert r.ttl("k") > 0
    assert r.set("k", "other", nx=True) is None
    assert r.set("k", "w", xx=True, get=True) == b"\x00\r\n\xff"
    assert r.get("missing") is None


def test_incr(r: "redis.Redis") -> None:
    assert r.incr("n") == 1
    assert r.incr("n", 41) == 42
    assert r.decr("n", 2) == 40
    assert r.incrbyfloat("n", 0.5) == 40.5
    r.set("s", "abc")
    with pytest.raises(redis.exceptions.ResponseError, match="not an integer or out of range"):
        r.incr("s")


def test_pipeline_without_transaction(r: "redis.Redis") -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"p:{i}", i)
    pipe.incr("p:0")
    pipe.get("p:0")
    pipe.get("p:199")
    pipe.incr("p:missing-then-created")
    pipe.set("p:text", "abc")
    pipe.incr("p:text")  # the error comes back in its place, not as an exception, with raise_on_error=False
    pipe.echo("after the error")
    results = pipe.execute(raise_on_error=False)
    assert results[:200] == [True] * 200
    assert results[200:205] == [1, b"1", b"199", 1, True]
    assert isinstance(results[205], redis.exceptions.ResponseError)
    assert str(results[205]) == "value is not an integer or out of range"
    assert results[206] == b"after the error"
    assert r.dbsize() == 202


def test_scan_iter(r: "redis.Redis") -> None:
    wanted = {f"scan:{i}".encode() for i in range(150)}
    r.mset({k: b"x" for k in wanted})
    r.mset({f"other:{i}": b"y" for i in range(30)})
    assert set(r.scan_iter(match="scan:*", count=7)) == wanted
    assert len(set(r.scan_iter(count=1000))) == 180
    assert set(r.scan_iter(match="scan:1?", _type="string")) == {f"scan:1{i}".encode() for i in range(10)}


def test_expire_and_ttl(r: "redis.Redis") -> None:
    r.set("e", "v")
    assert r.ttl("e") == -1
    assert r.ttl("missing") == -2
    assert r.expire("e", 100) is True
    assert 95 <= r.ttl("e") <= 100
    assert r.expire("e", 50, gt=True) is False
    assert r.expire("e", 50, lt=True) is True
    assert 45 <= r.ttl("e") <= 50
    assert r.persist("e") is True
    assert r.ttl("e") == -1
    assert r.expire("e", 0) is True  # a non-positive timeout deletes the key
    assert r.exists("e") == 0
    assert r.expire("missing", 100) is False


def test_mset_mget(r: "redis.Redis") -> None:
    assert r.mset({"a": 1, "b": b"\x00two", "c": "three"}) is True
    assert r.mget(["a", "b", "missing", "c"]) == [b"1", b"\x00two", None, b"three"]
    assert r.msetnx({"a": 5, "d": 6}) is False
    assert r.get("d") is None


def test_client_name(r: "redis.Redis") -> None:
    assert r.client_getname() is None
    assert r.client_setname("integration-tester") is True
    assert r.client_getname() in (b"integration-tester", "integration-tester")
    with pytest.raises(redis.exceptions.ResponseError):
        r.client_setname("has space")


def test_info(r: "redis.Redis", any_server: ServerProcess) -> None:
    info = r.info()
    assert isinstance(info, dict)
    assert isinstance(info["redis_version"], str)
    assert info["tcp_port"] == any_server.port
    server_section = r.info("server")
    assert server_section["tcp_port"] == any_server.port
    assert "used_memory" not in server_section
    assert isinstance(r.info("memory")["used_memory"], int)
    r.set("x", 1)
    keyspace = r.info("keyspace")
    assert keyspace["db0"]["keys"] == 1


def test_config_get(r: "redis.Redis") -> None:
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    both = r.config_get("maxmemory*")
    assert both["maxmemory"] == "0" and both["maxmemory-policy"] == "noeviction"
    assert r.config_get("no-such-parameter") == {}


def test_decode_responses(any_server: ServerProcess, protocol: int) -> None:
    with redis.Redis(host=any_server.host, port=any_server.port, protocol=protocol,
                     decode_responses=True) as r:
        r.set("ключ", "значение")
        assert r.get("ключ") == "значение"
        assert r.keys("*") == ["ключ"]


# -- requirepass ----------------------------------------------------------------------------------------------------


@pytest.fixture(params=["redis", "neptune"])
def secured(request: pytest.FixtureRequest, start_server) -> ServerProcess:
    return start_server(request.param, "--requirepass", "secret")


def test_requirepass_raw_replies(secured: ServerProcess) -> None:
    with secured.client(auth=False) as c:
        assert c.call_raw("GET", "k") == b"-NOAUTH Authentication required.\r\n"
        assert c.call_raw("SET", "k", "v") == b"-NOAUTH Authentication required.\r\n"
        assert c.call_raw("AUTH", "wrong") == \
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert c.call_raw("AUTH") == b"-ERR wrong number of arguments for 'auth' command\r\n"
        assert c.call_raw("HELLO", "3") == (
            b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
            b"AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "
            b"version at the same time\r\n")
        assert c.call_raw("AUTH", "secret") == b"+OK\r\n"
        assert c.call_raw("SET", "k", "v") == b"+OK\r\n"
        assert c.call_raw("AUTH", "default", "secret") == b"+OK\r\n"
    with secured.client(auth=False) as c:
        assert c.call("HELLO", "3", "AUTH", "default", "wrong") == \
            b"WRONGPASS invalid username-password pair or user is disabled."
        hello = c.call("HELLO", "3", "AUTH", "default", "secret")
        assert hello.as_dict()[b"proto"] == 3
        assert c.call_raw("GET", "k") == b"$1\r\nv\r\n"


def test_requirepass_redis_py(secured: ServerProcess, protocol: int) -> None:
    no_retry = Retry(NoBackoff(), 0)  # redis-py retries failed connects with backoff by default: seconds per test
    with redis.Redis(host=secured.host, port=secured.port, protocol=protocol, retry=no_retry) as anonymous:
        # RESP2: "-NOAUTH Authentication required."; RESP3: HELLO 3 itself is refused with NOAUTH.
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.get("k")
    with redis.Redis(host=secured.host, port=secured.port, protocol=protocol, password="wrong",
                     retry=no_retry) as wrong:
        with pytest.raises(redis.exceptions.AuthenticationError):
            wrong.ping()
    with redis.Redis(host=secured.host, port=secured.port, protocol=protocol, password="secret") as good:
        assert good.set("k", "v") is True
        assert good.get("k") == b"v"
    with redis.Redis(host=secured.host, port=secured.port, protocol=protocol, username="default",
                     password="secret") as named:
        assert named.get("k") == b"v"
