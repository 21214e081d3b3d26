"""``FakePostpress``: a thin aiohttp adapter over the plain functions of ``_routes``.

A request is matched against ``ROUTES`` by its raw path below the prefix, counted and recorded
(``_recorder``), given the fault it meets if any (``_faults``), then checked for its method and
API key and answered by its route's handler from the ``ChatStore``. This module turns the
aiohttp request into those calls and their ``Reply`` back into a response, and runs the server
in the current loop (``async with``) or in a ``LoopThread`` (``with``).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
import ssl as _ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .. import _fake_data as _fake
from .._codec import decode_chat
from .._constants import ErrorType
from .._loop_thread import LoopThread
from .._models import Chat
from ._faults import Fault, FaultRegistry, fault_reply, new_fault
from ._recorder import RecordedRequest, Recorder
from ._routes import ROUTES, ChatStore, Route, authenticate

__all__ = ["FakePostpress"]


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
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port: int = port
        self.latency = latency
        """Delay before every response: seconds, or a ``(min, max)`` range drawn uniformly."""
        self.path_prefix: str = path_prefix.rstrip("/")
        self.ssl = ssl
        """A server-side TLS context: serve https (e.g. with a ``trustme`` certificate)."""
        self._store = ChatStore()
        self._faults = FaultRegistry()
        self._recorder = Recorder(record=record)
        self._rng = random.Random()
        self._runner: web.ServerRunner | None = None
        self._loop_thread: LoopThread | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._runner is not None else "stopped"
        return f"<FakePostpress {state} chats={len(self._store.held)}>"

    @property
    def base_url(self) -> str:
        """The URL to give a client as ``base_url``, e.g. ``http://127.0.0.1:PORT/api/v1``.

        With ``ssl=`` it is ``https://``.
        """
        if self._runner is None:
            raise RuntimeError("FakePostpress is not running; start it first")
        scheme = "http" if self.ssl is None else "https"
        return f"{scheme}://{self.host}:{self.port}{self.path_prefix}"

    def chat_url(self, chat_id: str, account_id: str | None = None) -> str:
        """The URL of one chat, its id percent-encoded (dots too) as a single segment."""
        url = f"{self.base_url}/chats/{quote(chat_id, safe='').replace('.', '%2E')}"
        return url if account_id is None else f"{url}?account_id={quote(account_id, safe='')}"

    # -- chats ------------------------------------------------------------------------------

    def add_chat(self, chat: Chat | Mapping[str, Any]) -> str:
        """Serve a chat (a ``Chat``, or a wire dict, valid or not); returns its id."""
        return self._store.add(chat)

    def add_chats(self, n: int, *, seed: int = 0) -> list[str]:
        """Generate and serve ``n`` realistic chats; a later call continues the seed's stream."""
        return self._store.generate(n, seed)

    def add_raw(
        self, chat_id: str, body: bytes | str, *, status: int = 200, content_type: str = _fake.JSON
    ) -> None:
        """Serve these exact bytes for ``chat_id`` (after auth), e.g. a malformed chat."""
        data = body.encode() if isinstance(body, str) else body
        self._store.held[chat_id] = (data, content_type, status)

    def chat(self, chat_id: str) -> Chat:
        """The chat served as ``chat_id``, decoded as a client would decode it."""
        return decode_chat(self._store.held[chat_id][0])

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

        A request meets the earliest registered fault that is for its id or for any id.
        ``error`` sends its envelope with its documented status (``status`` overrides it; an
        undocumented id needs one). ``status`` alone sends a plain-text body, no envelope, like
        a proxy; ``body`` replaces the body. ``redirect_to`` answers ``status`` (default 307)
        with that Location. ``drop`` closes the connection without a response; ``truncate``
        declares a longer Content-Length than it sends, then closes. ``latency`` replaces the
        server's delay; alone, it delays a normal response. ``retry_after`` (seconds, an
        HTTP-date string or a datetime) and ``headers`` are added to the response.
        """
        fault = new_fault(
            chat_id,
            error=error,
            status=status,
            times=times,
            retry_after=retry_after,
            latency=latency,
            drop=drop,
            truncate=truncate,
            redirect_to=redirect_to,
            body=body,
            content_type=content_type,
            headers=headers,
            detail=detail,
        )
        self._faults.add(fault)
        return fault

    @property
    def faults(self) -> list[Fault]:
        """Faults not yet used up, in the order they were registered."""
        return self._faults.pending()

    @property
    def record(self) -> bool:
        """Whether to keep ``requests``; turn off for long soaks (the counters still run)."""
        return self._recorder.record

    @record.setter
    def record(self, value: bool) -> None:
        self._recorder.record = value

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received, oldest first (while ``record`` is on)."""
        return self._recorder.requests

    @property
    def request_count(self) -> int:
        """How many requests arrived (recorded or not)."""
        return self._recorder.count

    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        return self._recorder.in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests handled at once."""
        return self._recorder.max_in_flight

    def reset(self) -> None:
        """Forget recorded requests, counters and pending faults; the chats stay."""
        self._faults.clear()
        self._recorder.reset()

    # -- serving: aiohttp in, plain functions, aiohttp out ----------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._recorder.enter()
        try:
            return await self._respond(request)
        finally:
            self._recorder.leave()

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        raw = request.raw_path
        route, params = self._route(raw)
        chat_id = params.get("chat_id")
        rid = self._recorder.arrive(request.method, raw, chat_id, request.query, request.headers)
        fault = self._faults.take(chat_id) if self._faults else None
        delay = self._delay() if fault is None or fault.latency is None else fault.latency
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is None:
            status, headers, body = self._serve(request, route, params, rid)
            return web.Response(body=body, status=status, headers=headers)
        if fault.drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # never sent: aiohttp sees the closed transport
        if fault.status is None:
            status, headers, body = self._serve(request, route, params, rid)
        else:
            status, headers, body = fault_reply(fault, rid)
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

    def _route(self, raw_path: str) -> tuple[Route | None, dict[str, str]]:
        # The raw target, not aiohttp's decoded path: "%2F" must not become a separator.
        path = raw_path.partition("?")[0]
        if path.startswith(self.path_prefix):
            below = path[len(self.path_prefix) :]
            for route in ROUTES:
                params = route.match(below)
                if params is not None:
                    return route, params
        return None, {}

    def _delay(self) -> float:
        latency = self.latency
        return self._rng.uniform(*latency) if isinstance(latency, tuple) else latency

    def _serve(
        self, request: web.BaseRequest, route: Route | None, params: Mapping[str, str], rid: str
    ) -> _fake.Reply:
        if route is None and not request.raw_path.startswith(self.path_prefix + "/"):
            # Outside the API's root: a plain web server's 404, without an error envelope.
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404: Not Found"
        method = "GET" if route is None else route.method
        if request.method != method:
            return _fake.envelope(405, "errors/method_not_allowed", f"Use {method}.", rid)
        refused = authenticate(request.headers, self.api_key, rid)
        if refused is not None:
            return refused
        if route is None:
            return _fake.envelope(404, ErrorType.RESOURCE_NOT_FOUND, None, rid)
        return route.handler(self._store, params, request.query, rid)

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
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl).start()
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
        if self._loop_thread is not None:
            raise RuntimeError("FakePostpress is already running")
        # on_close: a server never stopped is stopped at interpreter exit, its sockets closed.
        loop_thread = LoopThread("FakePostpress", owner="this FakePostpress", on_close=self.astop)
        try:
            loop_thread.call(self.astart)
        except BaseException:
            loop_thread.close()
            raise
        self._loop_thread = loop_thread
        return self

    def stop(self) -> None:
        """Stop the server started by ``start`` and its thread; idempotent."""
        loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is None:
            return
        try:
            loop_thread.call(self.astop)
        finally:
            loop_thread.close()  # astop again: a no-op

    async def __aenter__(self) -> FakePostpress:
        return await self.astart()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    def __enter__(self) -> FakePostpress:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
