"""Decode one realistic chat payload (``data/chat.json``, sent compact as the API sends it).

    python benchmarks/bench_decode.py --lib decode_chat     # one case, one JSON line
    python benchmarks/run.py decode                         # every case, a table

Cases: ``decode_chat`` (typed Structs, the SDK), ``orjson`` and ``json`` (``loads`` to dicts),
``msgspec-dict`` (``msgspec.json.decode`` to dicts), ``pydantic`` (``model_validate_json``
on the same schema) and ``openai`` (``construct_type`` on ``json.loads`` output, the way
openai-python builds responses). Each setup checks its result once before it is timed.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from _harness import Op, Suite, main

PAYLOAD = Path(__file__).parent / "data" / "chat.json"


def payload() -> bytes:
    """The payload as wire bytes: compact JSON, UTF-8."""
    data = json.loads(PAYLOAD.read_bytes())
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _checked_dict(op: Op) -> Op:
    result: Any = op()
    assert len(result["lastMessage"]["attachments"]) == 3
    return op


def _checked_model(op: Op) -> Op:
    result: Any = op()
    assert result.last_message.attachments[0].size.width == 1600
    assert result.last_message.quoted.text
    return op


def decode_chat() -> Op:
    import postpress_async as pp

    return _checked_model(functools.partial(pp.decode_chat, payload()))


def orjson_loads() -> Op:
    import orjson

    return _checked_dict(functools.partial(orjson.loads, payload()))


def json_loads() -> Op:
    return _checked_dict(functools.partial(json.loads, payload()))


def msgspec_dict() -> Op:
    import msgspec

    return _checked_dict(functools.partial(msgspec.json.decode, payload()))


def pydantic_validate() -> Op:
    from _peers import PydanticChat

    return _checked_model(functools.partial(PydanticChat.model_validate_json, payload()))


def openai_construct() -> Op:
    from _peers import OpenAIChat
    from openai._models import construct_type

    body = payload()
    loads = json.loads  # what httpx's Response.json() calls

    def op() -> object:
        return construct_type(type_=OpenAIChat, value=loads(body))

    return _checked_model(op)


def describe() -> str:
    body = payload()
    return (
        f"One `GET /chats/{{id}}` body: `benchmarks/data/chat.json`, {len(body):,} bytes compact "
        "(a LinkedIn InMail with an image, a file and a post attachment, a quoted message, "
        "3 reactions, 4 read receipts and a 600-byte `original`)."
    )


SUITE = Suite(
    name="decode",
    title="Decode one chat payload",
    baseline="decode_chat",
    cases={
        "decode_chat": decode_chat,
        "orjson": orjson_loads,
        "json": json_loads,
        "msgspec-dict": msgspec_dict,
        "pydantic": pydantic_validate,
        "openai": openai_construct,
    },
    packages=["msgspec", "orjson", "pydantic", "openai", "postpress_async"],
    describe=describe,
)

if __name__ == "__main__":
    main(SUITE)
