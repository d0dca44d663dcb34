"""Start and stop redis-server and neptune-server processes on free loopback ports.

Used by conftest.py (pytest fixtures) and by differential.py's command line (to reproduce a failing seed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

from resp_client import Error, RespClient, Status

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NEPTUNE = REPO_ROOT / ".build" / "debug" / "neptune-server"
HOST = "127.0.0.1"

#: How long a server may take to answer PING after it was started (a debug build can be slow to start).
START_TIMEOUT = float(os.environ.get("NEPTUNE_START_TIMEOUT", "30"))
#: How long a server may take to exit after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT = 10.0


class ServerError(Exception):
    """A server could not be found, started or stopped cleanly."""


def redis_server_path() -> str:
    """The redis-server binary from PATH, or a ServerError saying how to get it."""
    path = shutil.which("redis-server")
    if path is None:
        raise ServerError(
            "redis-server is not on PATH: the integration tests compare Neptune with Redis 7 "
            "(Debian: apt-get install redis-server)"
        )
    return path


def neptune_server_path() -> str:
    """The neptune-server binary: env NEPTUNE_SERVER, else .build/debug/neptune-server in the repository."""
    override = os.environ.get("NEPTUNE_SERVER")
    candidate = override or str(DEFAULT_NEPTUNE)
    resolved = shutil.which(candidate) if os.sep not in candidate else candidate
    if resolved is None or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        how = "env NEPTUNE_SERVER" if override else "the default path"
        raise ServerError(
            f"neptune-server binary not found at {candidate!r} ({how}): build it first with "
            "`swift build --product neptune-server`, or set NEPTUNE_SERVER=<path to binary>"
        )
    return resolved


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def redis_version() -> str:
    """The output of ``redis-server --version`` (for the pytest header)."""
    try:
        return subprocess.run(
            [redis_server_path(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (ServerError, OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e})"


class ServerProcess:
    """One server process listening on a loopback port, with its output captured to files.

    ``kind`` is ``"redis"`` or ``"neptune"``; ``extra_args`` are redis-server style flags (``--requirepass x``).
    """

    def __init__(self, kind: str, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        if kind not in ("redis", "neptune"):
            raise ValueError(f"unknown server kind {kind!r}")
        self.kind = kind
        self.binary = redis_server_path() if kind == "redis" else neptune_server_path()
        self.workdir = Path(workdir)
        self.extra_args = list(extra_args)
        self.host = HOST
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.password: str | None = None
        if "--requirepass" in self.extra_args:
            self.password = self.extra_args[self.extra_args.index("--requirepass") + 1]
        self.stopped = False

    @property
    def name(self) -> str:
        """A short label for messages: kind and port."""
        return f"{self.kind}-server:{self.port}"

    @property
    def is_redis_binary(self) -> bool:
        """Whether the binary is a redis-server (also true for the self-check NEPTUNE_SERVER=redis-server)."""
        return "redis-server" in os.path.basename(self.binary)

    def argv(self, port: int) -> list[str]:
        """The command line for this server on ``port``."""
        args = [self.binary, "--port", str(port), "--bind", HOST, "--dir", str(self.workdir), "--save", ""]
        if self.is_redis_binary:
            args += ["--appendonly", "no", "--daemonize", "no"]
        return args + self.extra_args

    def start(self) -> "ServerProcess":
        """Start on a free port and wait until PING is answered; retry on another port if the port was taken."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        for _attempt in range(3):
            port = free_port()
            try:
                self._launch(port)
                return self
            except ServerError as e:
                last_error = e
                if "Address already in use" not in self.output():
                    raise
        raise ServerError(f"{self.kind}-server could not get a free port: {last_error}")

    def _launch(self, port: int) -> None:
        self.port = port
        self.stdout_path = self.workdir / f"{self.kind}-{port}.stdout"
        self.stderr_path = self.workdir / f"{self.kind}-{port}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv(port), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        last = "no attempt"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerError(
                    f"{self.kind}-server exited with status {code} before answering PING.\n"
                    f"command: {self.argv(port)}\n{self.output()}"
                )
            try:
                with RespClient(HOST, port, timeout=2.0) as c:
                    reply = c.call("PING")
                # With requirepass, a NOAUTH error still proves the server is up and speaking RESP.
                if reply == Status(b"PONG") or (isinstance(reply, Error) and reply.prefix == b"NOAUTH"):
                    return
                last = f"PING answered {reply!r}"
            except Exception as e:  # noqa: BLE001 - any failure here means "not ready yet"
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.05)
        self._kill()
        raise ServerError(
            f"{self.kind}-server did not answer PING within {START_TIMEOUT}s (last attempt: {last}).\n"
            f"command: {self.argv(port)}\n{self.output()}"
        )

    def output(self, limit: int = 4000) -> str:
        """The tail of the server's captured stdout and stderr."""
        parts = []
        for label, path in (("stdout", getattr(self, "stdout_path", None)),
                            ("stderr", getattr(self, "stderr_path", None))):
            if path is None or not path.exists():
                continue
            data = path.read_bytes()[-limit:].decode(errors="replace")
            parts.append(f"--- {self.kind}-server {label} (tail) ---\n{data}")
        return "\n".join(parts)

    def client(self, timeout: float = 10.0, auth: bool = True) -> RespClient:
        """A new raw client connection; authenticated when the server has a password and ``auth`` is true."""
        c = RespClient(self.host, self.port, timeout=timeout)
        if auth and self.password is not None:
            reply = c.call("AUTH", self.password)
            if reply != Status(b"OK"):
                raise ServerError(f"AUTH failed on {self.name}: {reply!r}")
        return c

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
        return self.proc.returncode

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


def start_server(kind: str, extra_args: Sequence[str] = (), workdir: Path | None = None) -> ServerProcess:
    """Start a server of ``kind`` in ``workdir`` (a new temporary folder if None)."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix=f"neptune-it-{kind}-"))
    return ServerProcess(kind, workdir, extra_args).start()
