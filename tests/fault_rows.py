"""The fault matrix's rows: each fault a server can throw at the SDK, and what must come of it.

A row is data: a name, what the server does (a ``Setup`` that starts ``FakePostpress`` or a
``RawServer``), the exception class or success, the attempts and the hits. The harness that
runs them is ``fault_runner.py``.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable
from typing import Any

from fault_runner import Observation, Row, Setup, Target
from rawserver import (
    ENDLESS_BOUND,
    Behaviour,
    RawServer,
    after_one_success,
    chunked,
    endless_body,
    raw_bytes,
    reset_before_status_line,
    reset_mid_body,
    stall_mid_body,
)
from support import EXAMPLE, EXAMPLE_BODY, EXAMPLE_ID, PREFIX, closed_port, padded_chat
from support import SECRET_KEY as KEY

import postpress_async as pp
from postpress_async.testing import FakePostpress


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
