"""An aiohttp.web service in production shape: one shared client, traced, shut down cleanly.

- One ``AsyncPostpress`` per process, opened in ``cleanup_ctx`` and closed on shutdown, so
  every request shares one connection pool (never a client per request).
- OpenTelemetry: a SERVER span per request (a middleware); the SDK's ``chats.retrieve`` span
  nests under it. Spans go to ``--spans FILE`` as JSON lines (a real service would use an
  OTLP exporter instead); without ``opentelemetry-sdk`` installed, nothing is traced.
- ``GET /chats/{chat_id}`` answers the chat as the API's JSON; a missing chat is a 404, any
  other postpress error a 502 with the error's class, status, type and request id.

    export POSTPRESS_API_KEY=...                    # and POSTPRESS_BASE_URL for a fake server
    python examples/aiohttp_service.py --port 8082  # then: curl localhost:8082/chats/chat_...
    python examples/aiohttp_service.py --selftest 200 --concurrency 20 chat_1 chat_2 ...

``--selftest N`` serves the app on a free port, sends N requests (cycling through the ids,
``--concurrency`` at a time), shuts down, and prints one JSON line: the count of each status.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

import postpress_async as pp

CLIENT = web.AppKey("postpress", pp.AsyncPostpress)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


@web.middleware
async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One SERVER span per request; the SDK's spans are its children."""
    try:
        from opentelemetry import trace
    except ImportError:
        return await handler(request)
    route = request.match_info.route.resource
    name = f"{request.method} {route.canonical if route is not None else request.path}"
    tracer = trace.get_tracer("aiohttp_service")
    with tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER) as span:
        response = await handler(request)
        span.set_attribute("http.response.status_code", response.status)
        return response


async def postpress_client(app: web.Application) -> AsyncIterator[None]:
    """Open the one client when the app starts, close it when the app stops."""
    async with pp.AsyncPostpress() as client:
        app[CLIENT] = client
        yield


def error_response(status: int, exc: pp.PostpressError) -> web.Response:
    body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, pp.APIStatusError):
        body.update(status=exc.status, type=exc.type, request_id=exc.request_id)
    return web.json_response(body, status=status)


async def get_chat(request: web.Request) -> web.Response:
    """``GET /chats/{chat_id}[?account_id=...]``: the chat as the API's JSON."""
    client = request.app[CLIENT]
    account_id = request.query.get("account_id")
    try:
        chat = await client.chats.retrieve(request.match_info["chat_id"], account_id=account_id)
    except pp.NotFoundError as exc:
        return error_response(404, exc)
    except pp.PostpressError as exc:
        return error_response(502, exc)
    return web.Response(body=chat.to_json(), content_type="application/json")


def make_app() -> web.Application:
    app = web.Application(middlewares=[traced])
    app.cleanup_ctx.append(postpress_client)
    app.router.add_get("/chats/{chat_id}", get_chat)
    return app


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
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return await load(f"http://127.0.0.1:{port}", chat_ids, requests, concurrency)
    finally:
        await runner.cleanup()  # closes the postpress client through cleanup_ctx


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve postpress chats over HTTP.")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--spans", help="write OpenTelemetry spans here, one JSON per line")
    parser.add_argument("--selftest", type=int, metavar="N", help="serve, send N requests, exit")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("chat_ids", nargs="*", help="ids for --selftest")
    args = parser.parse_args()
    shutdown_tracing = setup_tracing(args.spans)
    try:
        if args.selftest is None:
            web.run_app(make_app(), host="127.0.0.1", port=args.port)
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
