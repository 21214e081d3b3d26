"""An aiohttp.web service that serves postpress chats: ``GET /chat/{chat_id}``.

The app owns one ``AsyncPostpress`` for its whole lifetime (created in ``cleanup_ctx``, closed
on shutdown), so every request shares one connection pool. ``pp.NotFoundError`` becomes a 404,
any other postpress error a 502; the body is the error's JSON envelope fields.

    export POSTPRESS_API_KEY=...                  # and POSTPRESS_BASE_URL for a fake server
    python examples/web_handler.py --port 8081    # then: curl localhost:8081/chat/chat_...
    python examples/web_handler.py --selftest chat_01HX...   # serve, fetch through it, exit

With ``--selftest`` it starts the app on a free port, requests the given chats (arguments,
or one id per line on stdin) through it, prints each status on stderr and each body on stdout,
and exits 0 when every answer was a chat (200) or a clean 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import postpress_async as pp

CLIENT = web.AppKey("postpress", pp.AsyncPostpress)


async def postpress_client(app: web.Application) -> AsyncIterator[None]:
    """Open one client when the app starts, close it when the app stops."""
    async with pp.AsyncPostpress() as client:
        app[CLIENT] = client
        yield


def error_response(status: int, exc: pp.PostpressError) -> web.Response:
    body: dict[str, object] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, pp.APIStatusError):
        body.update(status=exc.status, type=exc.type, request_id=exc.request_id)
    return web.json_response(body, status=status)


async def get_chat(request: web.Request) -> web.Response:
    """``GET /chat/{chat_id}``: the chat as the API's JSON."""
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
    app = web.Application()
    app.cleanup_ctx.append(postpress_client)
    app.router.add_get("/chat/{chat_id}", get_chat)
    return app


async def selftest(chat_ids: list[str]) -> int:
    """Serve the app on a free port, fetch ``chat_ids`` through it, report, stop."""
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ok = True
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            for chat_id in chat_ids:
                async with session.get(f"/chat/{chat_id}") as response:
                    body = await response.read()
                print(f"GET /chat/{chat_id} -> {response.status}", file=sys.stderr)
                print(json.dumps(json.loads(body)))
                ok = ok and response.status in (200, 404)
        return 0 if ok else 1
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve postpress chats over HTTP.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--selftest", action="store_true", help="serve, fetch ids, exit")
    parser.add_argument("chat_ids", nargs="*", help="ids for --selftest (default: stdin)")
    args = parser.parse_args()
    if not args.selftest:
        web.run_app(make_app(), host="127.0.0.1", port=args.port)
        return 0
    chat_ids = args.chat_ids or [line.strip() for line in sys.stdin if line.strip()]
    if not chat_ids:
        parser.error("--selftest needs at least one chat id")
    return asyncio.run(selftest(chat_ids))


if __name__ == "__main__":
    sys.exit(main())
