"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (the ``otel`` extra).

Whether it is installed is found out once, when the first client is created. Without it a
client's resources are given the plain request function and this module is never called on
the request path. With it they are given ``AsyncPostpress._traced_request``, which runs the
same path inside one CLIENT span per call, named after the operation (``chats.retrieve``):

- ``http.request.method``, ``server.address``, ``server.port``, ``url.template``;
- ``postpress.attempts`` and the ``http.response.status_code`` of the last attempt;
- on failure: status ERROR, ``error.type`` (the exception class name) and
  ``postpress.error.type`` (the error envelope's id, when the API sent one).

Until the application sets a tracer provider no span could record, and each call takes the
plain path after one check of a global; a span that records nothing (the call sampled out) is
ended at once and the call takes the plain path (benchmarks/README.md, tracing).

Nothing else of the request or response is recorded: not the key, not the query, not the
exception message. The span is current while the call runs, so a caller's span is its parent
(the blocking client schedules each call with the caller's context, which
``asyncio.run_coroutine_threadsafe`` carries to the loop thread) and the spans of an
instrumented aiohttp nest under it, one per attempt. ``retrieve_many`` adds one INTERNAL span,
``chats.retrieve_many``, with the number fetched and failed, as the parent of its calls.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from yarl import URL

from ._errors import APIStatusError
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from ._batch import ProgressCallback
    from ._models import Chat
    from ._transport import HttpResponse
    from ._url import Route

__all__ = ["BatchSpan", "Call", "Tracing", "tracing_for"]

ATTEMPTS = "postpress.attempts"
ERROR_TYPE = "error.type"
ENVELOPE_TYPE = "postpress.error.type"
STATUS_CODE = "http.response.status_code"
BATCH_FETCHED = "postpress.batch.fetched"
BATCH_FAILED = "postpress.batch.failed"
BATCH_CONCURRENCY = "postpress.batch.concurrency"


@functools.cache
def _api() -> Any:
    """``opentelemetry.trace``, or None when it is not installed; imported at most once."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def tracing_for(base_url: str) -> Tracing | None:
    """The tracing of a client with this ``base_url``; None without ``opentelemetry-api``."""
    api = _api()
    if api is None:
        return None
    # A ProxyTracer until the application sets a provider; it follows the provider set later.
    return Tracing(api.get_tracer("postpress_async", __version__), base_url)


class Call:
    """One call's recording span: current while the call runs, fed by its attempts."""

    __slots__ = ("_detach", "_span", "_token", "attempts", "status")

    def __init__(self, span: Span, token: object, detach: Callable[[Any], None]) -> None:
        self._span = span
        self._token = token
        self._detach = detach
        self.attempts: int = 0
        self.status: int | None = None

    def counted(
        self, send: Callable[[float | None], Awaitable[HttpResponse]]
    ) -> Callable[[float | None], Awaitable[HttpResponse]]:
        """``send`` (one attempt, as the retry layer calls it), counted and its status kept."""

        async def attempt(deadline_at: float | None) -> HttpResponse:
            self.attempts += 1
            self.status = None
            try:
                response = await send(deadline_at)
            except APIStatusError as exc:
                self.status = exc.status
                raise
            self.status = response.status
            return response

        return attempt

    def __enter__(self) -> Call:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        self._detach(self._token)
        span = self._span
        if isinstance(exc, Exception):
            _failed(span, exc)
        if self.status is None:
            span.set_attribute(ATTEMPTS, self.attempts)
        else:
            span.set_attributes({ATTEMPTS: self.attempts, STATUS_CODE: self.status})
        span.end()


class Tracing:
    """One client's tracer and the span attributes that never change for it."""

    def __init__(self, tracer: Tracer, base_url: str) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind

        self.tracer = tracer
        self._attach = context.attach
        self._detach = context.detach
        self._in_context = trace.set_span_in_context
        trace.get_tracer_provider()  # loads one named by OTEL_PYTHON_TRACER_PROVIDER, if any
        self._trace = trace
        self._provider_set = False
        self._client_kind = SpanKind.CLIENT
        self._internal_kind = SpanKind.INTERNAL
        url = URL(base_url)
        self._server: dict[str, str | int] = {"server.address": url.host or ""}
        if url.port is not None:
            self._server["server.port"] = url.port
        self._starts: dict[Route, tuple[str, dict[str, str | int]]] = {}

    def _start(self, route: Route) -> tuple[str, dict[str, str | int]]:
        start = self._starts.get(route)
        if start is None:
            name = route.name or f"GET {route.template}"
            attributes = {
                "http.request.method": "GET",
                **self._server,
                "url.template": route.template,
            }
            start = self._starts[route] = (name, attributes)
        return start

    def idle(self) -> bool:
        """True while the application has set no tracer provider: no span could record.

        Checked per call (a provider may be set after the client is created) by reading the
        API's global rather than calling ``get_tracer_provider()``, whose environment look-up
        costs a few percent of a whole request; once a provider is set it stays set.
        """
        if not self._provider_set:
            self._provider_set = getattr(self._trace, "_TRACER_PROVIDER", True) is not None
        return not self._provider_set

    def call(self, route: Route) -> Call | None:
        """Start the call's span and make it current; None if it records nothing.

        Without a tracer provider, or with this call sampled out, the span records nothing
        and is ended at once: the caller takes the plain path, and the current span stays
        the caller's. Written out rather than with ``start_as_current_span``, which costs
        several times more (benchmarks/README.md, tracing).
        """
        name, attributes = self._start(route)
        span = self.tracer.start_span(name, kind=self._client_kind, attributes=attributes)
        if not span.is_recording():
            span.end()
            return None
        return Call(span, self._attach(self._in_context(span)), self._detach)

    def batch_span(self, concurrency: int) -> Span:
        """The span of one ``retrieve_many``, started now as a child of the current span."""
        return self.tracer.start_span(
            "chats.retrieve_many",
            kind=self._internal_kind,
            attributes={BATCH_CONCURRENCY: concurrency},
        )


def _failed(span: Span, exc: Exception) -> None:
    from opentelemetry.trace import Status, StatusCode

    kind = type(exc).__name__
    span.set_attribute(ERROR_TYPE, kind)
    envelope_type = getattr(exc, "type", None)
    if isinstance(exc, APIStatusError) and isinstance(envelope_type, str):
        span.set_attribute(ENVELOPE_TYPE, envelope_type)
        kind = f"{kind} {envelope_type}"
    span.set_status(Status(StatusCode.ERROR, kind))


class BatchSpan:
    """The ``chats.retrieve_many`` span of one batch, fed by the batch's own hooks.

    The batch's generator stays the only one (a wrapping generator would give the event loop
    two to close at shutdown, the inner one twice). The span starts with the first fetch, in
    the worker's context, which is the context of the task that first asked for a result, so
    its parent is the caller's span; each fetch makes it current in its worker task, so the
    calls are its children. ``progress`` keeps the counts; ``end`` runs in the batch's
    ``finally``, however it ends (done, failed, closed, or closed by the loop at shutdown).
    """

    def __init__(self, tracing: Tracing, concurrency: int) -> None:
        from opentelemetry import context, trace

        self._tracing = tracing
        self._concurrency = concurrency
        self._attach, self._detach = context.attach, context.detach
        self._in_context = trace.set_span_in_context
        self._span: Span | None = None
        self._parent: Any = None
        self._counts = (0, 0)

    def _start(self) -> Span:
        span = self._span
        if span is None:
            span = self._span = self._tracing.batch_span(self._concurrency)
            self._parent = self._in_context(span)
        return span

    def fetch(self, fetch: Callable[[str], Awaitable[Chat]]) -> Callable[[str], Awaitable[Chat]]:
        """``fetch`` with the batch's span current around each call."""

        async def fetch_in_batch(chat_id: str) -> Chat:
            self._start()
            token = self._attach(self._parent)
            try:
                return await fetch(chat_id)
            finally:
                self._detach(token)

        return fetch_in_batch

    def progress(self, on_progress: ProgressCallback | None) -> ProgressCallback:
        """The batch's ``on_progress``, counting for the span first."""

        def counted(done: int, failed: int) -> None:
            self._counts = (done, failed)
            if on_progress is not None:
                on_progress(done, failed)

        return counted

    def end(self) -> None:
        """End the span; called from the batch's ``finally``, so ``sys.exc_info`` is its fate."""
        span = self._start()  # a batch of no ids still has its span
        error = sys.exc_info()[1]
        if isinstance(error, Exception):
            _failed(span, error)
        done, failed = self._counts
        span.set_attribute(BATCH_FETCHED, done - failed)
        span.set_attribute(BATCH_FAILED, failed)
        span.end()
