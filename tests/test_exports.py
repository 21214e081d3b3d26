"""The public surface: one sorted ``__all__`` holding every name API.md fixes."""

from __future__ import annotations

import types

import pytest

import postpress_async as pp

# API.md's names that exist today. The clients (AsyncPostpress, Postpress, RawResponse,
# Timeout) are tested with the clients.
MODELS = [
    "Chat",
    "Message",
    "QuotedMessage",
    "ReplyTo",
    "Reaction",
    "AttachmentSize",
    "ImageAttachment",
    "VideoAttachment",
    "AudioAttachment",
    "FileAttachment",
    "LinkedInPostAttachment",
    "VideoMeetingAttachment",
    "UnknownAttachment",
]
CONSTANTS = [
    "AccountType",
    "ChatType",
    "MessageType",
    "AttendeeType",
    "Folder",
    "ContentType",
    "ErrorType",
]
FUNCTIONS = ["decode_chat"]

# The error tree of API.md as child -> parent.
ERROR_TREE: dict[str, str | None] = {
    "PostpressError": None,
    "ConfigurationError": "PostpressError",
    "APIConnectionError": "PostpressError",
    "APITimeoutError": "APIConnectionError",
    "CertificateError": "APIConnectionError",
    "ProxyError": "APIConnectionError",
    "ResponseDecodeError": "PostpressError",
    "APIStatusError": "PostpressError",
    "BadRequestError": "APIStatusError",
    "AuthenticationError": "APIStatusError",
    "PermissionDeniedError": "APIStatusError",
    "NotFoundError": "APIStatusError",
    "RateLimitError": "APIStatusError",
    "ServerError": "APIStatusError",
    "InternalServerError": "ServerError",
    "ServiceUnavailableError": "ServerError",
    "GatewayTimeoutError": "ServerError",
}

FIXED_NAMES = MODELS + CONSTANTS + FUNCTIONS + list(ERROR_TREE)


def test_all_is_sorted_without_duplicates() -> None:
    assert pp.__all__ == sorted(pp.__all__)
    assert len(pp.__all__) == len(set(pp.__all__))


@pytest.mark.parametrize("name", pp.__all__)
def test_every_exported_name_is_importable(name: str) -> None:
    assert hasattr(pp, name)
    namespace: dict[str, object] = {}
    exec(f"from postpress_async import {name}", namespace)
    assert namespace[name] is getattr(pp, name)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from postpress_async import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(pp.__all__)


@pytest.mark.parametrize("name", FIXED_NAMES)
def test_api_md_name_is_exported(name: str) -> None:
    assert name in pp.__all__


def test_every_public_attribute_is_in_all() -> None:
    public = {
        name
        for name, value in vars(pp).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(pp.__all__)


def test_exported_names_live_in_the_package() -> None:
    for name in MODELS + CONSTANTS + FUNCTIONS + list(ERROR_TREE):
        module = getattr(pp, name).__module__
        assert module.startswith("postpress_async."), (name, module)


def test_models_are_classes_and_decode_chat_is_callable() -> None:
    for name in MODELS + CONSTANTS:
        assert isinstance(getattr(pp, name), type), name
    assert callable(pp.decode_chat)


@pytest.mark.parametrize(("name", "parent"), ERROR_TREE.items())
def test_error_tree(name: str, parent: str | None) -> None:
    cls = getattr(pp, name)
    expected = {name}
    while parent is not None:
        expected.add(parent)
        parent = ERROR_TREE[parent]
    ancestors = {other for other in ERROR_TREE if issubclass(cls, getattr(pp, other))}
    assert ancestors == expected
    assert issubclass(cls, Exception)


def test_every_error_class_has_a_docstring() -> None:
    for name in ERROR_TREE:
        doc = getattr(pp, name).__doc__
        assert doc, name
        assert doc.strip().splitlines()[0], name


def test_every_error_has_retryable_and_the_new_ones_are_final() -> None:
    for name in ERROR_TREE:
        assert isinstance(getattr(pp, name).retryable, bool), name
    assert pp.CertificateError.retryable is False
    assert pp.ProxyError.retryable is False
    assert pp.APIConnectionError.retryable is True
