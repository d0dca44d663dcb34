"""Differential testing: the same seeded random command sequence is sent to Redis and to Neptune, replies compared.

Replies are compared byte for byte, except where Redis itself is not deterministic:
- KEYS: compared as sets; SCAN: driven to completion on each server and the unions compared;
- RANDOMKEY: each server's key must exist on the other server (both null on an empty database);
- TTL/PTTL/EXPIRETIME/PEXPIRETIME: compared with a tolerance, because each server computed its deadline from its
  own clock a few milliseconds apart (negative answers -1/-2 must still match exactly).
- SMEMBERS, HKEYS, HVALS, SINTER, SUNION, SDIFF: compared as multisets; HGETALL as sets of field/value pairs;
  HSCAN/SSCAN/ZSCAN: driven to completion on each server and the unions compared;
- HRANDFIELD, SRANDMEMBER, ZRANDMEMBER, SPOP: same reply shape (type, length, nesting), and every element the
  subject chose must be in the reference's collection; after a random SPOP the key is deleted on both servers.
The state checks also compare every collection's contents and OBJECT ENCODING.
OBJECT FREQ/IDLETIME are never generated (they depend on time and policy).

Timing is kept out of the results: positive expiry times are at least 100 seconds away (no key expires by itself
during a run) and past times delete at once, so both servers always hold the same keyspace.

Reproduce a failure from the repository root (starts its own servers):

    python3 Tests/integration/differential.py --seed 3 --count 3000 [--resp3] [--pipeline] [--keep-going]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resp_client import (  # noqa: E402
    ConnectionClosed, Error, ProtocolViolation, Reply, RespClient, RespMap, Status,
)

#: Tolerance for millisecond TTL answers: the two servers compute deadlines from their own clocks, a few ms apart
#: normally, but a loaded 2-core CI machine can delay one of them. Unit mistakes (s vs ms) are still far outside.
TTL_MS_TOLERANCE = 1000
#: Tolerance for second TTL answers: with less than a second between the two servers, Redis's rounding of the
#: remaining time to whole seconds can differ by one.
TTL_S_TOLERANCE = 1
#: Databases the generator uses (besides a few out-of-range numbers to get the errors).
DBS = (0, 1, 2, 3)

#: The keyspace: small, so commands collide; binary-safe names on purpose.
KEYS: tuple[bytes, ...] = tuple(b"k%d" % i for i in range(12)) + (
    b"",
    b"a\r\nb",
    b"\x00nul\x00",
    b"\xff\xfe\x80",
    b"key with spaces",
    b"*?[",
    b"{tag}k",
    b"x" * 60,
)

INT_EDGES: tuple[bytes, ...] = (
    b"0", b"1", b"-1", b"10", b"100", b"9999", b"10000", b"-10000",
    b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806", b"-9223372036854775807",
    b"9223372036854775808", b"-9223372036854775809", b"18446744073709551616",
    b"-0", b"007", b"+1", b" 1", b"1 ", b"0x1f", b"1e3", b"3.14", b"", b"abc", b"1\x00", b"\r\n",
)

FLOAT_EDGES: tuple[bytes, ...] = (
    b"0", b"1", b"-1", b"1.5", b"-0.1", b"0.1", b"3.0e3", b"1e308", b"-1e308", b"1e309", b"5.0e-3", b"10.50",
    b"inf", b"-inf", b"+inf", b"nan", b"abc", b"", b" 1", b"1 ", b"0x10", b"1.", b".5", b"-0", b"1e-320",
    b"17179869184.000001", b"3.3333333333333333333", b"9223372036854775807", b"1,5",
)

KEYS_PATTERNS: tuple[bytes, ...] = (
    b"*", b"k*", b"k?", b"k1*", b"k[0-5]", b"k[^0-5]*", b"k[!0-5]*", b"*\r\n*", b"\\*", b"*\\?*", b"[", b"k[",
    b"*a*b*", b"", b"x", b"?*", b"\x00*", b"k\\1", b"[a-", b"*[?]*", b"{*}*", b"*s", b"k[1-]", b"k[]1]",
    b"k[\\]]*", b"x*x", b"**k*1",
)

ENCODING_SUBCOMMANDS: tuple[bytes, ...] = (b"ENCODING", b"encoding", b"REFCOUNT", b"foo")


@dataclass
class Op:
    """One generated command and how its two replies are compared."""

    args: list[bytes]
    #: exact | keys | ttl_s | ttl_ms | abs_s | abs_ms | randomkey | scan | dbsize | unordered | pairs | random |
    #: spop | cscan
    kind: str = "exact"


def fmt_arg(a: bytes) -> str:
    """A readable, unambiguous rendering of one argument."""
    if a and all(33 <= c < 127 and c not in (34, 39, 92) for c in a):
        return a.decode()
    return repr(a)[1:]


def fmt_args(args: Sequence[bytes]) -> str:
    """A readable rendering of a whole command."""
    return " ".join(fmt_arg(a) for a in args)


def fmt_raw(raw: bytes, limit: int = 400) -> str:
    """A reply's raw bytes, shortened for messages."""
    if len(raw) <= limit:
        return repr(raw)
    return f"{raw[:limit]!r}... ({len(raw)} bytes)"


class CommandGenerator:
    """Seeded random commands over the string, key, database, connection, hash, set, sorted set and list
    families."""

    def __init__(self, seed: int, *, interactive: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.rng = random.Random(seed)
        self.interactive = interactive
        self.clock = clock
        table: list[tuple[float, Callable[[], Op]]] = [
            (10, self.g_set), (6, self.g_get), (1, self.g_setnx), (1, self.g_setex), (1, self.g_psetex),
            (1, self.g_getset), (2, self.g_mget), (2, self.g_mset), (1, self.g_msetnx), (2, self.g_append),
            (1, self.g_strlen), (2, self.g_incr), (1, self.g_decr), (2, self.g_incrby), (1, self.g_decrby),
            (2, self.g_incrbyfloat), (2, self.g_getrange), (2, self.g_setrange), (1, self.g_substr),
            (1, self.g_getdel), (2, self.g_getex),
            (2, self.g_del), (1, self.g_unlink), (2, self.g_exists), (1.5, self.g_type), (1, self.g_rename),
            (1, self.g_renamenx), (1, self.g_keys), (1, self.g_scan), (1, self.g_randomkey), (1, self.g_dbsize),
            (1, self.g_touch), (1.5, self.g_copy), (5, self.g_expire), (1.5, self.g_ttl), (1.5, self.g_pttl),
            (1, self.g_expiretime), (1, self.g_pexpiretime), (1.5, self.g_persist), (1.5, self.g_object),
            (0.1, self.g_flushdb), (0.03, self.g_flushall), (1.5, self.g_select), (0.4, self.g_swapdb),
            (1.5, self.g_move), (0.5, self.g_ping), (0.5, self.g_echo), (2.5, self.g_arity),
            (0.3, self.g_unknown),
            (0.8, self.g_multi), (0.6, self.g_watch), (0.2, self.g_unwatch), (0.1, self.g_exec_alone),
            # Collections (about half of all commands).
            (5, self.g_hset), (1, self.g_hsetnx), (2.5, self.g_hget), (1, self.g_hmget), (1.5, self.g_hdel),
            (1.5, self.g_hsmall), (1.5, self.g_hall), (1.5, self.g_hincr), (1, self.g_hrandfield),
            (1.5, self.g_collscan),
            (5, self.g_sadd), (1.5, self.g_srem), (1.5, self.g_smembers), (2, self.g_sis), (1, self.g_srandmember),
            (1, self.g_smove), (2, self.g_salgebra), (0.7, self.g_sintercard),
            (6, self.g_zadd), (1, self.g_zincrby), (1.5, self.g_zrem), (2, self.g_zpoint), (1.5, self.g_zcount),
            (4, self.g_zrange), (1.5, self.g_zremrange), (1.5, self.g_zpop), (1, self.g_zrandmember),
            (2, self.g_zsetop),
            (5, self.g_push), (2, self.g_lpop), (2.5, self.g_lread), (2, self.g_lchange), (1, self.g_lpos),
            (2, self.g_lmove), (1.5, self.g_blocking),
        ]
        if interactive:
            # SPOP's random choice is resynchronized by deleting the key on both servers, which needs a round trip.
            table.append((1, self.g_spop))
        self.funcs = [f for _, f in table]
        self.weights = [w for w, _ in table]
        # MULTI state: while queuing, only commands with exactly comparable replies are drawn (EXEC's array is
        # compared byte for byte), and after `multi_length` of them the transaction ends with EXEC or DISCARD.
        self.in_multi = False
        self.queued = 0
        self.multi_length = 0

    # -- building blocks -------------------------------------------------------------------------------------------

    def next(self) -> Op:
        """The next command."""
        if not self.in_multi:
            return self.rng.choices(self.funcs, self.weights)[0]()
        self.queued += 1
        if self.queued > self.multi_length:
            self.in_multi = False
            return self.op(self.name("EXEC" if self.rng.random() < 0.85 else "DISCARD"))
        for _ in range(20):
            op = self.rng.choices(self.funcs, self.weights)[0]()
            if op.kind == "exact":
                return op
        return self.op(self.name("PING"))

    def name(self, n: str) -> bytes:
        """A command or option name, sometimes in lower or mixed case (Redis is case-insensitive)."""
        r = self.rng.random()
        if r < 0.75:
            return n.encode()
        if r < 0.9:
            return n.lower().encode()
        return "".join(c.lower() if self.rng.random() < 0.5 else c for c in n).encode()

    def key(self) -> bytes:
        return self.rng.choice(KEYS)

    def keys(self, lo: int = 1, hi: int = 5) -> list[bytes]:
        return [self.key() for _ in range(self.rng.randint(lo, hi))]

    def value(self) -> bytes:
        r = self.rng.random()
        if r < 0.3:
            return str(self.rng.randint(-20, 200)).encode()
        if r < 0.45:
            return self.rng.choice(INT_EDGES)
        if r < 0.55:
            return self.rng.choice(FLOAT_EDGES)
        if r < 0.65:
            # Around the 44-byte embstr/raw boundary of OBJECT ENCODING.
            n = self.rng.randint(40, 48)
            return bytes(self.rng.choice(b"abcdefgh") for _ in range(n))
        if r < 0.72:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 12)))
        if r < 0.75:
            return b"v" * self.rng.randint(100, 400)
        if r < 0.78:
            return str(self.rng.randint(-(2**63), 2**63 - 1)).encode()
        return bytes(self.rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 \r\n")
                     for _ in range(self.rng.randint(0, 20)))

    def int_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(-100, 100)).encode()
        return self.rng.choice(INT_EDGES)

    def float_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.4:
            return repr(round(self.rng.uniform(-1000, 1000), self.rng.randint(0, 6))).encode()
        return self.rng.choice(FLOAT_EDGES)

    def index_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.7:
            return str(self.rng.randint(-60, 60)).encode()
        return self.rng.choice((b"0", b"-1", b"9223372036854775807", b"-9223372036854775808", b"abc", b"",
                                b"1.5", b"100000", b"-100000", b" 1"))

    def rel_seconds(self) -> bytes:
        """A relative expiry in seconds: valid ones are >= 100 s so nothing expires during a run."""
        r = self.rng.random()
        if r < 0.8:
            return str(self.rng.randint(100, 10**6)).encode()
        return self.rng.choice((b"0", b"-1", b"-100", b"abc", b"1.5", b"", b"9223372036854775807",
                                b"9223372036854775", b"-9223372036854775808", b" 100", b"100 ",
                                b"9223372036854", str(self.rng.randint(10**6, 10**12)).encode()))

    def rel_millis(self) -> bytes:
        """A relative expiry in milliseconds: valid ones are >= 100,000 ms."""
        r = self.rng.random()
        if r < 0.8:
            return str(self.rng.randint(100_000, 10**9)).encode()
        return self.rng.choice((b"0", b"-1", b"-100000", b"abc", b"1.5", b"", b"9223372036854775807",
                                b"-9223372036854775808", b"9223372036854775000", b" 100000"))

    def abs_seconds(self, allow_past: bool = True) -> bytes:
        """An absolute expiry (unix seconds): at least 100 s in the future, or clearly in the past."""
        now = int(self.clock())
        r = self.rng.random()
        if r < 0.7 or not allow_past:
            return str(now + self.rng.randint(100, 10**6)).encode()
        if r < 0.85:
            return str(now - self.rng.randint(100, 10**6)).encode()
        return self.rng.choice((b"0", b"1", b"-1", b"abc", b"", b"9223372036854775807", b"9223372036854775",
                                b"-9223372036854775808"))

    def abs_millis(self, allow_past: bool = True) -> bytes:
        """An absolute expiry (unix milliseconds): at least 100 s in the future, or clearly in the past."""
        now = int(self.clock() * 1000)
        r = self.rng.random()
        if r < 0.7 or not allow_past:
            return str(now + self.rng.randint(100_000, 10**9)).encode()
        if r < 0.85:
            return str(now - self.rng.randint(100_000, 10**9)).encode()
        return self.rng.choice((b"0", b"1", b"-1", b"abc", b"", b"9223372036854775807",
                                b"-9223372036854775808"))

    def db_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.85:
            return str(self.rng.choice(DBS)).encode()
        return self.rng.choice((b"15", b"16", b"-1", b"abc", b"", b"1.0", b"2147483648", b" 1"))

    def junk(self) -> bytes:
        # No small positive numbers: "EXPIRE k0 1" would make a key expire during the run.
        return self.rng.choice((b"x", b"", b"\r\n", b"\x00", b"foo bar", b"-", b"-1", b"abc") + KEYS[:4])

    def op(self, *parts: bytes, kind: str = "exact") -> Op:
        return Op(list(parts), kind)

    # -- strings ---------------------------------------------------------------------------------------------------

    def expiry_option(self, allow_past: bool = True) -> list[bytes]:
        which = self.rng.choice(("EX", "PX", "EXAT", "PXAT"))
        if which == "EX":
            value = self.rel_seconds()
        elif which == "PX":
            value = self.rel_millis()
        elif which == "EXAT":
            value = self.abs_seconds(allow_past)
        else:
            value = self.abs_millis(allow_past)
        return [self.name(which), value]

    def g_set(self) -> Op:
        args = [self.name("SET"), self.key(), self.value()]
        r = self.rng.random()
        if r < 0.35:
            return self.op(*args)
        options: list[list[bytes]] = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            c = self.rng.random()
            if c < 0.45:
                # SET with a past EXAT/PXAT leaves a dead key that Redis's DBSIZE counts until it is reclaimed,
                # at a moment of Redis's choosing; only interactive runs can tell that apart (see _dbsize_with_expired).
                options.append(self.expiry_option(allow_past=self.interactive))
            elif c < 0.6:
                options.append([self.name("NX")])
            elif c < 0.75:
                options.append([self.name("XX")])
            elif c < 0.85:
                options.append([self.name("GET")])
            elif c < 0.95:
                options.append([self.name("KEEPTTL")])
            else:
                options.append([self.rng.choice((b"EX", b"PX", b"FOO", b"", b"EXAT"))])  # missing value / bad
        for o in options:
            args += o
        return self.op(*args)

    def g_get(self) -> Op:
        return self.op(self.name("GET"), self.key())

    def g_setnx(self) -> Op:
        return self.op(self.name("SETNX"), self.key(), self.value())

    def g_setex(self) -> Op:
        return self.op(self.name("SETEX"), self.key(), self.rel_seconds(), self.value())

    def g_psetex(self) -> Op:
        return self.op(self.name("PSETEX"), self.key(), self.rel_millis(), self.value())

    def g_getset(self) -> Op:
        return self.op(self.name("GETSET"), self.key(), self.value())

    def g_mget(self) -> Op:
        return self.op(self.name("MGET"), *self.keys(1, 6))

    def pairs(self) -> list[bytes]:
        out: list[bytes] = []
        for _ in range(self.rng.randint(1, 4)):
            out += [self.key(), self.value()]
        if self.rng.random() < 0.1:
            out.append(self.key())  # odd number of arguments
        return out

    def g_mset(self) -> Op:
        return self.op(self.name("MSET"), *self.pairs())

    def g_msetnx(self) -> Op:
        return self.op(self.name("MSETNX"), *self.pairs())

    def g_append(self) -> Op:
        return self.op(self.name("APPEND"), self.key(), self.value())

    def g_strlen(self) -> Op:
        return self.op(self.name("STRLEN"), self.key())

    def g_incr(self) -> Op:
        return self.op(self.name("INCR"), self.key())

    def g_decr(self) -> Op:
        return self.op(self.name("DECR"), self.key())

    def g_incrby(self) -> Op:
        return self.op(self.name("INCRBY"), self.key(), self.int_arg())

    def g_decrby(self) -> Op:
        return self.op(self.name("DECRBY"), self.key(), self.int_arg())

    def g_incrbyfloat(self) -> Op:
        return self.op(self.name("INCRBYFLOAT"), self.key(), self.float_arg())

    def g_getrange(self) -> Op:
        return self.op(self.name("GETRANGE"), self.key(), self.index_arg(), self.index_arg())

    def g_substr(self) -> Op:
        return self.op(self.name("SUBSTR"), self.key(), self.index_arg(), self.index_arg())

    def g_setrange(self) -> Op:
        r = self.rng.random()
        if r < 0.8:
            offset = str(self.rng.randint(0, 80)).encode()
        elif r < 0.85:
            offset = str(self.rng.randint(1000, 5000)).encode()
        else:
            # Never 512 MB - len(value) or just below: Redis would allocate it. These all fail or are no-ops.
            offset = self.rng.choice((b"-1", b"abc", b"", b"536870912", b"9223372036854775807", b"1.5"))
        value = self.value() if self.rng.random() < 0.9 else b""
        return self.op(self.name("SETRANGE"), self.key(), offset, value)

    def g_getdel(self) -> Op:
        return self.op(self.name("GETDEL"), self.key())

    def g_getex(self) -> Op:
        args = [self.name("GETEX"), self.key()]
        for _ in range(self.rng.choice((0, 1, 1, 1, 2))):
            c = self.rng.random()
            if c < 0.7:
                args += self.expiry_option()
            elif c < 0.9:
                args.append(self.name("PERSIST"))
            else:
                args.append(self.rng.choice((b"EX", b"KEEPTTL", b"NX", b"FOO")))
        return self.op(*args)

    # -- keys ------------------------------------------------------------------------------------------------------

    def g_del(self) -> Op:
        return self.op(self.name("DEL"), *self.keys(1, 4))

    def g_unlink(self) -> Op:
        return self.op(self.name("UNLINK"), *self.keys(1, 4))

    def g_exists(self) -> Op:
        return self.op(self.name("EXISTS"), *self.keys(1, 5))

    def g_type(self) -> Op:
        return self.op(self.name("TYPE"), self.key())

    def g_rename(self) -> Op:
        return self.op(self.name("RENAME"), self.key(), self.key())

    def g_renamenx(self) -> Op:
        return self.op(self.name("RENAMENX"), self.key(), self.key())

    def pattern(self) -> bytes:
        if self.rng.random() < 0.2:
            return self.key()
        return self.rng.choice(KEYS_PATTERNS)

    def g_keys(self) -> Op:
        return self.op(self.name("KEYS"), self.pattern(), kind="keys")

    def g_scan(self) -> Op:
        if self.rng.random() < 0.15:
            bad = self.rng.choice((
                [b"abc"], [b"0", b"COUNT", b"0"], [b"0", b"COUNT", b"x"], [b"0", b"MATCH"], [b"0", b"FOO", b"bar"],
                [b"0", b"COUNT", b"-1"], [b"0", b"COUNT"], [b"1.5"], [b"0", b"TYPE"],
            ))
            return self.op(self.name("SCAN"), *bad)
        if not self.interactive:
            return self.g_keys()
        args = [self.name("SCAN"), b"0"]
        if self.rng.random() < 0.5:
            args += [self.name("MATCH"), self.pattern()]
        if self.rng.random() < 0.5:
            args += [self.name("COUNT"), str(self.rng.randint(1, 30)).encode()]
        if self.rng.random() < 0.2:
            # Not "none": Redis 7.0 lets dead (expired, not yet reclaimed) keys through that filter.
            args += [self.name("TYPE"), self.rng.choice((b"string", b"STRING", b"list", b"hash"))]
        return self.op(*args, kind="scan")

    def g_randomkey(self) -> Op:
        return self.op(self.name("RANDOMKEY"), kind="randomkey")

    def g_dbsize(self) -> Op:
        return self.op(self.name("DBSIZE"), kind="dbsize")

    def g_touch(self) -> Op:
        return self.op(self.name("TOUCH"), *self.keys(1, 4))

    def g_copy(self) -> Op:
        args = [self.name("COPY"), self.key(), self.key()]
        if self.rng.random() < 0.4:
            args += [self.name("DB"), self.db_arg()]
        if self.rng.random() < 0.4:
            args.append(self.name("REPLACE"))
        if self.rng.random() < 0.05:
            args.append(self.junk())
        return self.op(*args)

    def g_expire(self) -> Op:
        which = self.rng.choice(("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"))
        value = {"EXPIRE": self.rel_seconds, "PEXPIRE": self.rel_millis, "EXPIREAT": self.abs_seconds,
                 "PEXPIREAT": self.abs_millis}[which]()
        args = [self.name(which), self.key(), value]
        for _ in range(self.rng.choice((0, 0, 1, 1, 1, 2))):
            args.append(self.name(self.rng.choice(("NX", "XX", "GT", "LT", "FOO"))))
        return self.op(*args)

    def g_ttl(self) -> Op:
        return self.op(self.name("TTL"), self.key(), kind="ttl_s")

    def g_pttl(self) -> Op:
        return self.op(self.name("PTTL"), self.key(), kind="ttl_ms")

    def g_expiretime(self) -> Op:
        return self.op(self.name("EXPIRETIME"), self.key(), kind="abs_s")

    def g_pexpiretime(self) -> Op:
        return self.op(self.name("PEXPIRETIME"), self.key(), kind="abs_ms")

    def g_persist(self) -> Op:
        return self.op(self.name("PERSIST"), self.key())

    def g_object(self) -> Op:
        sub = self.rng.choice(ENCODING_SUBCOMMANDS)
        if sub == b"foo":
            return self.op(self.name("OBJECT"), sub, self.key())
        if self.rng.random() < 0.05:
            return self.op(self.name("OBJECT"), sub)
        return self.op(self.name("OBJECT"), sub, self.key())

    def g_flushdb(self) -> Op:
        args = [self.name("FLUSHDB")]
        r = self.rng.random()
        if r < 0.3:
            args.append(self.name("ASYNC"))
        elif r < 0.6:
            args.append(self.name("SYNC"))
        elif r < 0.7:
            args.append(self.junk())
        return self.op(*args)

    def g_flushall(self) -> Op:
        return self.op(self.name("FLUSHALL"))

    # -- collections -----------------------------------------------------------------------------------------------

    MEMBERS: tuple[bytes, ...] = (
        b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"1", b"2", b"3", b"10", b"-5", b"007", b"",
        b"x" * 70, b"\x00\xff", b"with space", b"9223372036854775807",
    )

    def member(self) -> bytes:
        r = self.rng.random()
        if r < 0.8:
            return self.rng.choice(self.MEMBERS)
        if r < 0.95:
            return str(self.rng.randint(0, 40)).encode()
        return self.value()

    def members(self, lo: int = 1, hi: int = 4) -> list[bytes]:
        if self.rng.random() < 0.03:
            # Enough to cross the compact encodings' entry limits (128 fields, 512 integers).
            n = self.rng.choice((100, 140, 600))
            return [str(self.rng.randint(0, n * 2)).encode() if self.rng.random() < 0.5 else b"m%d" % i
                    for i in range(n)]
        return [self.member() for _ in range(self.rng.randint(lo, hi))]

    def count_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.7:
            return str(self.rng.randint(-6, 8)).encode()
        # No huge negative counts: HRANDFIELD key -4611686018427387904 would make Redis build a reply that size.
        return self.rng.choice((b"0", b"abc", b"", b"-9223372036854775808", b"9223372036854775807", b"1.5",
                                b"200"))

    def score_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(-10, 10)).encode()
        if r < 0.75:
            return repr(self.rng.randint(-20, 20) / 4).encode()
        return self.rng.choice(FLOAT_EDGES)

    def score_bound(self) -> bytes:
        r = self.rng.random()
        if r < 0.5:
            return (b"(" if self.rng.random() < 0.3 else b"") + str(self.rng.randint(-10, 10)).encode()
        return self.rng.choice((b"-inf", b"+inf", b"inf", b"(1.5", b"(", b"", b"abc", b"nan", b"(-inf", b" 1",
                                b"1e1", b"(5", b"0"))

    def lex_bound(self) -> bytes:
        r = self.rng.random()
        if r < 0.6:
            return self.rng.choice((b"[", b"(")) + self.member()
        return self.rng.choice((b"-", b"+", b"a", b"", b"[", b"(", b"+x", b"-a"))

    # hashes

    def g_hset(self) -> Op:
        args = [self.name(self.rng.choice(("HSET", "HMSET"))), self.key()]
        for m in self.members():
            args += [m, self.value() if self.rng.random() < 0.7 else self.member()]
        if self.rng.random() < 0.05:
            args.append(self.member())
        return self.op(*args)

    def g_hsetnx(self) -> Op:
        return self.op(self.name("HSETNX"), self.key(), self.member(), self.value())

    def g_hget(self) -> Op:
        return self.op(self.name("HGET"), self.key(), self.member())

    def g_hmget(self) -> Op:
        return self.op(self.name("HMGET"), self.key(), *self.members())

    def g_hdel(self) -> Op:
        return self.op(self.name("HDEL"), self.key(), *self.members())

    def g_hsmall(self) -> Op:
        which = self.rng.choice(("HEXISTS", "HSTRLEN", "HLEN"))
        if which == "HLEN":
            return self.op(self.name(which), self.key())
        return self.op(self.name(which), self.key(), self.member())

    def g_hall(self) -> Op:
        which = self.rng.choice(("HKEYS", "HVALS", "HGETALL"))
        return self.op(self.name(which), self.key(), kind="pairs" if which == "HGETALL" else "unordered")

    def g_hincr(self) -> Op:
        if self.rng.random() < 0.5:
            return self.op(self.name("HINCRBY"), self.key(), self.member(), self.int_arg())
        return self.op(self.name("HINCRBYFLOAT"), self.key(), self.member(), self.float_arg())

    def g_hrandfield(self) -> Op:
        args = [self.name("HRANDFIELD"), self.key()]
        if self.rng.random() < 0.7:
            args.append(self.count_arg())
            if self.rng.random() < 0.5:
                args.append(self.name(self.rng.choice(("WITHVALUES", "WITHVALUES", "X"))))
        return self.op(*args, kind="random")

    def scan_options(self) -> list[bytes]:
        out: list[bytes] = []
        if self.rng.random() < 0.3:
            out += [self.name("MATCH"), self.rng.choice((b"*", b"a*", b"m1*", b"?", b"[a-c]", b"*0"))]
        if self.rng.random() < 0.3:
            out += [self.name("COUNT"), self.rng.choice((b"1", b"5", b"100", b"0", b"-1", b"x"))]
        if self.rng.random() < 0.05:
            out += [self.name("TYPE"), b"hash"]
        return out

    def g_collscan(self) -> Op:
        which = self.rng.choice(("HSCAN", "SSCAN", "ZSCAN"))
        cursor = b"0" if self.rng.random() < 0.9 else self.rng.choice((b"x", b"-1", b""))
        kind = "cscan" if self.interactive and cursor == b"0" else "exact"
        if kind == "exact":
            cursor = self.rng.choice((b"x", b"-x", b"1.5"))  # errors or nothing: deterministic
        return self.op(self.name(which), self.key(), cursor, *self.scan_options(), kind=kind)

    # sets

    def g_sadd(self) -> Op:
        return self.op(self.name("SADD"), self.key(), *self.members())

    def g_srem(self) -> Op:
        return self.op(self.name("SREM"), self.key(), *self.members())

    def g_smembers(self) -> Op:
        return self.op(self.name("SMEMBERS"), self.key(), kind="unordered")

    def g_sis(self) -> Op:
        which = self.rng.choice(("SISMEMBER", "SMISMEMBER", "SCARD"))
        if which == "SCARD":
            return self.op(self.name(which), self.key())
        if which == "SISMEMBER":
            return self.op(self.name(which), self.key(), self.member())
        return self.op(self.name(which), self.key(), *self.members())

    def g_spop(self) -> Op:
        args = [self.name("SPOP"), self.key()]
        if self.rng.random() < 0.6:
            args.append(self.count_arg())
        return self.op(*args, kind="spop")

    def g_srandmember(self) -> Op:
        args = [self.name("SRANDMEMBER"), self.key()]
        if self.rng.random() < 0.7:
            args.append(self.count_arg())
        return self.op(*args, kind="random")

    def g_smove(self) -> Op:
        return self.op(self.name("SMOVE"), self.key(), self.key(), self.member())

    def g_salgebra(self) -> Op:
        which = self.rng.choice(("SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"))
        kind = "exact" if which.endswith("STORE") else "unordered"
        return self.op(self.name(which), *self.keys(1, 4), kind=kind)

    def g_sintercard(self) -> Op:
        keys = self.keys(1, 3)
        n = str(len(keys)).encode() if self.rng.random() < 0.85 else self.rng.choice((b"0", b"5", b"x", b"-1"))
        args = [self.name("SINTERCARD"), n, *keys]
        if self.rng.random() < 0.4:
            args += [self.name("LIMIT"), self.rng.choice((b"0", b"1", b"2", b"-1", b"x"))]
        return self.op(*args)

    # sorted sets

    def g_zadd(self) -> Op:
        args = [self.name("ZADD"), self.key()]
        for flag in ("NX", "XX", "GT", "LT", "CH", "INCR"):
            if self.rng.random() < 0.08:
                args.append(self.name(flag))
        for m in self.members(1, 3):
            args += [self.score_arg(), m]
        if self.rng.random() < 0.04:
            args.append(self.member())
        return self.op(*args)

    def g_zincrby(self) -> Op:
        return self.op(self.name("ZINCRBY"), self.key(), self.score_arg(), self.member())

    def g_zrem(self) -> Op:
        return self.op(self.name("ZREM"), self.key(), *self.members())

    def g_zpoint(self) -> Op:
        which = self.rng.choice(("ZSCORE", "ZMSCORE", "ZCARD", "ZRANK", "ZREVRANK"))
        if which == "ZCARD":
            return self.op(self.name(which), self.key())
        if which == "ZMSCORE":
            return self.op(self.name(which), self.key(), *self.members())
        return self.op(self.name(which), self.key(), self.member())

    def g_zcount(self) -> Op:
        if self.rng.random() < 0.5:
            return self.op(self.name("ZCOUNT"), self.key(), self.score_bound(), self.score_bound())
        return self.op(self.name("ZLEXCOUNT"), self.key(), self.lex_bound(), self.lex_bound())

    def range_options(self, allow_by: bool) -> list[bytes]:
        out: list[bytes] = []
        for _ in range(self.rng.choice((0, 1, 1, 2))):
            r = self.rng.random()
            if r < 0.35:
                out.append(self.name("WITHSCORES"))
            elif r < 0.6:
                out += [self.name("LIMIT"), self.count_arg(), self.count_arg()]
            elif r < 0.75 and allow_by:
                out.append(self.name("REV"))
            elif r < 0.95 and allow_by:
                out.append(self.name(self.rng.choice(("BYSCORE", "BYLEX"))))
            else:
                out.append(self.junk())
        return out

    def g_zrange(self) -> Op:
        which = self.rng.choice(("ZRANGE", "ZRANGE", "ZRANGESTORE", "ZREVRANGE", "ZRANGEBYSCORE",
                                 "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX"))
        head = [self.name(which)] + ([self.key()] if which == "ZRANGESTORE" else []) + [self.key()]
        if "LEX" in which:
            return self.op(*head, self.lex_bound(), self.lex_bound(), *self.range_options(False))
        if "SCORE" in which:
            return self.op(*head, self.score_bound(), self.score_bound(), *self.range_options(False))
        opts = self.range_options(which != "ZREVRANGE")
        if b"BYLEX" in [o.upper() for o in opts]:
            bounds = [self.lex_bound(), self.lex_bound()]
        elif b"BYSCORE" in [o.upper() for o in opts]:
            bounds = [self.score_bound(), self.score_bound()]
        else:
            bounds = [self.index_arg(), self.index_arg()]
        return self.op(*head, *bounds, *opts)

    def g_zremrange(self) -> Op:
        which = self.rng.choice(("ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX"))
        if which == "ZREMRANGEBYRANK":
            return self.op(self.name(which), self.key(), self.index_arg(), self.index_arg())
        if which == "ZREMRANGEBYSCORE":
            return self.op(self.name(which), self.key(), self.score_bound(), self.score_bound())
        return self.op(self.name(which), self.key(), self.lex_bound(), self.lex_bound())

    def g_zpop(self) -> Op:
        r = self.rng.random()
        if r < 0.7:
            args = [self.name(self.rng.choice(("ZPOPMIN", "ZPOPMAX"))), self.key()]
            if self.rng.random() < 0.6:
                args.append(self.count_arg())
            return self.op(*args)
        keys = self.keys(1, 3)
        n = str(len(keys)).encode() if self.rng.random() < 0.85 else self.rng.choice((b"0", b"5", b"x"))
        args = [self.name("ZMPOP"), n, *keys, self.name(self.rng.choice(("MIN", "MAX", "MIN", "MAX", "LEFT")))]
        if self.rng.random() < 0.5:
            args += [self.name("COUNT"), self.count_arg()]
        return self.op(*args)

    def g_zrandmember(self) -> Op:
        args = [self.name("ZRANDMEMBER"), self.key()]
        if self.rng.random() < 0.7:
            args.append(self.count_arg())
            if self.rng.random() < 0.5:
                args.append(self.name(self.rng.choice(("WITHSCORES", "WITHSCORES", "X"))))
        return self.op(*args, kind="random")

    def g_zsetop(self) -> Op:
        which = self.rng.choice(("ZUNION", "ZINTER", "ZDIFF", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE",
                                 "ZINTERCARD"))
        keys = self.keys(1, 3)
        n = str(len(keys)).encode() if self.rng.random() < 0.9 else self.rng.choice((b"0", b"5", b"x", b"-1"))
        args = [self.name(which)] + ([self.key()] if which.endswith("STORE") else []) + [n, *keys]
        for _ in range(self.rng.choice((0, 0, 1, 2))):
            r = self.rng.random()
            if r < 0.3:
                args += [self.name("WEIGHTS")] + [self.rng.choice((b"1", b"2", b"-1", b"0.5", b"x", b"inf"))
                                                 for _ in keys]
            elif r < 0.55:
                args += [self.name("AGGREGATE"), self.name(self.rng.choice(("SUM", "MIN", "MAX", "AVG")))]
            elif r < 0.8:
                args.append(self.name("WITHSCORES"))
            elif r < 0.95:
                args += [self.name("LIMIT"), self.rng.choice((b"0", b"1", b"-1"))]
            else:
                args.append(self.junk())
        return self.op(*args)

    # lists

    def g_push(self) -> Op:
        which = self.rng.choice(("LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"))
        return self.op(self.name(which), self.key(), *self.members())

    def g_lpop(self) -> Op:
        args = [self.name(self.rng.choice(("LPOP", "RPOP"))), self.key()]
        if self.rng.random() < 0.5:
            args.append(self.count_arg())
        return self.op(*args)

    def g_lread(self) -> Op:
        which = self.rng.choice(("LLEN", "LINDEX", "LRANGE", "LRANGE"))
        if which == "LLEN":
            return self.op(self.name(which), self.key())
        if which == "LINDEX":
            return self.op(self.name(which), self.key(), self.index_arg())
        return self.op(self.name(which), self.key(), self.index_arg(), self.index_arg())

    def g_lchange(self) -> Op:
        which = self.rng.choice(("LSET", "LREM", "LTRIM", "LINSERT"))
        if which == "LSET":
            return self.op(self.name(which), self.key(), self.index_arg(), self.member())
        if which == "LREM":
            return self.op(self.name(which), self.key(), self.count_arg(), self.member())
        if which == "LTRIM":
            return self.op(self.name(which), self.key(), self.index_arg(), self.index_arg())
        where = self.name(self.rng.choice(("BEFORE", "AFTER", "BEFORE", "AFTER", "MIDDLE")))
        return self.op(self.name(which), self.key(), where, self.member(), self.member())

    def g_lpos(self) -> Op:
        args = [self.name("LPOS"), self.key(), self.member()]
        for _ in range(self.rng.choice((0, 1, 2, 3))):
            opt = self.rng.choice(("RANK", "COUNT", "MAXLEN", "FOO"))
            args += [self.name(opt), self.count_arg()]
        return self.op(*args)

    def g_lmove(self) -> Op:
        r = self.rng.random()
        if r < 0.4:
            return self.op(self.name("RPOPLPUSH"), self.key(), self.key())
        if r < 0.8:
            return self.op(self.name("LMOVE"), self.key(), self.key(),
                           self.name(self.rng.choice(("LEFT", "RIGHT", "UP"))),
                           self.name(self.rng.choice(("LEFT", "RIGHT"))))
        keys = self.keys(1, 3)
        n = str(len(keys)).encode() if self.rng.random() < 0.85 else self.rng.choice((b"0", b"5", b"x"))
        args = [self.name("LMPOP"), n, *keys, self.name(self.rng.choice(("LEFT", "RIGHT", "MIN")))]
        if self.rng.random() < 0.5:
            args += [self.name("COUNT"), self.count_arg()]
        return self.op(*args)

    def timeout_arg(self) -> bytes:
        """A blocking command's timeout: never 0 (one connection would wait forever), mostly a few milliseconds."""
        return self.rng.choice((b"0.001", b"0.003", b"0.001", b"1e-9", b"0x0.01p-3", b"-1", b"x", b"nan", b"inf"))

    def g_blocking(self) -> Op:
        """The blocking pops: at once when a key has data, else a nil reply after a few milliseconds."""
        which = self.rng.choice(("BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX",
                                 "BZMPOP"))
        if which in ("BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"):
            return self.op(self.name(which), *self.keys(1, 3), self.timeout_arg())
        if which == "BRPOPLPUSH":
            return self.op(self.name(which), self.key(), self.key(), self.timeout_arg())
        if which == "BLMOVE":
            return self.op(self.name(which), self.key(), self.key(),
                           self.name(self.rng.choice(("LEFT", "RIGHT", "UP"))),
                           self.name(self.rng.choice(("LEFT", "RIGHT"))), self.timeout_arg())
        keys = self.keys(1, 3)
        n = str(len(keys)).encode() if self.rng.random() < 0.85 else self.rng.choice((b"0", b"5", b"x"))
        ends = ("LEFT", "RIGHT", "MIN") if which == "BLMPOP" else ("MIN", "MAX", "LEFT")
        args = [self.name(which), self.timeout_arg(), n, *keys, self.name(self.rng.choice(ends))]
        if self.rng.random() < 0.5:
            args += [self.name("COUNT"), self.count_arg()]
        return self.op(*args)

    # -- databases and connection ----------------------------------------------------------------------------------

    def g_select(self) -> Op:
        return self.op(self.name("SELECT"), self.db_arg())

    def g_swapdb(self) -> Op:
        return self.op(self.name("SWAPDB"), self.db_arg(), self.db_arg())

    def g_move(self) -> Op:
        return self.op(self.name("MOVE"), self.key(), self.db_arg())

    def g_ping(self) -> Op:
        if self.rng.random() < 0.5:
            return self.op(self.name("PING"))
        return self.op(self.name("PING"), self.value())

    def g_echo(self) -> Op:
        return self.op(self.name("ECHO"), self.value())

    # -- malformed calls -------------------------------------------------------------------------------------------

    ARITY_COMMANDS = (
        "GET", "SET", "SETNX", "SETEX", "PSETEX", "GETSET", "MGET", "MSET", "MSETNX", "APPEND", "STRLEN", "INCR",
        "DECR", "INCRBY", "DECRBY", "INCRBYFLOAT", "GETRANGE", "SETRANGE", "SUBSTR", "GETDEL", "GETEX", "DEL",
        "UNLINK", "EXISTS", "TYPE", "RENAME", "RENAMENX", "KEYS", "SCAN", "RANDOMKEY", "DBSIZE", "TOUCH", "COPY",
        "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST",
        "OBJECT", "SELECT", "SWAPDB", "MOVE", "PING", "ECHO", "FLUSHDB",
        "HSET", "HGET", "HDEL", "HLEN", "HGETALL", "HINCRBY", "HRANDFIELD", "HSCAN", "SADD", "SREM", "SCARD",
        "SMOVE", "SINTERCARD", "SPOP", "ZADD", "ZRANGE", "ZRANGESTORE", "ZSCORE", "ZCOUNT", "ZPOPMIN", "ZMPOP",
        "ZUNIONSTORE", "ZINTERCARD", "ZRANDMEMBER", "LPUSH", "LPOP", "LRANGE", "LSET", "LINSERT", "LPOS", "LMOVE",
        "LMPOP", "RPOPLPUSH", "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
    )

    def g_arity(self) -> Op:
        """A known command with a random number of non-numeric arguments (arity and syntax errors)."""
        name = self.rng.choice(self.ARITY_COMMANDS)
        n = self.rng.choice((0, 0, 1, 2, 3, 4, 5))
        args = [self.junk() for _ in range(n)]
        if name == "SCAN" and args:
            args[0] = b"x"  # a numeric cursor other than 0 gives implementation-defined results
        kind = {"KEYS": "keys", "RANDOMKEY": "randomkey", "DBSIZE": "dbsize", "TTL": "ttl_s", "PTTL": "ttl_ms",
                "EXPIRETIME": "abs_s", "PEXPIRETIME": "abs_ms", "HGETALL": "pairs", "HRANDFIELD": "random",
                "ZRANDMEMBER": "random", "SPOP": "random"}.get(name, "exact")
        if name in ("HSCAN", "SPOP") and len(args) >= 2:
            args[1] = b"x"  # keeps the reply deterministic (an invalid cursor, or an invalid count)
        return self.op(self.name(name), *args, kind=kind)

    def g_unknown(self) -> Op:
        # Not "GET\x00": Redis hashes the whole name but compares it as a C string, so whether it finds GET depends
        # on its random hash seed (a bucket collision), and its answer changes from one process to the next.
        name = self.rng.choice((b"FOO", b"GETX", b"sett", b"", b"\r\n", b"x" * 200, b"GETX\x00"))
        return self.op(name, *[self.junk() for _ in range(self.rng.randint(0, 3))])


    # -- transactions ----------------------------------------------------------------------------------------------

    def g_multi(self) -> Op:
        # A nested MULTI is an error that leaves the transaction open; the count restarts either way.
        self.in_multi = True
        self.queued = 0
        self.multi_length = self.rng.randint(0, 8)
        return self.op(self.name("MULTI"))

    def g_watch(self) -> Op:
        # One connection: only its own writes (and FLUSH/SWAPDB) touch the keys, which is deterministic.
        return self.op(self.name("WATCH"), *self.keys(1, 3))

    def g_unwatch(self) -> Op:
        return self.op(self.name("UNWATCH"))

    def g_exec_alone(self) -> Op:
        return self.op(self.name(self.rng.choice(("EXEC", "DISCARD"))))


class Mismatch(AssertionError):
    """Two servers answered the same command differently (or one of them stopped answering)."""


class _TransportFailure(Exception):
    """A connection closed, timed out or sent bytes that are not RESP."""

    def __init__(self, label: str, error: Exception) -> None:
        super().__init__(f"{label}: {type(error).__name__}: {error}")


TRANSPORT_ERRORS = (ConnectionClosed, TimeoutError, ProtocolViolation, OSError)


@dataclass
class Outcome:
    """What one differential run saw."""

    commands: int = 0
    mismatches: list[str] = field(default_factory=list)


def _is_nonneg_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def compare(op: Op, a: Reply, b: Reply) -> str | None:
    """None if the two replies agree for this op's kind, else a short reason. (``randomkey``: shape only.)"""
    if a.raw == b.raw:
        return None
    kind = op.kind
    if kind == "keys":
        if isinstance(a.value, list) and isinstance(b.value, list):
            if sorted(a.value) == sorted(b.value):
                return None
            only_a = sorted(set(a.value) - set(b.value))
            only_b = sorted(set(b.value) - set(a.value))
            return f"different key sets: only in reference {only_a!r}, only in subject {only_b!r}"
        return "different replies"
    if kind in ("ttl_s", "ttl_ms", "abs_s", "abs_ms"):
        tolerance = TTL_MS_TOLERANCE if kind.endswith("_ms") else TTL_S_TOLERANCE
        if _is_nonneg_int(a.value) and _is_nonneg_int(b.value):
            if abs(a.value - b.value) <= tolerance:
                return None
            return f"times differ by {b.value - a.value} (tolerance {tolerance})"
        return "different replies"
    if kind == "unordered":
        if _is_list(a.value) and _is_list(b.value):
            if sorted(map(_hashable, a.value)) == sorted(map(_hashable, b.value)):
                return None
            return "different elements (compared as multisets)"
        return "different replies"
    if kind == "pairs":
        pa, pb = _pairs(a.value), _pairs(b.value)
        if pa is not None and pb is not None and pa == pb:
            return None
        return "different field/value pairs (compared unordered)"
    if kind in ("random", "spop"):
        return _same_shape(a.value, b.value)
    if kind == "randomkey":
        if isinstance(a.value, bytes) and isinstance(b.value, bytes) and \
                not isinstance(a.value, Error) and not isinstance(b.value, Error):
            return None  # membership is checked by the runner
        return "different reply shapes"
    return "different replies"


def _is_list(v: Any) -> bool:
    return isinstance(v, list) and not isinstance(v, RespMap)


def _hashable(v: Any) -> Any:
    """A sortable, hashable form of a parsed reply element (nested pairs become tuples)."""
    if isinstance(v, list):
        return (1, tuple(_hashable(x) for x in v))
    if isinstance(v, float):
        return (2, repr(v))
    if isinstance(v, int):
        return (3, repr(v))
    if v is None:
        return (4, "")
    return (0, bytes(v))


def _pairs(v: Any) -> list | None:
    """HGETALL's reply as a sorted list of (field, value): a RESP2 flat array or a RESP3 map."""
    if isinstance(v, RespMap):
        return sorted((_hashable(k), _hashable(x)) for k, x in v)
    if isinstance(v, list) and len(v) % 2 == 0:
        return sorted((_hashable(v[i]), _hashable(v[i + 1])) for i in range(0, len(v), 2))
    return None


def _same_shape(a: Any, b: Any) -> str | None:
    """Random choices: same kind of reply, same length, same nesting (errors must be identical, checked by raw)."""
    if isinstance(a, Error) or isinstance(b, Error):
        return "different replies"
    if type(a) is not type(b) and not (isinstance(a, bytes) and isinstance(b, bytes)):
        return f"different reply types ({type(a).__name__} vs {type(b).__name__})"
    if isinstance(a, list):
        if len(a) != len(b):
            return f"different lengths ({len(a)} vs {len(b)})"
        for x, y in zip(a, b):
            if isinstance(x, list) != isinstance(y, list):
                return "different nesting"
    return None


def _leaves(v: Any) -> list:
    """Every scalar inside a parsed reply."""
    if isinstance(v, list):
        return [leaf for x in v for leaf in _leaves(x)]
    return [v]


class DifferentialRunner:
    """Sends generated commands to a reference and a subject connection and compares the replies."""

    def __init__(self, reference: RespClient, subject: RespClient, *, seed: int, protocol: int = 2,
                 labels: tuple[str, str] = ("reference", "subject"), keep_going: bool = False,
                 max_mismatches: int = 50, state_check_every: int = 1000, repro: str = "") -> None:
        self.a = reference
        self.b = subject
        self.seed = seed
        self.protocol = protocol
        self.labels = labels
        self.keep_going = keep_going
        self.max_mismatches = max_mismatches
        self.state_check_every = state_check_every
        self.repro = repro
        self.history: deque[tuple[int, Op, bytes]] = deque(maxlen=20)
        self.outcome = Outcome()
        self.db = 0

    # -- reporting -------------------------------------------------------------------------------------------------

    def report(self, index: int, command: str, reason: str, raw_a: bytes, raw_b: bytes, fatal: bool = False) -> None:
        lines = [
            f"differential mismatch: seed={self.seed} protocol=RESP{self.protocol} command index={index} "
            f"(selected db {self.db})",
            f"command:   {command}",
            f"reason:    {reason}",
            f"{self.labels[0]}: {fmt_raw(raw_a)}",
            f"{self.labels[1]}: {fmt_raw(raw_b)}",
            f"last {len(self.history)} commands before it (index: command -> {self.labels[0]} reply):",
        ]
        for i, op, raw in self.history:
            lines.append(f"  {i}: {fmt_args(op.args)} -> {fmt_raw(raw, 120)}")
        if self.repro:
            lines.append(f"reproduce: {self.repro}")
        message = "\n".join(lines)
        self.outcome.mismatches.append(message)
        if fatal or not self.keep_going or len(self.outcome.mismatches) >= self.max_mismatches:
            raise Mismatch(message)

    # -- one command -----------------------------------------------------------------------------------------------

    def _io(self, side: int, action: Callable[[RespClient], Any]) -> Any:
        try:
            return action(self.a if side == 0 else self.b)
        except TRANSPORT_ERRORS as e:
            raise _TransportFailure(self.labels[side], e) from None

    def _both(self, args: Sequence[bytes]) -> tuple[Reply, Reply]:
        # Send to both before reading either, so both servers run the command at nearly the same moment.
        self._io(0, lambda c: c.send(*args))
        self._io(1, lambda c: c.send(*args))
        return self._io(0, RespClient.read_reply), self._io(1, RespClient.read_reply)

    def _track_select(self, op: Op, a: Reply) -> None:
        if op.args and op.args[0].upper() == b"SELECT" and a.value == Status(b"OK"):
            try:
                self.db = int(op.args[1])
            except ValueError:
                pass

    def step(self, index: int, op: Op) -> None:
        """Run one op on both servers and compare."""
        if op.kind == "scan":
            self._scan(index, op)
            return
        if op.kind == "cscan":
            self._collection_scan(index, op)
            return
        a, b = self._both(op.args)
        self._track_select(op, a)
        reason = compare(op, a, b)
        if reason is None and op.kind == "randomkey" and a.raw != b.raw:
            reason = self._randomkey_membership(a.value, b.value)
        if reason is None and op.kind in ("random", "spop") and a.raw != b.raw:
            reason = self._random_membership(op, b.value)
        if op.kind == "spop" and a.raw != b.raw:
            # The servers removed different random members: resynchronize by deleting the key on both.
            for side in (0, 1):
                self._io(side, lambda c: c.call("DEL", op.args[1]))
        if reason is not None and op.kind == "dbsize":
            if not self._dbsize_with_expired(a.value, b.value):
                reason = None
        if reason is not None:
            self.report(index, fmt_args(op.args), reason, a.raw, b.raw)
        self.history.append((index, op, a.raw))

    def _contents(self, side: int, key: bytes) -> set | None:
        """Every field, value, member and score of the collection at ``key``, flattened into a set."""
        kind = self._io(side, lambda c: c.call("TYPE", key))
        command = {b"hash": ("HGETALL", key), b"set": ("SMEMBERS", key), b"list": ("LRANGE", key, 0, -1),
                   b"zset": ("ZRANGE", key, 0, -1, "WITHSCORES")}.get(bytes(kind) if kind else b"")
        if command is None:
            return None
        value = self._io(side, lambda c: c.call(*command))
        if isinstance(value, RespMap):
            value = [x for pair in value for x in pair]
        return {_hashable(x) for x in _leaves(value)}

    def _random_membership(self, op: Op, value: Any) -> str | None:
        """The subject's random choice must come from the reference's collection (checked interactively only)."""
        if self.a is None or op.kind == "spop" or not isinstance(value, list):
            return None
        contents = self._contents(0, op.args[1])
        if contents is None:
            return None
        missing = [x for x in _leaves(value) if _hashable(x) not in contents]
        if missing:
            return f"random choice not in the collection: {missing[:5]!r}"
        return None

    def _collection_scan(self, index: int, op: Op) -> None:
        """HSCAN/SSCAN/ZSCAN driven to cursor 0 on each server; the unions (pairs for H/Z) compared."""
        results = []
        for side in (0, 1):
            cursor = b"0"
            seen: set = set()
            raw = b""
            status = "endless"
            for _ in range(100_000):
                args = [op.args[0], op.args[1], cursor, *op.args[3:]]
                reply = self._io(side, lambda c: c.request(*args))
                raw = reply.raw
                v = reply.value
                if isinstance(v, Error):
                    status = "error"
                    break
                if not (isinstance(v, list) and len(v) == 2 and isinstance(v[1], list)):
                    status = "malformed"
                    break
                items = v[1]
                if op.args[0].upper() in (b"HSCAN", b"ZSCAN"):
                    seen.update((bytes(items[i]), bytes(items[i + 1])) for i in range(0, len(items) - 1, 2))
                else:
                    seen.update(bytes(x) for x in items)
                cursor = bytes(v[0])
                if cursor == b"0":
                    status = "ok"
                    break
            results.append((status, seen, raw))
        (sa, seen_a, raw_a), (sb, seen_b, raw_b) = results
        command = fmt_args(op.args) + "  (driven to cursor 0)"
        if sa == "ok" and sb == "ok":
            if seen_a != seen_b:
                self.report(index, command, f"scan unions differ: only in reference {sorted(seen_a - seen_b)[:5]!r}, "
                            f"only in subject {sorted(seen_b - seen_a)[:5]!r}", raw_a, raw_b)
        elif not (sa == sb == "error" and raw_a == raw_b):
            self.report(index, command, f"scan outcome {sa} on reference, {sb} on subject", raw_a, raw_b)
        self.history.append((index, op, raw_a))

    def _randomkey_membership(self, key_a: bytes, key_b: bytes) -> str | None:
        in_b = self._io(1, lambda c: c.call("EXISTS", key_a))
        in_a = self._io(0, lambda c: c.call("EXISTS", key_b))
        if in_a == 1 and in_b == 1:
            return None
        return f"RANDOMKEY answer not in the other keyspace (EXISTS on reference: {in_a!r}, on subject: {in_b!r})"

    def _dbsize_with_expired(self, size_a: Any, size_b: Any) -> bool:
        """Whether two different DBSIZE answers are still a mismatch.

        Redis counts keys whose deadline has passed until they are reclaimed (lazily on access, or by its
        background cycle, whenever that runs): SET with a past EXAT/PXAT leaves such a key. So DBSIZE may exceed the
        number of live keys; the live keys (KEYS *) must still be the same on both servers.
        """
        if not (isinstance(size_a, int) and isinstance(size_b, int)):
            return True
        live_a, live_b = (self._io(side, lambda c: c.call("KEYS", "*")) for side in (0, 1))
        if not (isinstance(live_a, list) and isinstance(live_b, list)):
            return True
        return sorted(live_a) != sorted(live_b) or size_a < len(live_a) or size_b < len(live_b)

    def _drive_scan(self, side: int, op: Op) -> tuple[str, Any, bytes]:
        cursor = b"0"
        seen: set[bytes] = set()
        for _ in range(100_000):
            args = [op.args[0], cursor, *op.args[2:]]
            reply = self._io(side, lambda c: c.request(*args))
            v = reply.value
            if isinstance(v, Error):
                return "error", None, reply.raw
            if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], bytes) and isinstance(v[1], list)
                    and all(isinstance(k, bytes) for k in v[1])):
                return "malformed", None, reply.raw
            seen.update(bytes(k) for k in v[1])
            cursor = bytes(v[0])
            if cursor == b"0":
                return "ok", seen, reply.raw
        return "endless", None, b""

    def _scan(self, index: int, op: Op) -> None:
        sa, keys_a, raw_a = self._drive_scan(0, op)
        sb, keys_b, raw_b = self._drive_scan(1, op)
        command = fmt_args(op.args) + "  (driven to cursor 0)"
        if sa == "ok" and sb == "ok":
            if keys_a != keys_b:
                self.report(index, command,
                            f"SCAN unions differ: only in reference {sorted(keys_a - keys_b)!r}, "
                            f"only in subject {sorted(keys_b - keys_a)!r}", raw_a, raw_b)
        elif sa == "error" and sb == "error":
            if raw_a != raw_b:
                self.report(index, command, "different SCAN errors", raw_a, raw_b)
        else:
            self.report(index, command, f"SCAN outcome {sa} on reference, {sb} on subject", raw_a, raw_b)
        self.history.append((index, op, raw_a))

    # -- whole-state comparison ------------------------------------------------------------------------------------

    def check_state(self, index: int) -> None:
        """Compare every database's keys, types, values and TTLs, then restore the selected database."""
        # A transaction the generator left open would queue the checks: end it on both sides alike (the
        # generator's later EXEC then gets the same "EXEC without MULTI" from both).
        for side in (0, 1):
            self._io(side, lambda c: c.call("DISCARD"))
        for db in DBS:
            for side in (0, 1):
                self._io(side, lambda c: c.call("SELECT", db))
            ka, kb = (self._io(side, lambda c: c.request("KEYS", "*")) for side in (0, 1))
            op = Op([b"KEYS", b"*"], "keys")
            reason = compare(op, ka, kb)
            if reason is not None:
                self.report(index, f"(state check of db {db}) KEYS *", reason, ka.raw, kb.raw)
                continue
            for key in sorted(ka.value):
                checks = [([b"TYPE", key], "exact"), ([b"GET", key], "exact"), ([b"PTTL", key], "ttl_ms"),
                          ([b"OBJECT", b"ENCODING", key], "exact")]
                kind_of_key = self._io(0, lambda c: c.call("TYPE", key))
                content = {b"hash": ([b"HGETALL", key], "pairs"), b"set": ([b"SMEMBERS", key], "unordered"),
                           b"zset": ([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"], "exact"),
                           b"list": ([b"LRANGE", key, b"0", b"-1"], "exact")}.get(bytes(kind_of_key))
                if content is not None:
                    checks.append(content)
                for args, kind in checks:
                    ra, rb = self._both(args)
                    reason = compare(Op(args, kind), ra, rb)
                    if reason is not None:
                        self.report(index, f"(state check of db {db}) {fmt_args(args)}", reason, ra.raw, rb.raw)
        for side in (0, 1):
            self._io(side, lambda c: c.call("SELECT", self.db))

    # -- runs ------------------------------------------------------------------------------------------------------

    def run(self, ops: Iterator[Op] | Sequence[Op], count: int) -> Outcome:
        """Run ``count`` ops one at a time, comparing each reply, with periodic and final state checks."""
        it = iter(ops)
        index = 0
        op = Op([b"(final state check)"])
        try:
            for index in range(count):
                op = next(it)
                self.step(index, op)
                self.outcome.commands += 1
                if self.state_check_every and (index + 1) % self.state_check_every == 0:
                    op = Op([b"(state check)"])
                    self.check_state(index)
            op = Op([b"(final state check)"])
            self.check_state(count)
        except _TransportFailure as e:
            self.report(index, fmt_args(op.args), f"no reply: {e}", b"", b"", fatal=True)
        return self.outcome

    def run_pipelined(self, ops: Iterator[Op] | Sequence[Op], count: int, batch: int = 64) -> Outcome:
        """Like :meth:`run`, but sends ``batch`` commands at a time before reading their replies."""
        it = iter(ops)
        index = 0
        while index < count:
            chunk = [next(it) for _ in range(min(batch, count - index))]
            assert all(op.kind != "scan" for op in chunk), "pipelined runs need a non-interactive generator"
            try:
                self._io(0, lambda c: c.send_many(op.args for op in chunk))
                self._io(1, lambda c: c.send_many(op.args for op in chunk))
                replies_a = [self._io(0, RespClient.read_reply) for _ in chunk]
                replies_b = [self._io(1, RespClient.read_reply) for _ in chunk]
            except _TransportFailure as e:
                commands = " | ".join(fmt_args(op.args) for op in chunk)
                self.report(index, f"(pipeline of {len(chunk)} from this index) {commands}", f"no reply: {e}",
                            b"", b"", fatal=True)
            for op, ra, rb in zip(chunk, replies_a, replies_b):
                self._track_select(op, ra)
                reason = compare(op, ra, rb)
                if reason is not None:
                    self.report(index, fmt_args(op.args) + f"  (in a pipeline of {len(chunk)})", reason,
                                ra.raw, rb.raw)
                self.history.append((index, op, ra.raw))
                index += 1
                self.outcome.commands += 1
        try:
            self.check_state(count)
        except _TransportFailure as e:
            self.report(count, "(final state check)", f"no reply: {e}", b"", b"", fatal=True)
        return self.outcome


def generate(seed: int, *, interactive: bool = True, clock: Callable[[], float] = time.time) -> Iterator[Op]:
    """An endless stream of ops for ``seed`` (absolute expiry times are taken relative to ``clock``)."""
    gen = CommandGenerator(seed, interactive=interactive, clock=clock)
    while True:
        yield gen.next()


def switch_to_resp3(client: RespClient) -> None:
    """Send HELLO 3 and check the reply is a RESP3 map with proto 3 (its server/version fields differ)."""
    reply = client.hello(3)
    if not isinstance(reply, RespMap):
        raise AssertionError(f"HELLO 3 on {client.host}:{client.port} did not answer a RESP3 map: {reply!r}")
    fields = reply.as_dict()
    if fields.get(b"proto") != 3:
        raise AssertionError(f"HELLO 3 answered proto {fields.get(b'proto')!r}: {reply!r}")


def run_differential(reference: RespClient, subject: RespClient, *, seed: int, count: int, protocol: int = 2,
                     pipeline: bool = False, keep_going: bool = False, labels: tuple[str, str] = ("reference",
                                                                                               "subject"),
                     repro: str = "") -> Outcome:
    """One seeded run over two fresh connections; raises :class:`Mismatch` unless ``keep_going``."""
    if protocol == 3:
        switch_to_resp3(reference)
        switch_to_resp3(subject)
    runner = DifferentialRunner(reference, subject, seed=seed, protocol=protocol, labels=labels,
                                keep_going=keep_going, repro=repro)
    ops = generate(seed, interactive=not pipeline)
    if pipeline:
        return runner.run_pipelined(ops, count)
    return runner.run(ops, count)


def main(argv: Sequence[str] | None = None) -> int:
    from servers import start_server

    p = argparse.ArgumentParser(description="Differential test: redis-server vs neptune-server")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--resp3", action="store_true")
    p.add_argument("--pipeline", action="store_true")
    p.add_argument("--keep-going", action="store_true", help="report every mismatch instead of stopping")
    p.add_argument("--subject", choices=("neptune", "redis"), default="neptune",
                   help="'redis' runs Redis against Redis (checks the harness)")
    p.add_argument("--print", dest="print_ops", action="store_true", help="only print the generated commands")
    args = p.parse_args(argv)
    if args.print_ops:
        for i, op in zip(range(args.count), generate(args.seed, interactive=not args.pipeline)):
            print(f"{i}: {fmt_args(op.args)}  [{op.kind}]")
        return 0
    servers = [start_server("redis"), start_server(args.subject)]
    try:
        a, b = servers[0].client(), servers[1].client()
        try:
            outcome = run_differential(a, b, seed=args.seed, count=args.count, protocol=3 if args.resp3 else 2,
                                       pipeline=args.pipeline, keep_going=args.keep_going,
                                       labels=(servers[0].name, servers[1].name))
        except Mismatch as e:
            print(e)
            for s in servers:
                if not s.alive():
                    print(f"{s.name} is no longer running (exit status {s.proc.returncode}):\n{s.output()}")
            return 1
        for m in outcome.mismatches:
            print(m, end="\n\n")
        print(f"{outcome.commands} commands, {len(outcome.mismatches)} mismatches")
        return 1 if outcome.mismatches else 0
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
