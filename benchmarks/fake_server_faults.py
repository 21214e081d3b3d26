"""What registered faults cost the fake server per request (not part of ``run.py``'s suites).

    python benchmarks/fake_server_faults.py                    # 2,700 faults, 2,000 requests
    python benchmarks/fake_server_faults.py --faults 10000 --requests 5000

One ``FakePostpress`` in this event loop; one keep-alive connection sends sequential
``GET /chats/{id}`` for chats that have no fault, first with no fault registered, then with
``--faults`` per-id faults (``times=None``) for other ids, so no request uses one but every
request must look for one. Rounds alternate between the two; the figure is the difference of
the medians, in microseconds per request: the price of the fault lookup.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import postpress_async as pp
from postpress_async.testing import FakePostpress


async def per_request(server: FakePostpress, ids: list[str], requests: int) -> float:
    """Seconds per request, sequential, over one raw keep-alive connection."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    prefix = server.base_url.split(str(server.port), 1)[1]
    lines = [
        f"GET {prefix}/chats/{ids[i % len(ids)]} HTTP/1.1\r\nHost: x\r\n"
        f"X-API-KEY: {server.api_key}\r\n\r\n".encode()
        for i in range(requests)
    ]
    started = time.perf_counter()
    for line in lines:
        writer.write(line)
        head = await reader.readuntil(b"\r\n\r\n")
        fields = (h.split(b":", 1) for h in head.split(b"\r\n")[1:])
        length = next(int(value) for name, value in fields if name.lower() == b"content-length")
        await reader.readexactly(length)
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    return elapsed / requests


async def main(faults: int, requests: int, rounds: int) -> None:
    async with FakePostpress(record=False) as server:
        ids = server.add_chats(50)
        await per_request(server, ids, requests)  # warm up
        bare: list[float] = []
        loaded: list[float] = []
        for _ in range(rounds):
            server.reset()
            bare.append(await per_request(server, ids, requests))
            for n in range(faults):
                server.fail(f"other_{n}", error=pp.ErrorType.PROVIDER_ERROR, times=None)
            loaded.append(await per_request(server, ids, requests))
        without, with_ = statistics.median(bare) * 1e6, statistics.median(loaded) * 1e6
        print(f"no faults:          {without:8.1f} µs/request")
        print(f"{faults:>6,} faults:     {with_:8.1f} µs/request")
        print(f"fault lookup costs: {with_ - without:8.1f} µs/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=2_700)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.faults, args.requests, args.rounds))
