"""The models in pydantic: validation, serialisation as ``to_dict()``, JSON schema.

FastAPI, which serves them: ``test_fastapi.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from support import clean_env, run

import postpress_async as pp
from postpress_async.testing import FakePostpress

pydantic = pytest.importorskip("pydantic")

DATA = Path(__file__).parent / "data"
RICH = pp.decode_chat((DATA / "rich_chat.json").read_bytes())


def every_model_instance() -> list[msgspec.Struct]:
    """One instance of every model class, all taken from the rich recorded chat."""
    message = RICH.last_message
    assert message is not None
    assert message.quoted is not None
    assert message.reply_to is not None
    image = message.attachments[0]
    assert isinstance(image, pp.ImageAttachment)
    unknown = pp.decode_chat(
        json.dumps(
            {
                **json.loads(RICH.to_json()),
                "lastMessage": {
                    **json.loads(message.to_json()),
                    "attachments": [{"type": "hologram", "id": "att_1", "depth": 3}],
                },
            }
        )
    ).last_message
    assert unknown is not None
    return [
        RICH,
        message,
        message.quoted,
        message.reactions[0],
        message.reply_to,
        image.size,
        *message.attachments,
        unknown.attachments[0],
    ]


MODELS = every_model_instance()
MODEL_IDS = [type(m).__name__ for m in MODELS]


def test_every_model_class_is_covered() -> None:
    exported = {
        name
        for name in pp.__all__
        if isinstance(getattr(pp, name), type) and issubclass(getattr(pp, name), msgspec.Struct)
    }
    assert exported - {"ChatResult"} == set(MODEL_IDS)  # a batch's result, not a wire model


@pytest.mark.parametrize("model", MODELS, ids=MODEL_IDS)
def test_every_model_round_trips_through_pydantic(model: Any) -> None:
    adapter = pydantic.TypeAdapter(type(model))
    assert adapter.dump_python(model) == model.to_dict()
    assert adapter.dump_python(model, mode="json") == model.to_dict()
    assert json.loads(adapter.dump_json(model)) == json.loads(model.to_json())
    assert adapter.validate_python(model) is model
    assert adapter.validate_python(model.to_dict()) == model
    assert adapter.validate_json(model.to_json()) == model


@pytest.mark.parametrize("model", MODELS, ids=MODEL_IDS)
def test_every_model_has_its_msgspec_json_schema(model: Any) -> None:
    cls = type(model)
    schema = pydantic.TypeAdapter(cls).json_schema()
    if cls is pp.UnknownAttachment:
        return  # serialised as the raw object it came as: no fixed fields to list
    expected = msgspec.json.schema(cls)
    name = expected["$ref"].rsplit("/", 1)[1]
    assert set(schema["properties"]) == set(expected["$defs"][name]["properties"])
    assert set(schema.get("required", [])) == set(expected["$defs"][name].get("required", []))
    assert "$ref" not in json.dumps(schema)  # nested models are written inline


def test_a_pydantic_model_with_a_chat_field() -> None:
    class Reply(pydantic.BaseModel):
        chat: pp.Chat
        attachments: list[pp.Attachment]
        note: str

    message = RICH.last_message
    assert message is not None
    reply = Reply(chat=RICH, attachments=message.attachments, note="hi")
    dumped = reply.model_dump(mode="json")
    assert dumped == {
        "chat": RICH.to_dict(),
        "attachments": [a.to_dict() for a in message.attachments],
        "note": "hi",
    }
    assert Reply.model_validate_json(reply.model_dump_json()) == reply
    schema = Reply.model_json_schema()
    assert "lastMessage" in schema["$defs"]["Chat"]["properties"]


def test_a_chat_with_an_unknown_attachment_validates_as_decode_chat_reads_it() -> None:
    wire = RICH.to_dict()
    wire["lastMessage"]["attachments"].append({"type": "hologram", "id": "att_9", "depth": 3})
    chat = pydantic.TypeAdapter(pp.Chat).validate_python(wire)
    assert chat == pp.decode_chat(json.dumps(wire))
    assert chat.to_dict() == wire


def test_invalid_input_is_a_pydantic_validation_error_naming_the_field() -> None:
    wire = RICH.to_dict()
    wire["lastMessage"]["id"] = ""
    with pytest.raises(pydantic.ValidationError) as info:
        pydantic.TypeAdapter(pp.Chat).validate_python(wire)
    assert "$.lastMessage.id" in str(info.value)
    with pytest.raises(pydantic.ValidationError, match="Chat"):
        pydantic.TypeAdapter(pp.Chat).validate_python([1, 2])
    with pytest.raises(pydantic.ValidationError, match="Reaction"):
        pydantic.TypeAdapter(pp.Reaction).validate_python({"value": "x"})


# -- import cost -------------------------------------------------------------------------------


def test_the_sdk_never_imports_pydantic(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    script = f"""
import sys
import postpress_async as pp
with pp.Postpress({thread_server.api_key!r}, base_url={thread_server.base_url!r}) as client:
    chat = client.chats.retrieve({chat_id!r})
chat.to_dict(), chat.to_json(), pp.decode_chat(chat.to_json())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core", "fastapi")))
"""
    result = run([sys.executable, "-c", script], env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
