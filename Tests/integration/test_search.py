"""Secondary indexes (FT.*) through redis-py's ``r.ft(...)`` over RESP2 and RESP3, checked against a brute-force
evaluation in Python; read-your-writes after every kind of change; definitions surviving a restart.

Redis here has no RediSearch module, so these run against neptune-server only (and skip when NEPTUNE_SERVER is a
redis-server, the harness self-check).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Iterator

import pytest

try:
    import redis
    import redis.exceptions
    from redis.commands.search.field import NumericField, TagField, TextField
    from redis.commands.search.index_definition import IndexDefinition, IndexType
    from redis.commands.search.query import Query
except ImportError:  # pragma: no cover - CI installs redis-py
    pytest.fail("redis-py is not installed: pip install redis", pytrace=False)

from servers import ServerProcess


# RESP2, and RESP3 on the wire with redis-py's unified result objects (legacy_responses=False); the native RESP3
# map is checked on its own below.
CLIENTS = {"resp2": {"protocol": 2}, "resp3": {"protocol": 3, "legacy_responses": False}}


@pytest.fixture(params=sorted(CLIENTS))
def r(neptune_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator["redis.Redis"]:
    if neptune_server.is_redis_binary:
        pytest.skip("redis-server has no FT.* commands")
    client = redis.Redis(host=neptune_server.host, port=neptune_server.port, decode_responses=True, socket_timeout=10,
                         **CLIENTS[request.param])
    yield client
    client.close()


def create_products(r: "redis.Redis") -> None:
    r.ft("idx").create_index(
        [NumericField("price", sortable=True), TagField("color"), TextField("title"),
         TagField("labels", separator=";", case_sensitive=True, as_name="lab")],
        definition=IndexDefinition(prefix=["p:"], index_type=IndexType.HASH),
    )


def ids(result) -> list[str]:
    return [doc.id for doc in result.docs]


def test_search_shapes_and_options(r: "redis.Redis") -> None:
    create_products(r)
    r.hset("p:1", mapping={"price": 10, "color": "red,blue", "title": "Red shoe", "labels": "A;b"})
    r.hset("p:2", mapping={"price": 20, "color": "green", "title": "Green hat"})
    r.hset("p:3", mapping={"price": 30, "color": "Red", "title": "Red hat", "labels": "a"})
    r.hset("q:1", mapping={"price": 15, "color": "red"})  # outside the prefix

    res = r.ft("idx").search(Query("@price:[10 20]").sort_by("price"))
    assert res.total == 2 and ids(res) == ["p:1", "p:2"]
    assert res.docs[0].title == "Red shoe" and res.docs[0].price == "10"

    res = r.ft("idx").search(Query("@color:{red}").sort_by("price", asc=False))
    assert ids(res) == ["p:3", "p:1"]
    res = r.ft("idx").search(Query("@lab:{a}"))
    assert ids(res) == ["p:3"]  # CASESENSITIVE
    res = r.ft("idx").search(Query("@color:{red} -@price:[30 30]").no_content())
    assert ids(res) == ["p:1"] and not hasattr(res.docs[0], "title")
    res = r.ft("idx").search(Query("@price:[(10 +inf]").return_fields("price").sort_by("price"))
    assert ids(res) == ["p:2", "p:3"] and res.docs[0].price == "20" and not hasattr(res.docs[0], "color")
    res = r.ft("idx").search(Query("@price:[$lo $hi]").sort_by("price").paging(1, 1), query_params={"lo": 0, "hi": 100})
    assert res.total == 3 and ids(res) == ["p:2"]
    res = r.ft("idx").search(Query("*").paging(0, 0))
    assert res.total == 3 and res.docs == []
    res = r.ft("idx").search(Query("@color:{green} | @price:[30 30]").sort_by("price").with_scores())
    assert ids(res) == ["p:2", "p:3"] and res.docs[0].score == 1.0
    res = r.ft("idx").search(Query("*").limit_ids("p:2", "p:9").no_content())
    assert ids(res) == ["p:2"]

    info = r.ft("idx").info()
    assert int(info["num_docs"]) == 3 and int(info["hash_indexing_failures"]) == 0
    assert int(info["indexing"]) == 0 and float(info["percent_indexed"]) == 1.0
    assert r.execute_command("FT._LIST") == ["idx"]


def test_native_resp3_map(neptune_server: ServerProcess) -> None:
    if neptune_server.is_redis_binary:
        pytest.skip("redis-server has no FT.* commands")
    r = redis.Redis(host=neptune_server.host, port=neptune_server.port, protocol=3, decode_responses=True)
    create_products(r)
    r.hset("p:1", mapping={"price": 10, "color": "red"})
    res = r.ft("idx").search(Query("@price:[0 100]"))
    assert res["total_results"] == 1 and res["warning"] == [] and res["attributes"] == []
    assert res["results"] == [{"id": "p:1", "extra_attributes": {"price": "10", "color": "red"}, "values": []}]
    info = r.ft("idx").info()
    assert info["attributes"][0] == {"identifier": "price", "attribute": "price", "type": "NUMERIC", "flags": ["SORTABLE"]}
    r.close()


def test_errors_are_clear(r: "redis.Redis") -> None:
    create_products(r)
    with pytest.raises(redis.exceptions.ResponseError, match="Syntax error at offset"):
        r.ft("idx").search(Query("@price:[1 2"))
    with pytest.raises(redis.exceptions.ResponseError, match="Full-text queries are not supported"):
        r.ft("idx").search(Query("hello"))
    with pytest.raises(redis.exceptions.ResponseError, match="no such index"):
        r.ft("nope").search(Query("*"))
    with pytest.raises(redis.exceptions.ResponseError, match="Index already exists"):
        create_products(r)
    with pytest.raises(redis.exceptions.ResponseError, match="VECTOR fields are not supported"):
        r.execute_command("FT.CREATE", "v", "SCHEMA", "emb", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2",
                          "DISTANCE_METRIC", "L2")
    with pytest.raises(redis.exceptions.ResponseError, match="ON JSON is not supported"):
        r.execute_command("FT.CREATE", "j", "ON", "JSON", "SCHEMA", "$.a", "NUMERIC")
    with pytest.raises(redis.exceptions.ResponseError, match="No such parameter"):
        r.ft("idx").search(Query("@price:[$x 5]"), query_params={"y": 1})
    with pytest.raises(redis.exceptions.ResponseError, match="Unknown Index name"):
        r.execute_command("FT.DROPINDEX", "nope")


def test_other_databases(neptune_server: ServerProcess) -> None:
    """RediSearch indexes database 0 only: FT.CREATE elsewhere is refused with its error (no ERR prefix), the
    index registry is global (FT.SEARCH/FT.INFO/FT._LIST work from any database, documents are loaded from the
    selected one, null where absent), and Neptune ignores writes in other databases (see the README)."""
    if neptune_server.is_redis_binary:
        pytest.skip("redis-server has no FT.* commands")
    db0 = redis.Redis(host=neptune_server.host, port=neptune_server.port, protocol=2, decode_responses=True)
    db1 = redis.Redis(host=neptune_server.host, port=neptune_server.port, protocol=2, db=1, decode_responses=True)
    with pytest.raises(redis.exceptions.ResponseError) as refused:
        db1.execute_command("FT.CREATE", "idx", "ON", "HASH", "PREFIX", "1", "p:", "SCHEMA", "price", "NUMERIC")
    assert str(refused.value) == "Cannot create index on db != 0"
    assert db0.execute_command("FT._LIST") == []
    # The arity check comes first, as in RediSearch.
    with pytest.raises(redis.exceptions.ResponseError, match="wrong number of arguments"):
        db1.execute_command("FT.CREATE", "idx", "SCHEMA", "price")

    create_products(db0)
    db0.hset("p:1", mapping={"price": 10, "color": "red"})
    db1.hset("p:1", mapping={"price": 99, "color": "blue"})  # same key, another database
    db1.hset("p:2", mapping={"price": 10, "color": "red"})
    everything = ["FT.SEARCH", "idx", "@price:[0 100]"]
    assert db0.execute_command(*everything, "NOCONTENT") == [1, "p:1"]
    assert db0.execute_command("FT.SEARCH", "idx", "@price:[99 99]", "NOCONTENT") == [0]
    db1.delete("p:1")
    assert db0.execute_command(*everything, "NOCONTENT") == [1, "p:1"]

    # From database 1: the same index, documents read from database 1 (p:1 is not there any more).
    assert db1.execute_command("FT._LIST") == ["idx"]
    assert int(db1.ft("idx").info()["num_docs"]) == 1
    assert db1.execute_command(*everything, "NOCONTENT") == [1, "p:1"]
    assert db1.execute_command(*everything) == [1, "p:1", None]
    db1.hset("p:1", mapping={"price": 5, "color": "green"})
    assert db1.execute_command(*everything, "RETURN", "1", "color") == [1, "p:1", ["color", "green"]]
    assert db0.execute_command(*everything, "RETURN", "1", "color") == [1, "p:1", ["color", "red"]]
    # RESP3: the missing document's extra_attributes is null.
    r3 = redis.Redis(host=neptune_server.host, port=neptune_server.port, protocol=3, db=2, decode_responses=True)
    reply = r3.execute_command(*everything)
    assert reply["total_results"] == 1 and reply["results"] == [{"id": "p:1", "extra_attributes": None, "values": []}]
    r3.close()
    db1.close()
    db0.close()


def test_every_change_is_seen_by_the_next_query(r: "redis.Redis") -> None:
    create_products(r)
    q = Query("@color:{red}").no_content().sort_by("price")

    def red() -> list[str]:
        return ids(r.ft("idx").search(q))

    r.hset("p:1", mapping={"price": 1, "color": "red"})
    assert red() == ["p:1"]
    r.hset("p:1", "color", "blue")
    assert red() == []
    r.hset("p:1", "color", "red")
    r.hdel("p:1", "color")
    assert red() == []
    r.hset("p:2", mapping={"price": 2, "color": "red"})
    r.rename("p:2", "p:3")
    assert red() == ["p:3"]
    r.rename("p:3", "other")
    assert red() == []
    r.rename("other", "p:4")
    r.set("p:4", "a string now")
    assert red() == []
    r.hset("p:5", mapping={"price": 5, "color": "red"})
    r.hset("p:6", mapping={"price": 6, "color": "red"})
    r.delete("p:5")
    r.unlink("p:6")
    assert red() == []
    r.hset("p:7", mapping={"price": "seven", "color": "red"})
    assert red() == [] and int(r.ft("idx").info()["hash_indexing_failures"]) == 1
    r.hset("p:7", "price", 7)
    assert red() == ["p:7"]
    r.pexpire("p:7", 50)
    time.sleep(0.2)
    assert red() == []
    r.hset("p:8", mapping={"price": 8, "color": "red"})
    # FLUSHDB of another database leaves database 0's index alone; FLUSHDB of database 0 drops the definition, as
    # FLUSHALL does (RediSearch's behaviour).
    other = redis.Redis(host=r.connection_pool.connection_kwargs["host"],
                        port=r.connection_pool.connection_kwargs["port"], db=1, decode_responses=True)
    other.set("x", "1")
    other.flushdb()
    other.close()
    assert red() == ["p:8"] and r.execute_command("FT._LIST") == ["idx"]
    r.flushdb()
    assert r.execute_command("FT._LIST") == []
    with pytest.raises(redis.ResponseError):
        r.ft("idx").search("*")
    create_products(r)
    r.hset("p:9", mapping={"price": 9, "color": "red"})
    assert red() == ["p:9"]
    r.flushall()
    assert r.execute_command("FT._LIST") == []


def test_dropindex_dd_deletes_the_documents(r: "redis.Redis") -> None:
    create_products(r)
    r.hset("p:1", mapping={"price": 1})
    r.hset("q:1", mapping={"price": 1})
    r.ft("idx").dropindex(delete_documents=True)
    assert r.exists("p:1") == 0 and r.exists("q:1") == 1
    assert r.execute_command("FT._LIST") == []


def test_random_queries_match_brute_force(r: "redis.Redis") -> None:
    rng = random.Random(6)
    create_products(r)
    docs: dict[str, dict[str, str]] = {}
    colors = ["red", "blue", "green", "dark blue"]
    for _ in range(600):
        key = f"p:{rng.randrange(200)}"
        if rng.random() < 0.15:
            r.delete(key)
            docs.pop(key, None)
            continue
        doc = {"price": str(rng.randrange(100)), "color": ",".join(rng.sample(colors, rng.randrange(1, 3)))}
        r.delete(key)
        r.hset(key, mapping=doc)
        docs[key] = doc

    def tags(doc: dict[str, str]) -> set[str]:
        return {t.strip().lower() for t in doc.get("color", "").split(",") if t.strip()}

    for _ in range(60):
        lo = rng.randrange(100)
        hi = lo + rng.randrange(40)
        color = rng.choice(colors)
        negate = rng.random() < 0.3
        text = f"@price:[{lo} {hi}] {'-' if negate else ''}@color:{{{color.replace(' ', chr(92) + ' ')}}}"
        expected = sorted(
            (k for k, d in docs.items() if lo <= int(d["price"]) <= hi and ((color in tags(d)) != negate)),
            key=lambda k: (int(docs[k]["price"]), k),
        )
        res = r.ft("idx").search(Query(text).sort_by("price").paging(0, 1000).no_content())
        assert res.total == len(expected), text
        assert set(ids(res)) == set(expected), text
        assert [int(docs[k]["price"]) for k in ids(res)] == [int(docs[k]["price"]) for k in expected], text


def test_bitmap_sized_tags_match_brute_force(r: "redis.Redis") -> None:
    """Tags of more than 1,024 documents are kept as bitmaps and queried on them directly (LIMIT walks that stop
    after the page, intersections probing bits, unions, negations, SORTBY streamed along the numeric field): the
    same totals, pages and order as a brute force. Prices are distinct, so the sorted order is the prices' order."""
    rng = random.Random(8)
    create_products(r)
    n = 3000
    prices = rng.sample(range(100_000), n)
    docs: dict[str, tuple[int, set[str]]] = {}
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        colors = set(rng.sample(["red", "blue"], 2 if rng.random() < 0.3 else 1)) if rng.random() < 0.9 else set()
        mapping = {"price": prices[i], "color": ",".join(sorted(colors))} if colors else {"price": prices[i]}
        pipe.hset(f"p:{i}", mapping=mapping)
        docs[f"p:{i}"] = (prices[i], colors)
    pipe.execute()

    queries = {
        "@color:{red}": lambda p, c: "red" in c,
        "@color:{red|blue}": lambda p, c: bool(c),
        "-@color:{blue}": lambda p, c: "blue" not in c,
        "@color:{red} @color:{blue}": lambda p, c: c == {"red", "blue"},
        "@color:{red} -@color:{blue}": lambda p, c: c == {"red"},
        "@color:{blue} @price:[20000 40000]": lambda p, c: "blue" in c and 20_000 <= p <= 40_000,
        "@color:{red} | @price:[0 5000]": lambda p, c: "red" in c or p <= 5000,
        "-(@color:{red} @price:[50000 +inf])": lambda p, c: not ("red" in c and p >= 50_000),
    }
    for text, predicate in queries.items():
        expected = sorted((k for k, (p, c) in docs.items() if predicate(p, c)), key=lambda k: docs[k][0])
        assert len(expected) > 100, text
        for offset, count in [(0, 10), (37, 5), (len(expected) - 3, 10)]:
            res = r.ft("idx").search(Query(text).paging(offset, count).no_content())
            assert res.total == len(expected), text
            assert len(ids(res)) == min(count, len(expected) - offset) and set(ids(res)) <= set(expected), text
            for asc in (True, False):
                order = expected if asc else expected[::-1]
                res = r.ft("idx").search(Query(text).sort_by("price", asc=asc).paging(offset, count).no_content())
                assert res.total == len(expected), text
                assert ids(res) == order[offset:offset + count], (text, asc, offset)
        # The unsorted pages, walked one after the other, are the whole result once each.
        pages = [ids(r.ft("idx").search(Query(text).paging(o, 500).no_content())) for o in range(0, len(expected), 500)]
        assert sorted(k for page in pages for k in page) == sorted(expected), text


def test_writes_acknowledged_on_one_loop_are_seen_from_another(start_server) -> None:
    """Writes are captured for the index and applied by a worker thread; a query on another connection, served by
    another event loop, right after the writer's replies arrived, must still see every one of them."""
    server = start_server("neptune", "--threads", "2")
    if server.is_redis_binary:
        pytest.skip("redis-server has no FT.* commands")
    writer = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    reader = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    noise = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    try:
        writer.execute_command("FT.CREATE", "idx", "PREFIX", "1", "d:", "SCHEMA", "n", "NUMERIC", "t", "TAG")
        rng = random.Random(7)
        for batch in range(20):
            # Unrelated writes on a third connection keep the worker busy with other batches meanwhile.
            with noise.pipeline(transaction=False) as p:
                for i in range(500):
                    p.hset(f"d:noise:{rng.randrange(5000)}", mapping={"n": rng.randrange(100), "t": "noise"})
                p.execute()
            size = rng.choice([1, 37, 255, 256, 257, 900])
            with writer.pipeline(transaction=False) as p:
                for i in range(size):
                    p.hset(f"d:{batch}:{i}", mapping={"n": 1000 + batch, "t": f"b{batch}"})
                if batch % 4 == 3:
                    p.delete(f"d:{batch}:0")
                p.execute()
            expected = size - (1 if batch % 4 == 3 else 0)
            assert reader.ft("idx").search(Query(f"@t:{{b{batch}}}").paging(0, 0)).total == expected, (batch, size)
            got = reader.ft("idx").search(Query(f"@n:[{1000 + batch} {1000 + batch}]").paging(0, 0)).total
            assert got == expected, (batch, size)
    finally:
        for client in (writer, reader, noise):
            client.close()


def test_definitions_survive_a_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    server = ServerProcess("neptune", workdir, ["--appendonly", "yes"]).start()
    if server.is_redis_binary:
        server.stop()
        pytest.skip("redis-server has no FT.* commands")
    try:
        r = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        r.hset("p:1", mapping={"price": 10, "color": "red"})
        create_products(r)
        r.hset("p:2", mapping={"price": 20, "color": "red"})
        r.execute_command("FT.CREATE", "gone", "SCHEMA", "x", "NUMERIC")
        r.execute_command("FT.DROPINDEX", "gone")
        r.close()
    finally:
        server.stop()
    server = ServerProcess("neptune", workdir, ["--appendonly", "yes"]).start()
    try:
        r = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        assert r.execute_command("FT._LIST") == ["idx"]
        res = r.ft("idx").search(Query("@color:{red}").sort_by("price").no_content())
        assert ids(res) == ["p:1", "p:2"]
        r.close()
    finally:
        server.stop()


def test_definitions_survive_a_snapshot_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    server = ServerProcess("neptune", workdir, ["--appendonly", "no"]).start()
    if server.is_redis_binary:
        server.stop()
        pytest.skip("redis-server has no FT.* commands")
    try:
        r = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        create_products(r)
        r.hset("p:1", mapping={"price": 10, "color": "red"})
        r.hset("p:2", mapping={"price": 20, "color": "blue"})
        r.hset("p:3", mapping={"price": "bad", "color": "red"})
        assert r.save() is True
        r.close()
    finally:
        server.stop()
    server = ServerProcess("neptune", workdir, ["--appendonly", "no"]).start()
    try:
        r = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        for _ in range(200):  # the server may still be loading in the background
            try:
                if r.execute_command("FT._LIST") == ["idx"]:
                    break
            except redis.exceptions.BusyLoadingError:
                pass
            time.sleep(0.05)
        assert r.execute_command("FT._LIST") == ["idx"]
        res = r.ft("idx").search(Query("@color:{red}").sort_by("price").no_content())
        assert ids(res) == ["p:1"] and int(r.ft("idx").info()["hash_indexing_failures"]) == 1
        r.close()
    finally:
        server.stop()
