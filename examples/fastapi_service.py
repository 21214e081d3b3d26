"""A FastAPI service: one shared client from the lifespan, ``response_model=pp.Chat``, traced.

- One ``AsyncPostpress`` per process, opened and closed by the app's lifespan and handed to
  the endpoints through a dependency, so every request shares one connection pool.
- ``response_model=pp.Chat``: FastAPI serialises the chat exactly as ``chat.to_dict()`` and
  lists its fields in ``/openapi.json`` (the SDK's models carry pydantic's hook).
- OpenTelemetry: FastAPI traces each request itself once OpenTelemetry is installed (older
  FastAPI releases need opentelemetry-instrumentation-fastapi), and the SDK's
  ``chats.retrieve`` span nests under its endpoint span. Spans go to ``--spans FILE`` as JSON
  lines (a real service would configure an OTLP exporter instead).
- One exception handler maps every ``pp.PostpressError`` to the status a caller of this
  service should see, with a fixed message (never the upstream's text) and the postpress
  request id to quote to support:

  ``NotFoundError`` 404; ``BadRequestError`` (a refused id) 400; ``RateLimitError`` 429 with
  ``Retry-After``; ``AuthenticationError`` and ``PermissionDeniedError`` 502 (this service's
  key, not the caller's); ``ServiceUnavailableError`` 503 (``Retry-After`` if it had one);
  ``GatewayTimeoutError`` and ``APITimeoutError`` 504; ``CertificateError`` and
  ``ProxyError`` 502 (this service's network); any other ``APIConnectionError`` 503;
  ``ResponseDecodeError`` and any other status error 502; ``ConfigurationError`` 500.

    export POSTPRESS_API_KEY=...                    # and POSTPRESS_BASE_URL for a fake server
    uvicorn fastapi_service:app --port 8083         # from examples/; or:
    python examples/fastapi_service.py --port 8083
    python examples/fastapi_service.py --selftest 200 --concurrency 20 chat_1 chat_2 ...

``--selftest N`` serves the app with uvicorn on a free port, sends N requests (cycling through
the ids, ``--concurrency`` at a time), shuts down, and prints one JSON line: the count of each
status.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import aiohttp
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

import postpress_async as pp


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the one client when the app starts, close it when the app stops."""
    async with pp.AsyncPostpress() as client:
        app.state.postpress = client
        yield


app = FastAPI(title="chats", lifespan=lifespan)


def postpress(request: Request) -> pp.AsyncPostpress:
    client: pp.AsyncPostpress = request.app.state.postpress
    return client


Postpress = Annotated[pp.AsyncPostpress, Depends(postpress)]


# Checked in order: the first class that matches gives the status and the message.
ERROR_STATUSES: tuple[tuple[type[pp.PostpressError], int, str], ...] = (
    (pp.NotFoundError, 404, "chat not found"),
    (pp.BadRequestError, 400, "the chat id or account id was refused"),
    (pp.RateLimitError, 429, "too many requests; retry later"),
    (pp.AuthenticationError, 502, "the chat service's credentials were refused"),
    (pp.PermissionDeniedError, 502, "the chat service may not access this chat"),
    (pp.ServiceUnavailableError, 503, "the chat service is unavailable; retry later"),
    (pp.GatewayTimeoutError, 504, "the chat service timed out"),
    (pp.APITimeoutError, 504, "the chat service timed out"),
    (pp.CertificateError, 502, "the chat service could not be reached securely"),
    (pp.ProxyError, 502, "the chat service could not be reached through the proxy"),
    (pp.APIConnectionError, 503, "the chat service could not be reached; retry later"),
    (pp.ResponseDecodeError, 502, "the chat service sent an invalid chat"),
    (pp.APIStatusError, 502, "the chat service failed"),
    (pp.ConfigurationError, 500, "the chat service is misconfigured"),
)


def error_response(exc: pp.PostpressError) -> JSONResponse:
    """The response for a postpress error: a status from ``ERROR_STATUSES``, a fixed message.

    The body names the error's class, and for an API error its ``type`` and ``request_id``
    (what postpress support asks for); never the upstream's message or body.
    """
    status, message = next(
        ((status, message) for cls, status, message in ERROR_STATUSES if isinstance(exc, cls)),
        (500, "internal error"),
    )
    body: dict[str, object] = {"error": type(exc).__name__, "detail": message}
    headers: dict[str, str] = {}
    if isinstance(exc, pp.APIStatusError):
        body.update(type=exc.type, request_id=exc.request_id)
        if status == 429 or (status == 503 and exc.retry_after is not None):
            # Whole seconds, at least one: the upstream's wait, or one second if it gave none.
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
    return JSONResponse(body, status_code=status, headers=headers)


@app.exception_handler(pp.PostpressError)
async def postpress_error(request: Request, exc: pp.PostpressError) -> JSONResponse:
    """Every postpress error the endpoints let through: see ``error_response``."""
    return error_response(exc)


@app.get("/chats/{chat_id}", response_model=pp.Chat)
async def get_chat(chat_id: str, client: Postpress, account_id: str | None = None) -> pp.Chat:
    """The chat with its last message, as the postpress API returns it."""
    return await client.chats.retrieve(chat_id, account_id=account_id)


def setup_tracing(spans_path: str | None) -> Callable[[], None]:
    """Install an OpenTelemetry SDK provider writing spans to ``spans_path``; its shutdown."""
    if spans_path is None:
        return lambda: None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        print("opentelemetry-sdk is not installed: no spans", file=sys.stderr)
        return lambda: None
    out = open(spans_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the shutdown
    exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(None) + "\n")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    def shutdown() -> None:
        provider.shutdown()  # flushes the spans still queued
        out.close()

    return shutdown


async def load(base: str, chat_ids: list[str], requests: int, concurrency: int) -> dict[str, int]:
    """Send ``requests`` GETs, ``concurrency`` at a time; count the answers by status."""
    statuses: collections.Counter[str] = collections.Counter()
    queue = [chat_ids[i % len(chat_ids)] for i in range(requests)]

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            chat_id = queue.pop()
            async with session.get(f"/chats/{chat_id}") as response:
                body = await response.json()
            ok = response.status != 200 or body["id"] == chat_id
            statuses[str(response.status) if ok else "wrong-chat"] += 1

    async with aiohttp.ClientSession(base) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return dict(statuses)


async def selftest(chat_ids: list[str], requests: int, concurrency: int) -> dict[str, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():  # failed to start: its exception says why
                await serving
            await asyncio.sleep(0.01)
        return await load(f"http://127.0.0.1:{port}", chat_ids, requests, concurrency)
    finally:
        server.should_exit = True  # the lifespan's shutdown closes the postpress client
        await serving
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve postpress chats over HTTP.")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--spans", help="write OpenTelemetry spans here, one JSON per line")
    parser.add_argument("--selftest", type=int, metavar="N", help="serve, send N requests, exit")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("chat_ids", nargs="*", help="ids for --selftest")
    args = parser.parse_args()
    shutdown_tracing = setup_tracing(args.spans)
    try:
        if args.selftest is None:
            uvicorn.run(app, host="127.0.0.1", port=args.port)
            return 0
        if not args.chat_ids:
            parser.error("--selftest needs at least one chat id")
        statuses = asyncio.run(selftest(args.chat_ids, args.selftest, args.concurrency))
    finally:
        shutdown_tracing()
    print(json.dumps(statuses, sort_keys=True))
    return 0 if set(statuses) <= {"200", "404"} else 1


if __name__ == "__main__":
    sys.exit(main())
