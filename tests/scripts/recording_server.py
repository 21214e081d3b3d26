"""A ``FakePostpress`` in a process of its own, for measurements the test's process would skew.

    python recording_server.py CHATS      # prints its base URL, api key and ids: three lines

It serves ``CHATS`` generated chats (their ids a JSON list on the third line) and reads
commands from stdin: ``reset`` forgets what it recorded so far (answering ``ok``), ``times``
prints the arrival times of the requests recorded since, as one JSON list of
``time.monotonic()`` values (the machine's clock, shared with the test); ``fail N`` makes
each of the first N ids answer one retryable 500 (``Retry-After: 0``) before its chat
(answering ``ok``); EOF stops it. Its own
process means its own core: the test's client and garbage collector do not delay the moment a
request is stamped.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys

from postpress_async import ErrorType
from postpress_async._loops import run
from postpress_async.testing import FakePostpress


async def serve(chats: int) -> None:
    async with FakePostpress() as server:
        ids = server.add_chats(chats)
        # A collection of this heap would stamp the requests waiting behind it late.
        gc.collect()
        gc.disable()
        print(server.base_url, flush=True)
        print(server.api_key, flush=True)
        print(json.dumps(ids), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command == "reset":
                server.reset()
                print("ok", flush=True)
            elif command.startswith("fail "):
                for chat_id in ids[: int(command.split()[1])]:
                    server.fail(chat_id, error=ErrorType.PROVIDER_ERROR, retry_after=0)
                print("ok", flush=True)
            elif command == "times":
                print(json.dumps([r.time for r in server.requests]), flush=True)
            else:
                return


def main() -> None:
    run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
