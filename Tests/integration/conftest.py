"""Fixtures for the integration tests: fresh redis-server and neptune-server processes on free loopback ports.

Run from the repository root after `swift build --product neptune-server`:

    python3 -m pytest Tests/integration

Environment:
- NEPTUNE_SERVER: path of the neptune-server binary (default .build/debug/neptune-server). Pointing it at
  redis-server runs the whole suite Redis-against-Redis, which checks the harness itself.
- NEPTUNE_LONG_TESTS=1: many more differential commands.
- NEPTUNE_START_TIMEOUT: seconds a server may take to answer its first PING (default 30).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resp_client import Error, RespClient, RespMap, Status  # noqa: E402,F401 - re-exported for the tests
from servers import ServerError, ServerProcess, neptune_server_path, redis_server_path, redis_version  # noqa: E402


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        neptune = neptune_server_path()
    except ServerError as e:
        neptune = f"missing ({e})"
    return [f"reference: {redis_version()}", f"neptune-server: {neptune}"]


StartServer = Callable[..., ServerProcess]


class _Launcher:
    """Starts servers into a folder and stops them all (by PID) at the end of a fixture's scope."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[ServerProcess] = []

    def __call__(self, kind: str, *extra_args: str) -> ServerProcess:
        server = ServerProcess(kind, self.root / f"{kind}-{len(self.started)}", extra_args)
        self.started.append(server)
        error = None
        try:
            server.start()
        except ServerError as e:
            server.stopped = True  # reported here; not again as "died during the test"
            error = str(e)
        if error is not None:
            pytest.fail(error, pytrace=False)
        return server

    def finish(self) -> None:
        died = [s for s in self.started if s.proc is not None and not s.stopped and not s.alive()]
        for s in self.started:
            s.stop()
        if died:
            details = "\n".join(f"{s.name} exited with status {s.proc.returncode}\n{s.output()}" for s in died)
            pytest.fail(f"server process died during the test:\n{details}", pytrace=False)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """A factory: ``start_server("redis" | "neptune", *extra_flags)`` starts a fresh server and returns it.

    Every server started is stopped by PID at teardown (SIGTERM, then SIGKILL). A server that died during the test
    (rather than being stopped by it) fails the test at teardown with its captured output.
    """
    launcher = _Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.finish()


@pytest.fixture(scope="module")
def module_server_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """``(reference, subject)`` shared by the tests of one module (for many small independent checks)."""
    launcher = _Launcher(tmp_path_factory.mktemp("servers"))
    try:
        yield launcher("redis"), launcher("neptune")
    finally:
        launcher.finish()


@pytest.fixture
def redis_server(start_server: StartServer) -> ServerProcess:
    """A fresh redis-server (the reference)."""
    return start_server("redis")


@pytest.fixture
def neptune_server(start_server: StartServer) -> ServerProcess:
    """A fresh neptune-server (the system under test)."""
    return start_server("neptune")


@pytest.fixture(params=["redis", "neptune"])
def any_server(request: pytest.FixtureRequest, start_server: StartServer) -> ServerProcess:
    """Each test using this runs against both servers: Redis proves the test itself, Neptune is checked by it."""
    return start_server(request.param)


@pytest.fixture
def server_pair(start_server: StartServer) -> tuple[ServerProcess, ServerProcess]:
    """``(reference, subject)``: a fresh redis-server and a fresh neptune-server."""
    return start_server("redis"), start_server("neptune")


__all__ = ["Error", "RespClient", "RespMap", "Status", "redis_server_path"]
