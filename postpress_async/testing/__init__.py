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
Under pytest the plugin ``_postpress_async_pytestplugin`` (installed as the ``pytest11``
entry point ``postpress_async``) provides the fixtures ``fake_postpress`` (async, needs
pytest-asyncio) and ``fake_postpress_thread`` (blocking).

It serves ``GET {base_url}/chats/{chat_id}``: the id is the one raw path segment after
``/chats/``, percent-decoded once, so hostile ids arrive exactly as the client meant them. A
request meets, in order: the earliest registered fault for its id or for any id (``fail``);
``X-API-KEY`` (401 ``missing_credentials`` / ``invalid_credentials``); the lookup of a
postpress id, or of a provider id with its ``account_id`` (400 ``errors/missing_account_id``
without one). Anything else is a 404 ``resource_not_found`` envelope. Every response carries
``X-Request-Id``, which is also the envelope's ``instance``. aiohttp retries a dropped GET once
by itself: use ``fail(drop=True, times=2)`` to make an aiohttp client see the drop.

The package, by job: ``_server`` (the aiohttp adapter and ``FakePostpress``), ``_routes`` (the
route table, API-key auth and the chat store, as plain functions), ``_faults`` (``Fault`` and
the registry requests take them from) and ``_recorder`` (``RecordedRequest``, counts, requests
in flight). The pytest fixtures live outside the package, so that pytest imports nothing of
the SDK before a test uses them.
"""

from ._faults import Fault
from ._recorder import RecordedRequest
from ._routes import MISSING_ACCOUNT_ID
from ._server import FakePostpress

__all__ = ["MISSING_ACCOUNT_ID", "FakePostpress", "Fault", "RecordedRequest"]
