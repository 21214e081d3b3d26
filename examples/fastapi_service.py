"""A FastAPI service: one shared client from the lifespan, ``response_model=pp.Chat``, traced.

- One ``AsyncPostpress`` per process, opened and closed by the app's lifespan and handed to
  the endpoints through a dependency, so every request shares one connection pool.
- ``response_model=pp.Chat``: FastAPI serialises the chat exactly as ``chat.to_dict()`` and
  lists its fields in ``/openapi.json`` (the SDK's models carry pydantic's hook).
- OpenTelemetry: FastAPI traces each request itself once OpenTelemetry is installed (older
  FastAPI releases need opentelemetry-instrumentation-fastapi), and the SDK's
  ``chats.retrieve`` span nests under its endpoint span. Spans go to ``--spans FILE`` as JSON
  lines (a real service would configure an OTLP exporter instead).
- A missing chat is a 404; any other postpress error a 502 with the error's class, status,
  type and request id.

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
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import aiohttp
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
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


@app.exception_handler(pp.PostpressError)
async def postpress_error(request: Request, exc: pp.PostpressError) -> JSONResponse:
    """Any postpress error but a missing chat: the upstream failed, 502."""
    body: dict[str, object] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, pp.APIStatusError):
        body.update(status=exc.status, type=exc.type, request_id=exc.request_id)
    return JSONResponse(body, status_code=502)


@app.get("/chats/{chat_id}", response_model=pp.Chat)
async def get_chat(chat_id: str, client: Postpress, account_id: str | None = None) -> pp.Chat:
    """The chat with its last message, as the postpress API returns it."""
    try:
        return await client.chats.retrieve(chat_id, account_id=account_id)
    except pp.NotFoundError as exc:
        raise HTTPException(status_code=404, detail="chat not found") from exc


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
