"""A fake postpress server for tests: real HTTP on 127.0.0.1 with chats, faults and records.

In async code it runs in the current event loop::

    import postpress_async as pp
    from postpress_async.testing import FakePostpress

    async with FakePostpress() as server:
        ids = server.add_chats(100)                  # realistic chats, deterministic per seed
        server.fail(ids[0], error=pp.ErrorType.PROVIDER_ERROR, times=2, retry_after=0)
        async with pp.AsyncPostpress(api_key=server.api_key, base_url=server.base_url) as c:
            chat = await c.chats.retrieve(ids[0])    # two 500s, then the chat
        assert chat == server.chat(ids[0]) and len(server.requests) == 3

In blocking code ``with FakePostpress() as server:`` runs it in a thread with its own loop.
Under pytest the plugin ``postpress_async.testing`` provides the fixtures ``fake_postpress``
(async, needs pytest-asyncio) and ``fake_postpress_thread`` (blocking).

It serves ``GET {base_url}/chats/{chat_id}``: the id is the one raw path segment after
``/chats/``, percent-decoded once, so hostile ids arrive exactly as the client meant them. A
request meets, in order: the first matching fault (``fail``); ``X-API-KEY`` (401
``missing_credentials`` / ``invalid_credentials``); the lookup of a postpress id, or of a
provider id with its ``account_id`` (400 ``errors/missing_account_id`` without one). Anything
else is a 404 ``resource_not_found`` envelope. Every response carries ``X-Request-Id``, which
is also the envelope's ``instance``. aiohttp retries a dropped GET once by itself: use
``fail(drop=True, times=2)`` to make an aiohttp client see the drop.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import itertools
import random
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import msgspec
from aiohttp import web

from . import _fake_data as _fake
from ._codec import decode_chat
from ._constants import ErrorType
from ._models import Chat

__all__ = ["MISSING_ACCOUNT_ID", "FakePostpress", "Fault", "RecordedRequest"]

MISSING_ACCOUNT_ID = "errors/missing_account_id"
"""The fake's error id (status 400) for a provider id fetched without ``account_id``."""

_encode = msgspec.json.Encoder().encode
_Held = tuple[bytes, str, int]  # body, content type, status


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    raw_path: str
    """The request target as sent: percent-encoding and query string included."""
    chat_id: str | None
    """The decoded id, or None when the path is not ``{prefix}/chats/{one segment}``."""
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """Case-insensitive: ``headers["x-api-key"]`` works."""
    time: float
    """``time.monotonic()`` when the request arrived."""
    request_id: str


@dataclass(slots=True)
class Fault:
    """An injected failure; ``remaining`` counts down as requests use it (None: forever)."""

    chat_id: str | None
    remaining: int | None
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    retry_after: str | None = None
    latency: float | None = None
    drop: bool = False
    truncate: bool = False
    redirect_to: str | None = None
    body: bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] | None = None
    hits: int = 0
    """How many requests this fault has answered."""


class FakePostpress:
    """A postpress API stand-in serving ``GET /chats/{chat_id}`` on 127.0.0.1."""

    def __init__(
        self,
        *,
        api_key: str = "pp_test_key",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float | tuple[float, float] = 0.0,
        path_prefix: str = "/api/v1",
        record: bool = True,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.latency = latency
        """Delay before every response: seconds, or a ``(min, max)`` range drawn uniformly."""
        self.path_prefix = path_prefix.rstrip("/")
        self.record = record
        """Whether to keep ``requests``; turn off for long soaks (the counters still run)."""
        self.requests: list[RecordedRequest] = []
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._held: dict[str, _Held] = {}
        self._by_provider: dict[str, dict[str, str]] = {}  # provider id -> account -> chat id
        self._generated: dict[int, int] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()  # fail() may run in another thread than the server
        self._rng = random.Random()
        prefix = f"req_{secrets.token_hex(4)}"
        self._request_ids = (f"{prefix}{n:08d}" for n in itertools.count(1))
        self._runner: web.ServerRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._runner is not None else "stopped"
        return f"<FakePostpress {state} chats={len(self._held)}>"

    @property
    def base_url(self) -> str:
        """The URL to give a client as ``base_url``, e.g. ``http://127.0.0.1:PORT/api/v1``."""
        if self._runner is None:
            raise RuntimeError("FakePostpress is not running; start it first")
        return f"http://{self.host}:{self.port}{self.path_prefix}"

    def chat_url(self, chat_id: str, account_id: str | None = None) -> str:
        """The URL of one chat, its id percent-encoded (dots too) as a single segment."""
        url = f"{self.base_url}/chats/{quote(chat_id, safe='').replace('.', '%2E')}"
        return url if account_id is None else f"{url}?account_id={quote(account_id, safe='')}"

    # -- chats ------------------------------------------------------------------------------

    def add_chat(self, chat: Chat | Mapping[str, Any]) -> str:
        """Serve a chat (a ``Chat``, or a wire dict, valid or not); returns its id."""
        wire = chat.to_dict() if isinstance(chat, Chat) else chat
        chat_id, account_id, provider_id = (
            wire.get(k) for k in ("id", "account_id", "provider_id")
        )
        if not isinstance(chat_id, str) or not chat_id:
            raise ValueError("a chat needs a non-empty string 'id' to be served")
        self._held[chat_id] = (_encode(wire), _fake.JSON, 200)  # encoded once, served often
        if isinstance(provider_id, str) and provider_id and isinstance(account_id, str):
            self._by_provider.setdefault(provider_id, {})[account_id] = chat_id
        return chat_id

    def add_chats(self, n: int, *, seed: int = 0) -> list[str]:
        """Generate and serve ``n`` realistic chats; a later call continues the seed's stream."""
        accounts = _fake.generate_accounts(seed)
        start = self._generated.get(seed, 0)
        self._generated[seed] = start + n
        chats = (_fake.generate_chat(seed, i, accounts) for i in range(start, start + n))
        return [self.add_chat(chat) for chat in chats]

    def add_raw(
        self, chat_id: str, body: bytes | str, *, status: int = 200, content_type: str = _fake.JSON
    ) -> None:
        """Serve these exact bytes for ``chat_id`` (after auth), e.g. a malformed chat."""
        data = body.encode() if isinstance(body, str) else body
        self._held[chat_id] = (data, content_type, status)

    def chat(self, chat_id: str) -> Chat:
        """The chat served as ``chat_id``, decoded as a client would decode it."""
        return decode_chat(self._held[chat_id][0])

    # -- faults and records -----------------------------------------------------------------

    def fail(
        self,
        chat_id: str | None = None,
        *,
        error: ErrorType | str | None = None,
        status: int | None = None,
        times: int | None = 1,
        retry_after: float | str | _dt.datetime | None = None,
        latency: float | None = None,
        drop: bool = False,
        truncate: bool = False,
        redirect_to: str | None = None,
        body: bytes | str | None = None,
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
        detail: str | None = None,
    ) -> Fault:
        """Make the next ``times`` requests (for ``chat_id``, or any) fail; faults queue in order.

        ``error`` sends its envelope with its documented status (``status`` overrides it; an
        undocumented id needs one). ``status`` alone sends a plain-text body, no envelope, like
        a proxy; ``body`` replaces the body. ``redirect_to`` answers ``status`` (default 307)
        with that Location. ``drop`` closes the connection without a response; ``truncate``
        declares a longer Content-Length than it sends, then closes. ``latency`` replaces the
        server's delay; alone, it delays a normal response. ``retry_after`` (seconds, an
        HTTP-date string or a datetime) and ``headers`` are added to the response.
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for forever")
        if drop and truncate:
            raise ValueError("drop and truncate exclude each other")
        error_id = None if error is None else str(error)
        if error_id is not None and status is None:
            status = _fake.documented_status(error_id)
            if status is None:
                raise ValueError(f"{error_id!r} is not a documented error id: give a status")
        if body is not None and status is None:
            raise ValueError("a custom body needs a status (or an error)")
        if redirect_to is not None and status is None:
            status = 307
        if status is None and latency is None and not (drop or truncate or headers or retry_after):
            raise ValueError("nothing to inject: give error, status, drop, truncate, latency, ...")
        fault = Fault(
            chat_id=chat_id,
            remaining=times,
            status=status,
            error=error_id,
            detail=detail,
            retry_after=_fake.retry_after_value(retry_after),
            latency=latency,
            drop=drop,
            truncate=truncate,
            redirect_to=redirect_to,
            body=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            headers=dict(headers) if headers else None,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    @property
    def faults(self) -> list[Fault]:
        """Faults not yet used up, in the order they apply."""
        with self._lock:
            return list(self._faults)

    def reset(self) -> None:
        """Forget recorded requests, counters and pending faults; the chats stay."""
        with self._lock:
            self._faults.clear()
        self.requests.clear()
        self.request_count = 0
        self.max_in_flight = self.in_flight

    def _take_fault(self, chat_id: str | None) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.chat_id is None or fault.chat_id == chat_id:
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            del self._faults[index]
                    return fault
        return None

    # -- serving ----------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._respond(request)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        raw, arrived, request_id = request.raw_path, time.monotonic(), next(self._request_ids)
        chat_id = self._chat_id(raw)
        self.request_count += 1
        if self.record:
            query, method = dict(request.query), request.method
            self.requests.append(
                RecordedRequest(method, raw, chat_id, query, request.headers, arrived, request_id)
            )
        fault = self._take_fault(chat_id) if self._faults else None
        delay = self._delay() if fault is None or fault.latency is None else fault.latency
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is None:
            status, headers, body = self._serve(request, chat_id, request_id)
            return web.Response(body=body, status=status, headers=headers)
        if fault.drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # never sent: aiohttp sees the closed transport
        if fault.status is None:
            status, headers, body = self._serve(request, chat_id, request_id)
        else:
            status, headers, body = self._fault_reply(fault, request_id)
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        headers.update(fault.headers or {})
        if not fault.truncate:
            return web.Response(body=body, status=status, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body) or 1
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return response

    def _chat_id(self, raw_path: str) -> str | None:
        # The raw target, not aiohttp's decoded path: "%2F" must not become a separator.
        prefix = self.path_prefix + "/chats/"
        path = raw_path.partition("?")[0]
        segment = path[len(prefix) :] if path.startswith(prefix) else ""
        return unquote(segment) if segment and "/" not in segment else None

    def _delay(self) -> float:
        latency = self.latency
        return self._rng.uniform(*latency) if isinstance(latency, tuple) else latency

    def _serve(self, request: web.BaseRequest, chat_id: str | None, rid: str) -> _fake.Reply:
        if request.method != "GET":
            return _fake.envelope(405, "errors/method_not_allowed", "Use GET.", rid)
        key = request.headers.get("X-API-KEY")
        if not key:
            return _fake.envelope(401, ErrorType.MISSING_CREDENTIALS, None, rid)
        if key != self.api_key:
            return _fake.envelope(401, ErrorType.INVALID_CREDENTIALS, None, rid)
        held = None if chat_id is None else self._held.get(chat_id)
        if held is None and chat_id is not None and chat_id in self._by_provider:
            account_id = request.query.get("account_id")
            if account_id is None:
                detail = "account_id is mandatory when chat_id is a provider id."
                return _fake.envelope(400, MISSING_ACCOUNT_ID, detail, rid)
            owner = self._by_provider[chat_id].get(account_id)
            held = None if owner is None else self._held.get(owner)
        if held is None:
            return _fake.envelope(404, ErrorType.RESOURCE_NOT_FOUND, None, rid)
        body, content_type, status = held
        return status, {"Content-Type": content_type, "X-Request-Id": rid}, body

    def _fault_reply(self, fault: Fault, rid: str) -> _fake.Reply:
        assert fault.status is not None
        if fault.body is not None:
            return (
                fault.status,
                {"Content-Type": fault.content_type, "X-Request-Id": rid},
                fault.body,
            )
        if fault.redirect_to is not None:
            return fault.status, {"Location": fault.redirect_to, "X-Request-Id": rid}, b""
        if fault.error is not None:
            return _fake.envelope(fault.status, fault.error, fault.detail, rid)
        text = f"{fault.status} {_fake.phrase(fault.status)}\n".encode()
        return fault.status, {"Content-Type": "text/plain", "X-Request-Id": rid}, text

    # -- lifecycle --------------------------------------------------------------------------

    async def astart(self) -> FakePostpress:
        """Start serving in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("FakePostpress is already running")
        # handler_cancellation: a client that gives up no longer counts as in flight. Long ids
        # are the client's to encode, so the request line may be longer than aiohttp's 8 KiB.
        server = web.Server(
            self._handle, handler_cancellation=True, access_log=None, max_line_size=1 << 16
        )
        runner = web.ServerRunner(server, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def astop(self) -> None:
        """Stop serving (requests still running are cut off); idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def start(self) -> FakePostpress:
        """Start serving from a background thread with its own event loop."""
        if self._thread is not None:
            raise RuntimeError("FakePostpress is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run_loop, args=(loop,), name="FakePostpress", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.astart(), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            raise
        self._thread, self._loop = thread, loop
        return self

    def stop(self) -> None:
        """Stop the server started by ``start`` and its thread; idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.astop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            self._thread = self._loop = None

    async def __aenter__(self) -> FakePostpress:
        return await self.astart()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    def __enter__(self) -> FakePostpress:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


try:
    import pytest
except ImportError:  # pragma: no cover - the fixtures exist only where pytest does
    pass
else:

    @pytest.fixture
    def fake_postpress_thread() -> Iterator[FakePostpress]:
        """A FakePostpress running in a background thread for one test."""
        with FakePostpress() as server:
            yield server

    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover
        pass
    else:

        @pytest_asyncio.fixture
        async def fake_postpress() -> AsyncIterator[FakePostpress]:
            """A FakePostpress running in the test's event loop."""
            async with FakePostpress() as server:
                yield server
