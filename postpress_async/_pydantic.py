"""pydantic (and so FastAPI) support for the models, through pydantic's own hook.

``_Model.__get_pydantic_core_schema__`` imports this module, so it is loaded only once pydantic
is asking, and the SDK never imports pydantic itself. A model's pydantic schema:

- validates by decoding with msgspec (an instance passes through; anything else is encoded
  to JSON and decoded as the model, so a ``Chat`` gets ``decode_chat``'s handling of unknown
  attachments and zone-less timestamps); a failure is a ``ValueError`` naming the field;
- serialises exactly as ``to_dict()`` (wire names, JSON-ready), in Python and JSON modes;
- gives JSON Schema / OpenAPI msgspec's schema of the model, nested models written inline,
  under the model's own name.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import msgspec
from pydantic_core import CoreSchema, core_schema

from ._errors import ResponseDecodeError

__all__ = ["core_schema_for"]

_encode = msgspec.json.Encoder().encode
_DEFS = "#/$defs/"


def core_schema_for(cls: type[msgspec.Struct]) -> CoreSchema:
    """The pydantic core schema of a model class."""
    schema = json_schema_of(cls)
    return core_schema.no_info_plain_validator_function(
        _validator(cls),
        serialization=core_schema.plain_serializer_function_ser_schema(_to_dict),
        ref=f"{cls.__module__}.{cls.__qualname__}:{id(cls)}",
        metadata={"pydantic_js_functions": [lambda _schema, _handler: copy.deepcopy(schema)]},
    )


def _to_dict(model: Any) -> Any:
    return model.to_dict()


@functools.cache
def _validator(cls: type[msgspec.Struct]) -> Callable[[Any], msgspec.Struct]:
    """A function that returns an instance of ``cls`` or raises ``ValueError``."""
    from ._codec import decode_chat
    from ._models import Chat, UnknownAttachment

    decode: Callable[[bytes], msgspec.Struct]
    if cls is UnknownAttachment:  # to_dict() gives the raw object: read it back as such
        decode = _read_unknown_attachment
    elif cls is Chat:
        decode = decode_chat
    else:
        decode = msgspec.json.Decoder(cls).decode

    def validate(value: Any) -> msgspec.Struct:
        if isinstance(value, cls):
            return value
        try:
            return decode(_encode(value))
        except (msgspec.MsgspecError, ResponseDecodeError, TypeError) as exc:
            raise ValueError(f"not a valid {cls.__name__}: {exc}") from None

    return validate


def _read_unknown_attachment(data: bytes) -> msgspec.Struct:
    from ._models import UnknownAttachment

    raw = msgspec.json.decode(data, type=dict[str, Any])
    kind, raw_id = raw.get("type"), raw.get("id")
    if not isinstance(kind, str):
        raise TypeError("an attachment needs a string `type`")
    return UnknownAttachment(type=kind, id=raw_id if isinstance(raw_id, str) else None, raw=raw)


@functools.cache
def json_schema_of(cls: type[msgspec.Struct]) -> dict[str, Any]:
    """msgspec's JSON Schema of ``cls`` with every nested model written inline."""
    (root,), components = msgspec.json.schema_components([cls], ref_template=_DEFS + "{name}")
    inlined: dict[str, Any] = _inline(root, components)
    return inlined


def _inline(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        return _inline(components[ref.removeprefix(_DEFS)], components)
    # A discriminator's mapping names $defs that no longer exist; each variant's tag is a
    # const in its own schema, which is all a reader needs.
    return {k: _inline(v, components) for k, v in node.items() if k != "discriminator"}
