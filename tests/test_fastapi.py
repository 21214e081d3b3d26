"""The models in FastAPI: served exactly as ``to_dict()``, validated, described in OpenAPI.

FastAPI apps are served by its ``TestClient``; the chats they return come from a real
``FakePostpress`` through a lifespan-managed ``AsyncPostpress``. FastAPI 0.165 and httpx2 (its
``TestClient``'s) need Python 3.11: on 3.10 the dev group leaves them out and these tests skip.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest

import postpress_async as pp
from postpress_async.testing import FakePostpress

pydantic = pytest.importorskip("pydantic")
fastapi = pytest.importorskip("fastapi", reason="FastAPI is not installed (it needs Python 3.11+)")
from fastapi.testclient import TestClient  # noqa: E402

RICH = pp.decode_chat((Path(__file__).parent / "data" / "rich_chat.json").read_bytes())


class ChatWithNote(pydantic.BaseModel):
    """A user's model with a Chat field (module level: FastAPI resolves it by name)."""

    chat: pp.Chat
    note: str


def make_app(server: FakePostpress) -> Any:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with pp.AsyncPostpress(server.api_key, base_url=server.base_url) as client:
            app.state.postpress = client
            yield

    app = fastapi.FastAPI(lifespan=lifespan)

    @app.get("/model/{chat_id}", response_model=pp.Chat)
    async def by_response_model(chat_id: str, request: fastapi.Request) -> Any:
        return await request.app.state.postpress.chats.retrieve(chat_id)

    @app.get("/annotated/{chat_id}")
    async def by_annotation(chat_id: str, request: fastapi.Request) -> pp.Chat:
        chat: pp.Chat = await request.app.state.postpress.chats.retrieve(chat_id)
        return chat

    @app.get("/noted/{chat_id}")
    async def in_a_model(chat_id: str, request: fastapi.Request) -> ChatWithNote:
        chat = await request.app.state.postpress.chats.retrieve(chat_id)
        return ChatWithNote(chat=chat, note=f"unread: {chat.unread_count}")

    @app.post("/echo")  # FastAPI reads a non-pydantic class from the query unless told: Body()
    async def echo(chat: Annotated[pp.Chat, fastapi.Body()]) -> dict[str, Any]:
        return {"id": chat.id, "has_message": chat.last_message is not None}

    return app


@pytest.mark.parametrize("route", ["model", "annotated"])
def test_fastapi_serves_a_chat_exactly_as_to_dict(thread_server: FakePostpress, route: str) -> None:
    chat_ids = thread_server.add_chats(3)
    with TestClient(make_app(thread_server)) as http:
        for chat_id in chat_ids:
            response = http.get(f"/{route}/{chat_id}")
            assert response.status_code == 200
            assert response.json() == thread_server.chat(chat_id).to_dict()
            assert "lastMessage" in response.json()
    assert [r.chat_id for r in thread_server.requests] == chat_ids


def test_fastapi_serves_a_users_model_with_a_chat_field(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    with TestClient(make_app(thread_server)) as http:
        body = http.get(f"/noted/{chat_id}").json()
    chat = thread_server.chat(chat_id)
    assert body == {"chat": chat.to_dict(), "note": f"unread: {chat.unread_count}"}


def test_fastapi_validates_a_chat_request_body(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    wire = thread_server.chat(chat_id).to_dict()
    with TestClient(make_app(thread_server)) as http:
        ok = http.post("/echo", json=wire)
        assert ok.status_code == 200
        assert ok.json() == {"id": chat_id, "has_message": wire["lastMessage"] is not None}
        del wire["account_id"]
        bad = http.post("/echo", json=wire)
    assert bad.status_code == 422
    assert "account_id" in json.dumps(bad.json())


def test_openapi_lists_the_chat_fields(thread_server: FakePostpress) -> None:
    with TestClient(make_app(thread_server)) as http:
        spec = http.get("/openapi.json").json()
    chat_schema = spec["components"]["schemas"]["Chat"]
    wire_names = set(RICH.to_dict())
    assert set(chat_schema["properties"]) == wire_names
    assert {"id", "account_id", "unread_count"} <= set(chat_schema["required"])
    ok = spec["paths"]["/model/{chat_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Chat"}
    annotated = spec["paths"]["/annotated/{chat_id}"]["get"]["responses"]["200"]
    assert annotated["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Chat"
    }
    nullable = chat_schema["properties"]["lastMessage"]["anyOf"]  # msgspec < 0.22: null first
    (message,) = [member for member in nullable if member.get("type") == "object"]
    assert {"type": "null"} in nullable
    assert {"id", "text", "attachments"} <= set(message["properties"])
