"""Shared helpers of the reliability tests: a raw socket server, the fault matrix, resources.

Used by ``test_fault_matrix.py``, ``test_soak.py`` and ``test_hostile.py``, and by
``scripts/fault_matrix_report.py`` and ``scripts/soak.py`` (which put ``tests/`` on
``sys.path``). ``FakePostpress`` produces most faults; ``RawServer`` produces the ones an HTTP
framework will not: a TCP reset at a chosen byte, a body that stalls or never ends, a reply
that is not HTTP at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import json
import os
import random
import socket
import ssl
import struct
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import postpress_async as pp
from postpress_async.testing import FakePostpress

KEY = "pp_live_reliability_SECRET_7f3a"
"""The API key every reliability test uses; it must reach only the base_url's origin."""

PREFIX = "/api/v1"
EXAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "example_chat.json").read_text("utf-8")
)
EXAMPLE_ID: str = EXAMPLE["id"]
EXAMPLE_BODY = json.dumps(EXAMPLE).encode()


# -- process resources ------------------------------------------------------------------------


def open_fds() -> int:
    """File descriptors open in this process (Linux: ``/proc/self/fd``)."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process now (Linux: ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def padded_chat(size: int) -> bytes:
    """The example chat as exactly ``size`` bytes of valid JSON (padded with spaces)."""
    assert len(EXAMPLE_BODY) <= size
    return EXAMPLE_BODY[:-1] + b" " * (size - len(EXAMPLE_BODY)) + b"}"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``within`` seconds pass; a hang detector only."""
    give_up = time.monotonic() + within
    for _ in range(100_000):
        if condition():
            return True
        if time.monotonic() > give_up:
            break
        await asyncio.sleep(0.01)
    return condition()


# -- a raw HTTP/1.1 server --------------------------------------------------------------------


@dataclass
class Exchange:
    """One request read by ``RawServer``: its head, and the connection to answer on."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: bytes
    hit: int
    """1 for the first request the server received, 2 for the second, ..."""
    sent: int = 0

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        self.sent += len(data)
        await self.writer.drain()

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def until_client_leaves(self, bound: float = 60.0) -> None:
        """Wait until the client closes its side (or ``bound`` seconds, a safety net)."""
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(self.reader.read(), bound)


Behaviour = Callable[[Exchange], Awaitable[bool]]
"""Answers one request; returns True to keep the connection for another request."""


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 written on bare asyncio streams: any byte, any time.

    It reads each request head and hands it to ``behaviour``. It counts requests (``hits``),
    keeps their heads, and knows which connections the client has not closed yet.
    """

    def __init__(
        self, behaviour: Behaviour, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.host = host
        self.hits = 0
        self.heads: list[bytes] = []
        self.connections = 0
        self.open_connections = 0
        self.bytes_sent = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "RawServer is not running"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{PREFIX}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        self.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                self.hits += 1
                self.heads.append(head)
                exchange = Exchange(reader, writer, head, self.hits)
                try:
                    keep = await self.behaviour(exchange)
                except ConnectionError:
                    keep = False
                finally:
                    self.bytes_sent += exchange.sent
                if not keep:
                    break
        except ssl.SSLError:
            pass  # a client that refused our certificate
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._tasks.discard(task)

    async def all_connections_closed(self, within: float = 5.0) -> bool:
        """True once every connection a client opened has been closed by it (or us)."""
        return await eventually(lambda: self.open_connections == 0, within)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()


def response_head(status: int, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A status line and headers, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} Status"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(status: int, body: bytes, *, content_type: str = "application/json") -> Behaviour:
    """Answer every request with a complete response, keeping the connection alive."""
    head = response_head(
        status, [("Content-Type", content_type), ("Content-Length", f"{len(body)}")]
    )

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + body)
        return True

    return behave


def raw_bytes(data: bytes) -> Behaviour:
    """Answer every request with exactly ``data`` (HTTP or not), then close the connection."""

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(data)
        return False

    return behave


async def reset_before_status_line(exchange: Exchange) -> bool:
    """Read the request, then abort the connection (RST) without a byte of response."""
    exchange.reset()
    return False


def after_one_success(behaviour: Behaviour) -> Behaviour:
    """Serve the example chat (keep-alive) to the first request, then act as ``behaviour``."""
    serve = reply(200, EXAMPLE_BODY)

    async def behave(exchange: Exchange) -> bool:
        return await (serve if exchange.hit == 1 else behaviour)(exchange)

    return behave


def reset_mid_body(body: bytes) -> Behaviour:
    """Declare the whole body's length, send half of it, then abort the connection (RST)."""
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", f"{len(body)}")]
    )

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + body[: len(body) // 2])
        await asyncio.sleep(0.05)  # let the client read the head before the reset
        exchange.reset()
        return False

    return behave


def stall_mid_body(body: bytes) -> Behaviour:
    """Send the head and the first bytes of the body, then nothing until the client leaves."""
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", f"{len(body)}")]
    )

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + body[:10])
        await exchange.until_client_leaves()
        return False

    return behave


def chunked(body: bytes, pieces: int = 7) -> Behaviour:
    """A chunked response: ``body`` in ``pieces`` chunks, connection kept alive."""
    head = response_head(
        200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
    )
    size = -(-len(body) // pieces)

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head)
        for start in range(0, len(body), size):
            piece = body[start : start + size]
            await exchange.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        await exchange.send(b"0\r\n\r\n")
        return True

    return behave


ENDLESS_BOUND = 256 * 1024 * 1024
"""An endless body stops here anyway, so a client that never stops reading fails, not hangs."""


def endless_body(*, framing: str) -> Behaviour:
    """A body with no end: ``framing`` "chunked", or "eof" (no length, ``Connection: close``)."""
    if framing == "chunked":
        head = response_head(
            200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        )
    else:
        head = response_head(200, [("Content-Type", "application/json"), ("Connection", "close")])
    block = b" " * 65536
    piece = b"%x\r\n%s\r\n" % (len(block), block) if framing == "chunked" else block

    opening = b'{"object": "Chat", "padding": "'
    if framing == "chunked":
        opening = b"%x\r\n%s\r\n" % (len(opening), opening)

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + opening)
        while exchange.sent < ENDLESS_BOUND:
            await exchange.send(piece)
        return False

    return behave


# -- connection hygiene -----------------------------------------------------------------------


def pooled_protocols(client: pp.AsyncPostpress) -> list[Any]:
    """The connections the client's own connector holds (idle and in use).

    The connector is private to the SDK; this is the one place the tests look inside it.
    """
    session = client._transport._session
    if session is None:
        return []
    connector: Any = session.connector
    idle = [proto for conns in connector._conns.values() for proto, _ in conns]
    return idle + list(connector._acquired)


def connector_of(client: pp.AsyncPostpress) -> Any:
    """The client's aiohttp connector, or None before the first request."""
    session = client._transport._session
    return None if session is None else session.connector


def unclosed_protocols(protocols: Sequence[Any]) -> list[Any]:
    """Those of ``protocols`` whose transport is still open."""
    return [p for p in protocols if p.transport is not None and not p.transport.is_closing()]


# -- the fault matrix -------------------------------------------------------------------------


@dataclass
class Target:
    """What a row's setup started: where to send the request, and how to count what arrived."""

    base_url: str
    chat_id: str
    hits: Callable[[], int]
    raw: RawServer | None = None
    idle: Callable[[], bool] = lambda: True
    """True once the server has nothing in flight and no connection from the client open."""
    expected_chat_id: str = EXAMPLE_ID
    checks: list[Callable[[Observation], str | None]] = field(default_factory=list)


Setup = Callable[[contextlib.AsyncExitStack], Awaitable[Target]]

Count = int | tuple[int, int]
"""An exact count, or an inclusive range where timing decides (a deadline)."""

DEFAULT_TIMEOUT = pp.Timeout(attempt=5.0, connect=2.0, deadline=10.0)


@dataclass(frozen=True)
class Row:
    """One fault: what the server does, and what the SDK must make of it."""

    name: str
    behaviour: str
    setup: Setup = field(repr=False)
    expect: type[pp.PostpressError] | None
    """The exact exception class, or None for success."""
    attempts: Count
    """Attempts the SDK makes (``exc.attempts``; on success, retry waits + 1)."""
    hits: Count
    """Requests the server receives."""
    timeout: pp.Timeout = DEFAULT_TIMEOUT
    max_retries: int = 2
    retry_after_max: float = 30.0
    client: dict[str, Any] = field(default_factory=dict)
    warm: bool = False
    """Fetch once successfully first, so the fault meets a reused keep-alive connection."""
    note: str = ""

    @property
    def slug(self) -> str:
        """The row's name as a test id."""
        words = "".join(ch if ch.isalnum() else " " for ch in self.name.lower()).split()
        return "_".join(words)


@dataclass
class Observation:
    """What running a row produced, and every way it differed from the row."""

    row: Row
    chat: pp.Chat | None = None
    error: BaseException | None = None
    waits: list[float] = field(default_factory=list)
    hits: int = 0
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "success" if self.error is None else type(self.error).__name__

    @property
    def attempts(self) -> int:
        """Attempts made: one more than the retry waits."""
        return len(self.waits) + 1


def _in(value: int, expected: Count) -> bool:
    if isinstance(expected, tuple):
        return expected[0] <= value <= expected[1]
    return value == expected


def show_count(expected: Count) -> str:
    return f"{expected[0]}-{expected[1]}" if isinstance(expected, tuple) else str(expected)


async def run_row(row: Row) -> Observation:
    """Run one row against a real local server; ``problems`` lists every deviation."""
    gc.collect()
    fds_before = open_fds()
    tasks_before = asyncio.all_tasks()
    seen = Observation(row)

    async def fake_sleep(seconds: float) -> None:
        seen.waits.append(seconds)

    policy = pp.RetryPolicy(
        max_retries=row.max_retries,
        backoff_initial=0.01,
        backoff_max=0.1,
        retry_after_max=row.retry_after_max,
        sleep=fake_sleep,
    )
    limit = (row.timeout.deadline or 60.0) + 5.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with contextlib.AsyncExitStack() as stack:
            target = await row.setup(stack)
            client = pp.AsyncPostpress(
                KEY, base_url=target.base_url, retry=policy, timeout=row.timeout, **row.client
            )
            warm_hits = 0
            if row.warm:
                await client.chats.retrieve(target.chat_id)
                warm_hits = target.hits()
            started = time.monotonic()
            try:
                seen.chat = await asyncio.wait_for(client.chats.retrieve(target.chat_id), limit)
            except asyncio.TimeoutError:
                seen.problems.append(f"hang: no outcome within {limit:.0f} s")
            except Exception as exc:
                seen.error = exc
            seen.elapsed = time.monotonic() - started
            connector = connector_of(client)
            protocols = pooled_protocols(client)
            await client.aclose()
            seen.hits = target.hits() - warm_hits
            if connector is not None and not connector.closed:
                seen.problems.append("connector still open after aclose()")
            if unclosed_protocols(protocols):
                seen.problems.append(f"{len(unclosed_protocols(protocols))} connections open")
            if not await eventually(target.idle):
                seen.problems.append("the server still has a request or connection from the client")
            _check_outcome(seen, target)
            for check in target.checks:
                problem = check(seen)
                if problem:
                    seen.problems.append(problem)
            del client, connector, protocols
        gc.collect()
    for warning in caught:
        seen.problems.append(f"warning: {warning.category.__name__}: {warning.message}")
    if not await eventually(lambda: open_fds() <= fds_before):
        seen.problems.append(f"file descriptors: {fds_before} before, {open_fds()} after")
    current = asyncio.current_task()
    if not await eventually(lambda: not (asyncio.all_tasks() - tasks_before - {current})):
        seen.problems.append(f"tasks left: {asyncio.all_tasks() - tasks_before - {current}}")
    return seen


def _check_outcome(seen: Observation, target: Target) -> None:
    row = seen.row
    if row.expect is None:
        if seen.error is not None:
            seen.problems.append(f"expected success, got {type(seen.error).__name__}: {seen.error}")
        elif seen.chat is not None and seen.chat.id != target.expected_chat_id:
            seen.problems.append(f"got chat {seen.chat.id!r}, not {target.expected_chat_id!r}")
    elif type(seen.error) is not row.expect:
        got = "success" if seen.error is None else f"{type(seen.error).__name__}: {seen.error}"
        seen.problems.append(f"expected {row.expect.__name__}, got {got}")
    if not _in(seen.attempts, row.attempts):
        seen.problems.append(f"attempts: expected {show_count(row.attempts)}, saw {seen.attempts}")
    if isinstance(seen.error, pp.PostpressError) and seen.error.attempts != seen.attempts:
        seen.problems.append(
            f"exc.attempts is {seen.error.attempts}, but {seen.attempts} attempts were made"
        )
    if not _in(seen.hits, row.hits):
        seen.problems.append(f"server hits: expected {show_count(row.hits)}, saw {seen.hits}")
    limit = (row.timeout.deadline or 60.0) + 5.0
    if seen.elapsed >= limit:
        seen.problems.append(f"took {seen.elapsed:.1f} s, deadline + 5 s is {limit:.0f} s")


# -- row setups -------------------------------------------------------------------------------


def fake(configure: Callable[[FakePostpress], object]) -> Setup:
    """A FakePostpress serving the example chat, with ``configure`` applied (faults)."""

    async def setup(stack: contextlib.AsyncExitStack) -> Target:
        server = await stack.enter_async_context(FakePostpress(api_key=KEY))
        server.add_chat(EXAMPLE)
        configure(server)
        return Target(
            server.base_url,
            EXAMPLE_ID,
            lambda: server.request_count,
            idle=lambda: server.in_flight == 0,
        )

    return setup


def raw(behaviour: Behaviour) -> Setup:
    """A RawServer answering with ``behaviour``."""

    async def setup(stack: contextlib.AsyncExitStack) -> Target:
        server = await stack.enter_async_context(RawServer(behaviour))
        return Target(
            server.base_url,
            EXAMPLE_ID,
            lambda: server.hits,
            raw=server,
            idle=lambda: server.open_connections == 0,
        )

    return setup


async def _refused(stack: contextlib.AsyncExitStack) -> Target:
    return Target(f"http://127.0.0.1:{closed_port()}{PREFIX}", EXAMPLE_ID, lambda: 0)


def _waits_are(expected: list[float]) -> Callable[[Observation], str | None]:
    def check(seen: Observation) -> str | None:
        if seen.waits != expected:
            return f"retry waits: expected {expected}, saw {seen.waits}"
        return None

    return check


def _with_waits(setup: Setup, expected: list[float]) -> Setup:
    async def wrapped(stack: contextlib.AsyncExitStack) -> Target:
        target = await setup(stack)
        target.checks.append(_waits_are(expected))
        return target

    return wrapped


def _proxy_page(status: int) -> Setup:
    page = f"<html><body><h1>{status}</h1>nginx</body></html>"

    def configure(server: FakePostpress) -> None:
        server.fail(status=status, body=page, times=None)

    async def setup(stack: contextlib.AsyncExitStack) -> Target:
        target = await fake(configure)(stack)

        def check(seen: Observation) -> str | None:
            error = seen.error
            if not isinstance(error, pp.APIStatusError):
                return None
            if error.type is not None or not error.body.startswith(b"<html>"):
                return f"proxy page: .type={error.type!r}, .body={error.body[:20]!r}"
            return None

        target.checks.append(check)
        return target

    return setup


def _served(body: bytes, **fault: Any) -> Setup:
    """Serve ``body`` with status 200 for the example id (a fault that never runs out)."""

    def configure(server: FakePostpress) -> None:
        server.fail(EXAMPLE_ID, status=200, body=body, times=None, **fault)

    return fake(configure)


def _endless(framing: str) -> Setup:
    async def setup(stack: contextlib.AsyncExitStack) -> Target:
        target = await raw(endless_body(framing=framing))(stack)
        server = target.raw
        assert server is not None

        def check(seen: Observation) -> str | None:
            # The client must stop reading and close, not drain the stream to its end.
            if server.bytes_sent >= ENDLESS_BOUND:
                return f"the client read all {server.bytes_sent} bytes of an endless body"
            return None

        target.checks.append(check)
        return target

    return setup


async def _same_origin_redirect(stack: contextlib.AsyncExitStack) -> Target:
    server = await stack.enter_async_context(FakePostpress(api_key=KEY))
    server.add_chat(EXAMPLE)
    server.add_chat({**EXAMPLE, "id": "chat_moved"})
    server.fail(EXAMPLE_ID, status=301, redirect_to=f"{PREFIX}/chats/chat_moved")

    def check(seen: Observation) -> str | None:
        keys = [r.headers.get("X-API-KEY") for r in server.requests]
        return None if keys == [KEY, KEY] else f"the key was not sent on both hops: {keys}"

    return Target(
        server.base_url,
        EXAMPLE_ID,
        lambda: server.request_count,
        expected_chat_id="chat_moved",
        idle=lambda: server.in_flight == 0,
        checks=[check],
    )


def _cross_origin_redirect(other_host: str | None) -> Setup:
    """307 to another origin: another port (a second server) or this one under another name."""

    async def setup(stack: contextlib.AsyncExitStack) -> Target:
        server = await stack.enter_async_context(FakePostpress(api_key=KEY))
        server.add_chat(EXAMPLE)
        if other_host is None:
            other = await stack.enter_async_context(FakePostpress(api_key=KEY))
            other.add_chat(EXAMPLE)
            location = other.chat_url(EXAMPLE_ID)
        else:
            other = server
            location = f"http://{other_host}:{server.port}{PREFIX}/chats/{EXAMPLE_ID}"
        server.fail(EXAMPLE_ID, status=307, redirect_to=location, times=None)

        def check(seen: Observation) -> str | None:
            strays = [r for r in other.requests if r.raw_path.endswith(EXAMPLE_ID)]
            if other is server:
                strays = strays[1:]  # the first request is the one that was redirected
            if strays:
                return f"the other origin received {len(strays)} request(s)"
            if isinstance(seen.error, pp.PostpressError) and KEY in str(seen.error):
                return "the key is in the error message"
            return None

        return Target(
            server.base_url,
            EXAMPLE_ID,
            lambda: server.request_count,
            idle=lambda: server.in_flight == 0 and other.in_flight == 0,
            checks=[check],
        )

    return setup


def _gzip(size: int) -> bytes:
    return gzip.compress(padded_chat(size), compresslevel=9)


SLOW = pp.Timeout(attempt=0.3, connect=2.0, deadline=10.0)
SLOW_READ = pp.Timeout(attempt=5.0, connect=2.0, read=0.3, deadline=10.0)
TIGHT_DEADLINE = pp.Timeout(attempt=0.25, connect=2.0, deadline=0.6)
CAP = 64 * 1024
BOMB = 32 * 1024 * 1024

ROWS: list[Row] = [
    Row(
        "connection refused",
        "nothing listens on the port",
        _refused,
        pp.APIConnectionError,
        attempts=3,
        hits=0,
    ),
    Row(
        "reset before the status line",
        "reads the request, then aborts the connection (TCP RST)",
        raw(reset_before_status_line),
        pp.APIConnectionError,
        attempts=3,
        hits=6,
        note="aiohttp resends an idempotent request once by itself when the connection dies "
        "before a response: 2 server hits per SDK attempt",
    ),
    Row(
        "reset on a reused connection",
        "serves one request on a keep-alive connection, resets the next one and all after",
        raw(after_one_success(reset_before_status_line)),
        pp.APIConnectionError,
        attempts=3,
        hits=6,
        warm=True,
        note="the same doubling on a pooled connection (hits counted after the first success)",
    ),
    Row(
        "closed before the status line",
        "FakePostpress fail(drop=True): closes the connection (FIN) without a response",
        fake(lambda s: s.fail(drop=True, times=None)),
        pp.APIConnectionError,
        attempts=3,
        hits=6,
        note="as above: aiohttp's own resend doubles the hits",
    ),
    Row(
        "reset mid-body",
        "declares Content-Length, sends half the body, then a TCP RST",
        raw(reset_mid_body(EXAMPLE_BODY)),
        pp.APIConnectionError,
        attempts=3,
        hits=3,
    ),
    Row(
        "body shorter than Content-Length",
        "FakePostpress fail(truncate=True): half the declared body, then FIN",
        fake(lambda s: s.fail(truncate=True, times=None)),
        pp.APIConnectionError,
        attempts=3,
        hits=3,
    ),
    Row(
        "short body once, then the chat",
        "fail(truncate=True, times=1), then a normal response",
        fake(lambda s: s.fail(truncate=True, times=1)),
        None,
        attempts=2,
        hits=2,
    ),
    Row(
        "slow headers",
        "no response head for 30 s; Timeout(attempt=0.3)",
        fake(lambda s: s.fail(latency=30, times=None)),
        pp.APITimeoutError,
        attempts=3,
        hits=3,
        timeout=SLOW,
    ),
    Row(
        "slow headers, deadline first",
        "no response head for 30 s; Timeout(attempt=0.25, deadline=0.6), max_retries=10",
        fake(lambda s: s.fail(latency=30, times=None)),
        pp.APITimeoutError,
        attempts=(2, 4),
        hits=(2, 4),
        timeout=TIGHT_DEADLINE,
        max_retries=10,
        note="the deadline, not max_retries, ends the call; the count depends on timing",
    ),
    Row(
        "slow body",
        "head and 10 body bytes, then silence; Timeout(read=0.3)",
        raw(stall_mid_body(EXAMPLE_BODY)),
        pp.APITimeoutError,
        attempts=3,
        hits=3,
        timeout=SLOW_READ,
    ),
    Row(
        "503 storm with Retry-After",
        "every request: 503 errors/service_unavailable, Retry-After: 1",
        _with_waits(
            fake(
                lambda s: s.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, retry_after=1, times=None)
            ),
            [1.0, 1.0],
        ),
        pp.ServiceUnavailableError,
        attempts=3,
        hits=3,
    ),
    Row(
        "503 storm that passes",
        "two 503 errors/no_client_session with Retry-After: 1, then the chat",
        _with_waits(
            fake(lambda s: s.fail(error=pp.ErrorType.NO_CLIENT_SESSION, retry_after=1, times=2)),
            [1.0, 1.0],
        ),
        None,
        attempts=3,
        hits=3,
    ),
    Row(
        "Retry-After beyond the deadline",
        "503 errors/network_down, Retry-After: 30; deadline 10 s, retry_after_max=60",
        fake(lambda s: s.fail(error=pp.ErrorType.NETWORK_DOWN, retry_after=30, times=None)),
        pp.ServiceUnavailableError,
        attempts=1,
        hits=1,
        retry_after_max=60.0,
        note="waiting would end past the deadline, so the call fails at once instead of sleeping",
    ),
    Row(
        "429 with a huge Retry-After",
        "every request: 429, Retry-After: 3600; retry_after_max=2",
        _with_waits(fake(lambda s: s.fail(status=429, retry_after=3600, times=None)), [2.0, 2.0]),
        pp.RateLimitError,
        attempts=3,
        hits=3,
        retry_after_max=2.0,
    ),
    Row(
        "502 HTML from a proxy",
        "every request: 502 with an nginx HTML page",
        _proxy_page(502),
        pp.ServerError,
        attempts=3,
        hits=3,
    ),
    Row(
        "504 HTML from a proxy",
        "every request: 504 with an nginx HTML page",
        _proxy_page(504),
        pp.GatewayTimeoutError,
        attempts=3,
        hits=3,
    ),
    Row(
        "not HTTP at all",
        "answers `SSH-2.0-OpenSSH_9.6` and closes",
        raw(raw_bytes(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")),
        pp.APIConnectionError,
        attempts=3,
        hits=3,
    ),
    Row(
        "200 with invalid JSON",
        "200, application/json, body `{not json`",
        _served(b"{not json", content_type="application/json"),
        pp.ResponseDecodeError,
        attempts=1,
        hits=1,
    ),
    Row(
        "200 with JSON that is not a chat",
        '200, body `{"hello": "world"}`',
        _served(b'{"hello": "world"}', content_type="application/json"),
        pp.ResponseDecodeError,
        attempts=1,
        hits=1,
    ),
    Row(
        "huge body with Content-Length",
        "200 with a 2 MiB body and its Content-Length; max_response_size=64 KiB",
        _served(padded_chat(2 * 1024 * 1024), content_type="application/json"),
        pp.ResponseTooLargeError,
        attempts=1,
        hits=1,
        client={"max_response_size": CAP},
    ),
    Row(
        "huge body, chunked, endless",
        "200, Transfer-Encoding: chunked, chunks that never end; max_response_size=64 KiB",
        _endless("chunked"),
        pp.ResponseTooLargeError,
        attempts=1,
        hits=1,
        client={"max_response_size": CAP},
    ),
    Row(
        "huge body, no length, endless",
        "200, no Content-Length, Connection: close, bytes that never end; max 64 KiB",
        _endless("eof"),
        pp.ResponseTooLargeError,
        attempts=1,
        hits=1,
        client={"max_response_size": CAP},
    ),
    Row(
        "gzip bomb",
        "200, Content-Encoding: gzip, 32 KiB on the wire that inflate to 32 MiB; max 1 MiB",
        _served(_gzip(BOMB), content_type="application/json", headers={"Content-Encoding": "gzip"}),
        pp.ResponseTooLargeError,
        attempts=1,
        hits=1,
        client={"max_response_size": 1024 * 1024},
        note="the cap applies to the decoded body, not to the bytes on the wire",
    ),
    Row(
        "gzip-encoded body",
        "200, Content-Encoding: gzip, the chat",
        _served(
            gzip.compress(EXAMPLE_BODY),
            content_type="application/json",
            headers={"Content-Encoding": "gzip"},
        ),
        None,
        attempts=1,
        hits=1,
    ),
    Row(
        "chunked body",
        "200, Transfer-Encoding: chunked, the chat in 7 chunks",
        raw(chunked(EXAMPLE_BODY)),
        None,
        attempts=1,
        hits=1,
    ),
    Row(
        "redirect loop",
        "every request: 302 to itself; max_redirects=5",
        fake(lambda s: s.fail(status=302, redirect_to=s.chat_url(EXAMPLE_ID), times=None)),
        pp.APIStatusError,
        attempts=1,
        hits=6,
        note="the first request and 5 redirects",
    ),
    Row(
        "same-origin redirect",
        "301 to /api/v1/chats/chat_moved on the same origin",
        _same_origin_redirect,
        None,
        attempts=1,
        hits=2,
    ),
    Row(
        "cross-origin redirect (other port)",
        "307 to the same path on a second server; it must get nothing",
        _cross_origin_redirect(None),
        pp.APIStatusError,
        attempts=1,
        hits=1,
    ),
    Row(
        "cross-origin redirect (no host)",
        "302 to `file:///etc/passwd`: a scheme without a host is another origin, so refused",
        fake(lambda s: s.fail(status=302, redirect_to="file:///etc/passwd", times=None)),
        pp.APIStatusError,
        attempts=1,
        hits=1,
    ),
    Row(
        "cross-origin redirect (other host name)",
        "307 to this very server named `localhost`: another origin, so refused",
        _cross_origin_redirect("localhost"),
        pp.APIStatusError,
        attempts=1,
        hits=1,
    ),
]


# -- the soak ---------------------------------------------------------------------------------

E = pp.ErrorType
PROXY_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

RETRYABLE_FAULTS: dict[str, dict[str, Any]] = {
    "unexpected_error": {"error": E.UNEXPECTED_ERROR},
    "provider_error": {"error": E.PROVIDER_ERROR, "retry_after": 0},
    "no_client_session": {"error": E.NO_CLIENT_SESSION},
    "no_channel": {"error": E.NO_CHANNEL, "retry_after": 0},
    "network_down": {"error": E.NETWORK_DOWN},
    "service_unavailable": {"error": E.SERVICE_UNAVAILABLE, "retry_after": 0},
    "request_timeout": {"error": E.REQUEST_TIMEOUT},
    "429": {"status": 429, "retry_after": 0},
    "429 without Retry-After": {"status": 429},
    "502 HTML": {"status": 502, "body": PROXY_502},
    "dropped connection": {"drop": True},
    "short body": {"truncate": True},
}
"""Faults the SDK must retry: each retryable id of API.md, plus connection failures."""

PERMANENT_FAULTS: dict[str, tuple[dict[str, Any] | None, type[pp.APIStatusError], str]] = {
    "unknown id": (None, pp.NotFoundError, E.RESOURCE_NOT_FOUND),
    "no_handler": ({"error": E.NO_HANDLER}, pp.ServiceUnavailableError, E.NO_HANDLER),
    "authentication_intent_error": (
        {"error": E.AUTHENTICATION_INTENT_ERROR},
        pp.InternalServerError,
        E.AUTHENTICATION_INTENT_ERROR,
    ),
    "account_restricted": (
        {"error": E.ACCOUNT_RESTRICTED},
        pp.PermissionDeniedError,
        E.ACCOUNT_RESTRICTED,
    ),
    "insufficient_permissions": (
        {"error": E.INSUFFICIENT_PERMISSIONS, "retry_after": 0},
        pp.PermissionDeniedError,
        E.INSUFFICIENT_PERMISSIONS,
    ),
    "expired_credentials": (
        {"error": E.EXPIRED_CREDENTIALS},
        pp.AuthenticationError,
        E.EXPIRED_CREDENTIALS,
    ),
}
"""Faults the SDK must not retry: the class and ``.type`` each must be reported with."""


@dataclass
class Planned:
    """What one id of the soak is set up to do."""

    kind: str
    """"ok", a key of RETRYABLE_FAULTS, or a key of PERMANENT_FAULTS."""
    times: int = 0
    """How many requests the fault answers before the id is served normally."""
    fault_kwargs: dict[str, Any] | None = None
    error_class: type[pp.APIStatusError] | None = None
    error_type: str = ""
    fault: Any = None
    """The ``Fault`` that FakePostpress returned, once registered."""

    @property
    def hits(self) -> int:
        """Requests this id must cost: one, plus one per retried failure."""
        return self.times + 1 if self.error_class is None else 1


class SoakPlan:
    """``n`` ids: ~10% with 1-2 retryable faults, ~2% that fail for good, the rest served.

    Faults are registered as ``retrieve_many`` reads each id (the source is lazy), so the
    server's fault queue stays as short as the requests in flight, however large ``n`` is.
    """

    def __init__(self, server: FakePostpress, n: int, *, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.server = server
        self.ids: list[str] = []
        self.planned: dict[str, Planned] = {}
        served = iter(server.add_chats(n, seed=seed))
        retryable = sorted(RETRYABLE_FAULTS)
        permanent = sorted(PERMANENT_FAULTS)
        for index in range(n):
            chat_id = next(served)
            draw = rng.random()
            if draw < 0.02:
                kind = rng.choice(permanent)
                fault_kwargs, error_class, error_type = PERMANENT_FAULTS[kind]
                if fault_kwargs is None:
                    chat_id = f"chat_unknown_{seed}_{index}"
                plan = Planned(kind, 1, fault_kwargs, error_class, error_type)
            elif draw < 0.12:
                kind = rng.choice(retryable)
                plan = Planned(kind, rng.choice((1, 2)), RETRYABLE_FAULTS[kind])
            else:
                plan = Planned("ok")
            self.ids.append(chat_id)
            self.planned[chat_id] = plan

    def arm(self, chat_id: str) -> str:
        """Register ``chat_id``'s fault (if any) on the server; returns the id."""
        plan = self.planned[chat_id]
        if plan.fault_kwargs is not None:
            plan.fault = self.server.fail(chat_id, times=plan.times, **plan.fault_kwargs)
        return chat_id

    def lazy_ids(self, share: Sequence[str] | None = None) -> Any:
        """A generator of ``share`` (default: all ids) arming each fault as it is read."""
        return (self.arm(chat_id) for chat_id in (self.ids if share is None else share))

    async def async_ids(self) -> Any:
        """The ids as an async iterable, arming each fault as it is read."""
        for chat_id in self.ids:
            yield self.arm(chat_id)

    @property
    def expected_hits(self) -> int:
        return sum(plan.hits for plan in self.planned.values())


@dataclass
class SoakReport:
    """The numbers of one soak run, and every rule it broke."""

    label: str
    n: int
    elapsed: float = 0.0
    results: int = 0
    chats: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Permanent errors reported, by ``.type``."""
    retried_ids: int = 0
    requests: int = 0
    expected_requests: int = 0
    max_in_flight: int = 0
    resources: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Name -> (before, after)."""
    violations: list[str] = field(default_factory=list)

    def violate(self, message: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(message)

    def summary(self) -> str:
        lines = [
            f"{self.label}: {self.n} ids in {self.elapsed:.1f} s "
            f"({self.requests / max(self.elapsed, 1e-9):.0f} requests/s)",
            f"  results {self.results}, chats {self.chats}, ids retried {self.retried_ids}, "
            f"requests {self.requests} (expected {self.expected_requests}), "
            f"max in flight {self.max_in_flight}",
            "  permanent errors: "
            + (", ".join(f"{t} x{c}" for t, c in sorted(self.errors.items())) or "none"),
        ]
        for name, (before, after) in self.resources.items():
            lines.append(f"  {name}: {before} before, {after} after")
        lines.append(
            "  violations: none"
            if not self.violations
            else "  VIOLATIONS:\n" + "\n".join(f"    - {v}" for v in self.violations)
        )
        return "\n".join(lines)


def check_result(plan: SoakPlan, result: pp.ChatResult, report: SoakReport) -> None:
    """One result against what its id was set up to do."""
    planned = plan.planned.get(result.chat_id)
    if planned is None:
        report.violate(f"a result for an id never asked for: {result.chat_id!r}")
        return
    report.results += 1
    if planned.error_class is None:
        if result.error is not None:
            report.violate(f"{result.chat_id} ({planned.kind}): {result.error!r}")
        elif result.chat is None or result.chat.id != result.chat_id:
            report.violate(f"{result.chat_id}: got the wrong chat")
        else:
            report.chats += 1
            report.retried_ids += planned.times > 0
        return
    error = result.error
    if type(error) is not planned.error_class:
        report.violate(
            f"{result.chat_id} ({planned.kind}): expected {planned.error_class.__name__}, "
            f"got {error!r}"
        )
    elif error.type != planned.error_type:
        report.violate(f"{result.chat_id}: .type {error.type!r}, not {planned.error_type!r}")
    elif error.attempts != 1:
        report.violate(f"{result.chat_id} ({planned.kind}): retried, {error.attempts} attempts")
    else:
        report.errors[planned.error_type] = report.errors.get(planned.error_type, 0) + 1


def check_totals(plan: SoakPlan, seen: dict[str, int], report: SoakReport) -> None:
    """Every id accounted for exactly once; every fault used exactly as often as planned."""
    missing = [chat_id for chat_id in plan.ids if chat_id not in seen]
    if missing:
        report.violate(f"{len(missing)} ids got no result, e.g. {missing[:3]}")
    doubles = [chat_id for chat_id, count in seen.items() if count > 1]
    if doubles:
        report.violate(f"{len(doubles)} ids got more than one result, e.g. {doubles[:3]}")
    for chat_id, planned in plan.planned.items():
        if planned.fault is not None and planned.fault.hits != planned.times:
            report.violate(
                f"{chat_id} ({planned.kind}): its fault answered {planned.fault.hits} "
                f"requests, planned {planned.times}"
            )
    report.requests = plan.server.request_count
    report.expected_requests = plan.expected_hits
    report.max_in_flight = plan.server.max_in_flight
    # Each id costs at least its planned hits; equal totals mean no id was retried needlessly.
    if report.requests != report.expected_requests:
        report.violate(
            f"the server saw {report.requests} requests, planned {report.expected_requests}"
        )


SOAK_RETRY = pp.RetryPolicy(
    max_retries=3, backoff_initial=0.001, backoff_max=0.01, retry_after_max=0.01
)
RSS_SLACK = 96 * 1024 * 1024
"""RSS may end this much above where it started: the allocator keeps what it freed."""


def _resources_back(report: SoakReport, before: dict[str, int], after: dict[str, int]) -> None:
    for name, value in before.items():
        report.resources[name] = (value, after[name])
    if after["fds"] > before["fds"]:
        report.violate(f"file descriptors: {before['fds']} before, {after['fds']} after")
    if after.get("tasks", 0) > before.get("tasks", 0):
        report.violate(f"asyncio tasks: {before['tasks']} before, {after['tasks']} after")
    if after.get("threads", 0) > before.get("threads", 0):
        report.violate(f"threads: {before['threads']} before, {after['threads']} after")
    grown = after["rss_mib"] - before["rss_mib"]
    if grown * 1024 * 1024 > RSS_SLACK:
        report.violate(f"RSS grew by {grown} MiB (allowed {RSS_SLACK // 2**20})")


def _task_count() -> int:
    return len(asyncio.all_tasks())


async def _count_tasks() -> int:
    return _task_count()


async def soak_async(
    n: int, *, concurrency: int = 32, seed: int = 0, retry: pp.RetryPolicy = SOAK_RETRY
) -> SoakReport:
    """``retrieve_many`` over ``n`` ids with faults, one ``AsyncPostpress``, one event loop."""
    report = SoakReport("AsyncPostpress.retrieve_many", n)
    async with FakePostpress(api_key=KEY, record=False, latency=(0.0, 0.005)) as server:
        plan = SoakPlan(server, n, seed=seed)
        # A warm-up (faults not armed yet), so that first-use allocations are not "growth".
        async with pp.AsyncPostpress(KEY, base_url=server.base_url) as client:
            async for _ in client.chats.retrieve_many(plan.ids[:100]):
                pass
        await eventually(lambda: server.in_flight == 0 and _task_count() <= 1)
        server.reset()
        gc.collect()
        before = {"fds": open_fds(), "tasks": _task_count(), "rss_mib": rss_bytes() >> 20}
        seen: dict[str, int] = {}
        started = time.monotonic()
        client = pp.AsyncPostpress(KEY, base_url=server.base_url, retry=retry)
        try:
            results = client.chats.retrieve_many(plan.async_ids(), concurrency=concurrency)
            async for result in results:
                seen[result.chat_id] = seen.get(result.chat_id, 0) + 1
                check_result(plan, result, report)
        finally:
            await client.aclose()
        report.elapsed = time.monotonic() - started
        check_totals(plan, seen, report)
        if report.max_in_flight > concurrency:
            report.violate(f"{report.max_in_flight} requests in flight, concurrency {concurrency}")
        del results, client, seen
        if not await eventually(lambda: server.in_flight == 0):
            report.violate(f"the server still has {server.in_flight} requests in flight")
        await eventually(lambda: open_fds() <= before["fds"] and _task_count() <= before["tasks"])
        gc.collect()
        after = {"fds": open_fds(), "tasks": _task_count(), "rss_mib": rss_bytes() >> 20}
        _resources_back(report, before, after)
    return report


def soak_threads(n: int, *, threads: int = 4, concurrency: int = 16, seed: int = 0) -> SoakReport:
    """The same through one ``pp.Postpress`` shared by ``threads`` threads, each a share."""
    report = SoakReport(f"Postpress.retrieve_many from {threads} threads", n)
    with FakePostpress(api_key=KEY, record=False, latency=(0.0, 0.005)) as server:
        plan = SoakPlan(server, n, seed=seed)
        # A warm-up (faults not armed yet), so that first-use allocations are not "growth".
        with pp.Postpress(KEY, base_url=server.base_url) as warm:
            for _ in warm.chats.retrieve_many(plan.ids[:100]):
                pass
        server.reset()
        gc.collect()
        before = {
            "fds": open_fds(),
            "threads": threading.active_count(),
            "rss_mib": rss_bytes() >> 20,
        }
        seen: dict[str, int] = {}
        lock = threading.Lock()
        crashes: list[BaseException] = []
        client = pp.Postpress(KEY, base_url=server.base_url, retry=SOAK_RETRY)
        # The client's event loop thread (private to the SDK): its tasks are counted there.
        loop_thread = client._runner()
        tasks_before = loop_thread.portal.call(_count_tasks)

        def work(share: list[str]) -> None:
            try:
                for result in client.chats.retrieve_many(
                    plan.lazy_ids(share), concurrency=concurrency
                ):
                    with lock:
                        seen[result.chat_id] = seen.get(result.chat_id, 0) + 1
                        check_result(plan, result, report)
            except BaseException as exc:  # reported as a violation below
                crashes.append(exc)

        started = time.monotonic()
        workers = [
            threading.Thread(target=work, args=(plan.ids[k::threads],), name=f"soak-{k}")
            for k in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        tasks_after = loop_thread.portal.call(_count_tasks)
        report.resources["tasks in the client's loop"] = (tasks_before, tasks_after)
        if tasks_after > tasks_before:
            report.violate(
                f"tasks in the client's loop: {tasks_before} before, {tasks_after} after"
            )
        client.close()
        report.elapsed = time.monotonic() - started
        for crash in crashes:
            report.violate(f"a thread raised {crash!r}")
        check_totals(plan, seen, report)
        if report.max_in_flight > threads * concurrency:
            report.violate(
                f"{report.max_in_flight} requests in flight, at most {threads} x {concurrency}"
            )
        seen.clear()
        give_up = time.monotonic() + 5.0
        while time.monotonic() < give_up and (
            open_fds() > before["fds"] or threading.active_count() > before["threads"]
        ):
            time.sleep(0.01)
        if server.in_flight:
            report.violate(f"the server still has {server.in_flight} requests in flight")
        gc.collect()
        after = {
            "fds": open_fds(),
            "threads": threading.active_count(),
            "rss_mib": rss_bytes() >> 20,
        }
        _resources_back(report, before, after)
    return report


# -- TLS material for the verification tests (test-only; valid until 2126) ------------------


TEST_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBqzCCAVGgAwIBAgIUWpACa2OoIqgWcxLwj7rW7gqADMswCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXcG9zdHByZXNzX2FzeW5jIHRlc3QgQ0EwIBcNMjYxMTI3MDI1
NDAzWhgPMjEyNjExMDMwMjU0MDNaMCIxIDAeBgNVBAMMF3Bvc3RwcmVzc19hc3lu
YyB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9UmSKJTVTFYRSfBR
xIH17k0jgQkF1T6nGmkiVuSPbJ3LUbNocWVzxQJGWw3rkQ7/1Qr+8YNvWVu95Hdu
Wmo4nKNjMGEwHQYDVR0OBBYEFEFoHO0DEvNGl5OYfGn4VLnKKGbGMB8GA1UdIwQY
MBaAFEFoHO0DEvNGl5OYfGn4VLnKKGbGMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P
AQH/BAQDAgEGMAoGCCqGSM49BAMCA0gAMEUCIQC67+Sha4AFpwWbOuU/wv/0oxHs
9qyUQWmqgn3LEWi/6AIgUt4g3t8s5WFKRiWtjSTuXNimWts7E/hsgfUxlpfTykw=
-----END CERTIFICATE-----
"""
"""A private CA that signed ``TEST_CERT_PEM``; trust it with ``ssl=`` to pass verification."""

TEST_CERT_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBzDCCAXOgAwIBAgIUH/Sv6s24G6bRQwl4BR1F6lB3FewwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXcG9zdHByZXNzX2FzeW5jIHRlc3QgQ0EwIBcNMjYxMTI3MDI1
NDAzWhgPMjEyNjExMDMwMjU0MDNaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABApUoOWLwMYuqR+//v1lGGIqLfgs6F0y08Fq
oRQBVwnlBF8FoyzFPyV0wNHx+iMGCMz+H4LJFUAjZjDoIqMzelSjgZIwgY8wDAYD
VR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEw
GgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxob3N0MB0GA1UdDgQWBBQM7LT2ixPc9jSH
tjJ81DJYo4MJzjAfBgNVHSMEGDAWgBRBaBztAxLzRpeTmHxp+FS5yihmxjAKBggq
hkjOPQQDAgNHADBEAiAr7SIijW2Z1P3NhNqmgf48jIZhbGWR8OSHz72/MduzAAIg
OLrgrZARekEfv5MEt7iV5UbPqN8uvs0C8+HDG4WMtj4=
-----END CERTIFICATE-----
"""
"""A server certificate for 127.0.0.1 and localhost, signed by ``TEST_CA_PEM``."""

TEST_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6ZrDnLR7QJt6T5SH
ztvAM3ngqkfuUYUJEQWjgFDBJMGhRANCAAQKVKDli8DGLqkfv/79ZRhiKi34LOhd
MtPBaqEUAVcJ5QRfBaMsxT8ldMDR8fojBgjM/h+CyRVAI2Yw6CKjM3pU
-----END PRIVATE KEY-----
"""


def tls_server_context(directory: Path) -> ssl.SSLContext:
    """A server context presenting ``TEST_CERT_PEM`` (the files are written to ``directory``)."""
    cert, key = directory / "server.pem", directory / "server.key"
    cert.write_text(TEST_CERT_PEM)
    key.write_text(TEST_KEY_PEM)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def tls_client_context() -> ssl.SSLContext:
    """A client context that trusts the test CA (and verifies as strictly as the default)."""
    return ssl.create_default_context(cadata=TEST_CA_PEM)
