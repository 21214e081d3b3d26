"""How long a batch against a dead endpoint takes to stop (not part of ``run.py``'s suites).

    python benchmarks/dead_endpoint.py

``retrieve_many`` at concurrency 32 with the default retry policy, against a port on 127.0.0.1
that nothing listens on: through it as the proxy, and as the API itself; then the blocking
client; then a black hole (a listener whose full queue makes the kernel drop every SYN, as a
firewall that drops would), where every attempt waits out the default ``Timeout.connect`` of
10 s. Each batch stops with the ``APIConnectionError`` (the black hole's: ``APITimeoutError``)
of its last id once the last few ids all failed to connect (issue 18 measured 148.8 s for 200
ids through a dead proxy before).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import postpress_async as pp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(via: str) -> dict[str, str]:
    port = free_port()
    if via == "proxy":
        return {"proxy": f"http://127.0.0.1:{port}", "base_url": "http://127.0.0.1:9/api/v1"}
    return {"base_url": f"http://127.0.0.1:{port}/api/v1"}


async def batch(count: int, via: str) -> None:
    async with pp.AsyncPostpress("pp_key", trust_env=False, **settings(via)) as client:
        started = time.perf_counter()
        results = 0
        try:
            async for _ in client.chats.retrieve_many(
                (f"chat_{n}" for n in range(count)), concurrency=32
            ):
                results += 1
        except pp.APIConnectionError as exc:
            elapsed = time.perf_counter() - started
            print(
                f"async, dead {via:<5} {count:>6,} ids: stopped after {elapsed:.2f} s, "
                f"{results} results first, {type(exc).__name__} after {exc.attempts} attempts"
            )


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port whose connections are never made: its listener's queue is full."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()


async def black_holed(count: int) -> None:
    with black_hole() as port:
        base_url = f"http://127.0.0.1:{port}/api/v1"
        async with pp.AsyncPostpress("pp_key", base_url=base_url, trust_env=False) as client:
            started = time.perf_counter()
            try:
                async for _ in client.chats.retrieve_many(
                    (f"chat_{n}" for n in range(count)), concurrency=32
                ):
                    pass
            except pp.APITimeoutError as exc:
                elapsed = time.perf_counter() - started
                print(
                    f"async, black hole {count:>6,} ids: stopped after {elapsed:.1f} s, "
                    f"{type(exc).__name__}(limit={exc.limit!r}) after {exc.attempts} attempts"
                )


def blocking(count: int) -> None:
    with pp.Postpress("pp_key", trust_env=False, **settings("api")) as client:
        started = time.perf_counter()
        try:
            list(client.chats.retrieve_many((f"chat_{n}" for n in range(count)), concurrency=32))
        except pp.APIConnectionError:
            elapsed = time.perf_counter() - started
            print(f"blocking, dead api  {count:>6,} ids: stopped after {elapsed:.2f} s")


if __name__ == "__main__":
    for ids in (200, 20_000):
        for via in ("proxy", "api"):
            asyncio.run(batch(ids, via))
    blocking(2_000)
    asyncio.run(black_holed(2_000))
