"""MULTI/EXEC/WATCH and pub/sub with several real clients, against redis-server and neptune-server.

Tests parameterized with ``any_server`` run against both: Redis proves each expectation is Redis's.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

import redis

from resp_client import RespClient
from servers import ServerProcess

PROTOCOLS = [2, 3]


@pytest.fixture(params=PROTOCOLS, ids=lambda p: f"resp{p}")
def protocol(request: pytest.FixtureRequest) -> int:
    return request.param


def client(server: ServerProcess, protocol: int = 2) -> "redis.Redis":
    return redis.Redis(host=server.host, port=server.port, protocol=protocol, socket_timeout=10)


# MARK: Transactions


def test_transaction_replies_match_redis(server_pair: tuple[ServerProcess, ServerProcess]) -> None:
    script = [
        ["MULTI"], ["MULTI"], ["WATCH", "x"], ["SET", "a", "1"], ["FOO"], ["GET"], ["EXEC"], ["EXEC"], ["DISCARD"],
        ["MULTI"], ["SET", "a", "x"], ["INCR", "a"], ["GET", "a"], ["EXPIRE", "a", "soon"], ["EXEC"],
        ["SET", "w", "1"], ["WATCH", "w"], ["SET", "w", "2"], ["MULTI"], ["PING"], ["EXEC"],
        ["MULTI"], ["DISCARD"], ["UNWATCH"], ["MULTI"], ["SELECT", "3"], ["SET", "k", "v"], ["EXEC"], ["GET", "k"],
        ["HELLO", "3"], ["WATCH", "q"], ["SET", "q", "1"], ["MULTI"], ["EXEC"], ["MULTI"], ["GET", "q"], ["EXEC"],
    ]
    replies = []
    for server in server_pair:
        c = RespClient(server.host, server.port)
        replies.append([c.call_raw(*command) for command in script])
        c.close()
    reference, subject = replies
    for command, expected, got in zip(script, reference, subject):
        if command[0] == "HELLO":
            continue  # carries the client id
        assert got == expected, command


def test_pipeline_transaction_redis_py(any_server: ServerProcess, protocol: int) -> None:
    r = client(any_server, protocol)
    r.delete("counter", "list")
    pipe = r.pipeline(transaction=True)
    pipe.incr("counter").incrby("counter", 5).get("counter").set("s", "v").get("s")
    assert pipe.execute() == [1, 6, b"6", True, b"v"]
    pipe = r.pipeline(transaction=True)
    pipe.set("t", "x").incr("t").get("t")
    results = pipe.execute(raise_on_error=False)
    assert results[0] is True and isinstance(results[1], redis.exceptions.ResponseError) and results[2] == b"x"


def test_watch_race_keeps_every_increment(any_server: ServerProcess) -> None:
    """Clients incrementing through WATCH/GET/MULTI/SET/EXEC with retries: the final count is exact."""
    setup = client(any_server)
    setup.set("race", 0)
    clients, increments = 4, 150
    aborted = [0] * clients

    def worker(index: int) -> None:
        r = client(any_server)
        done = 0
        while done < increments:
            with r.pipeline() as pipe:
                try:
                    pipe.watch("race")
                    value = int(pipe.get("race"))
                    pipe.multi()
                    pipe.set("race", value + 1)
                    pipe.execute()
                    done += 1
                except redis.WatchError:
                    aborted[index] += 1
        r.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert int(setup.get("race")) == clients * increments
    assert sum(aborted) > 0  # the clients really raced


def test_exec_is_isolated_from_other_clients(any_server: ServerProcess) -> None:
    """A reader never sees half a transaction: two counters incremented together always read equal."""
    r = client(any_server)
    r.delete("left", "right")
    stop = threading.Event()
    torn: list[tuple[bytes, bytes]] = []

    def reader() -> None:
        c = client(any_server)
        while not stop.is_set():
            left, right = c.mget("left", "right")
            if left != right:
                torn.append((left, right))
        c.close()

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(500):
        pipe = r.pipeline(transaction=True)
        pipe.incr("left").incr("right").execute()
    stop.set()
    t.join(timeout=30)
    assert torn == []
    assert r.get("left") == b"500"


def test_expired_watched_key_aborts_exec(any_server: ServerProcess) -> None:
    r = client(any_server)
    r.set("soon", "1", px=100)
    with r.pipeline() as pipe:
        pipe.watch("soon")
        time.sleep(0.25)
        pipe.multi()
        pipe.ping()
        with pytest.raises(redis.WatchError):
            pipe.execute()


# MARK: Pub/sub


def test_pubsub_fan_out_with_channels_and_patterns(any_server: ServerProcess, protocol: int) -> None:
    publisher = client(any_server, protocol)
    subscribers = []
    for i in range(20):
        p = client(any_server, protocol).pubsub()
        if i % 2 == 0:
            p.subscribe("news.sport")
        else:
            p.psubscribe("news.*")
        subscribers.append(p)
    # Each confirmation first.
    for p in subscribers:
        confirmation = p.get_message(timeout=5)
        assert confirmation["type"] in ("subscribe", "psubscribe") and confirmation["data"] == 1
    assert publisher.pubsub_numsub("news.sport") == [(b"news.sport", 10)]
    assert publisher.pubsub_numpat() == 1
    for n in range(5):
        assert publisher.publish("news.sport", f"goal {n}") == 20
    assert publisher.publish("news.weather", "rain") == 10
    assert publisher.publish("other", "nobody") == 0
    for i, p in enumerate(subscribers):
        received = []
        while len(received) < (5 if i % 2 == 0 else 6):
            message = p.get_message(timeout=5)
            assert message is not None, f"subscriber {i} got {received}"
            received.append(message)
        if i % 2 == 0:
            assert [(m["type"], m["channel"], m["data"]) for m in received] == [
                ("message", b"news.sport", f"goal {n}".encode()) for n in range(5)
            ]
        else:
            assert [(m["type"], m["pattern"], m["channel"]) for m in received][-1] == (
                "pmessage", b"news.*", b"news.weather"
            )
        p.close()


def test_subscribed_mode_restrictions_resp2(server_pair: tuple[ServerProcess, ServerProcess]) -> None:
    script = [
        ["SUBSCRIBE", "a", "b"], ["PING"], ["PING", "x"], ["GET", "k"], ["MULTI"], ["PSUBSCRIBE", "p*"],
        ["UNSUBSCRIBE", "nosuch"], ["UNSUBSCRIBE"], ["PUNSUBSCRIBE"], ["PUNSUBSCRIBE"], ["GET", "k"], ["PING"],
    ]
    replies = []
    for server in server_pair:
        c = RespClient(server.host, server.port)
        out = []
        for command in script:
            c.send(*command)
            count = {"SUBSCRIBE": 2, "UNSUBSCRIBE": 2 if command == ["UNSUBSCRIBE"] else 1}.get(command[0], 1)
            frames = [c.read_reply().raw for _ in range(count)]
            if command == ["UNSUBSCRIBE"]:
                # Unsubscribing from everything lists the channels in the server's hash order: compare the
                # channels as a set, and the count left after the last one.
                out.append((sorted(f.split(b"\r\n")[4] for f in frames), frames[-1].split(b"\r\n")[5]))
            else:
                out.append(frames)
        replies.append(out)
        c.close()
    for command, expected, got in zip(script, *replies):
        assert got == expected, command


def test_resp3_messages_are_push_frames(server_pair: tuple[ServerProcess, ServerProcess]) -> None:
    frames = []
    for server in server_pair:
        sub = RespClient(server.host, server.port)
        sub.hello(3)
        sub.send("SUBSCRIBE", "ch")
        confirmation = sub.read_reply().raw
        pub = RespClient(server.host, server.port)
        pub.call("PUBLISH", "ch", "hi")
        message = sub.read_reply().raw
        # RESP3 has no subscribed-mode restriction.
        sub.send("SET", "k", "v")
        reply = sub.read_reply().raw
        frames.append((confirmation, message, reply))
        sub.close()
        pub.close()
    assert frames[0] == frames[1]
    assert frames[1][1] == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"


def test_slow_subscriber_is_disconnected_without_stalling_publishers(neptune_server: ServerProcess) -> None:
    """A subscriber that never reads goes over the pub/sub output limit and is closed; publishing stays fast."""
    admin = client(neptune_server)
    admin.config_set("client-output-buffer-limit", "pubsub 4mb 1mb 60")
    slow = socket.create_connection((neptune_server.host, neptune_server.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nfeed\r\n")
    deadline = time.time() + 10
    while admin.pubsub_numsub("feed")[0][1] != 1 and time.time() < deadline:
        time.sleep(0.01)
    payload = b"x" * 16384
    started = time.time()
    sent = 0
    while time.time() - started < 30:
        sent += 1
        admin.publish("feed", payload)
        if sent % 64 == 0 and admin.pubsub_numsub("feed")[0][1] == 0:
            break
    elapsed = time.time() - started
    assert admin.pubsub_numsub("feed")[0][1] == 0, "the slow subscriber was not disconnected"
    assert sent * len(payload) < 64 * 1024 * 1024  # closed near the limit, not after unbounded buffering
    assert elapsed < 30
    assert admin.ping() is True
    slow.close()
