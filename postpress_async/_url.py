"""The one encoder of request URLs: path templates, path segments and query strings.

Every value that goes into a URL passes through here, so an id can never reach another path
(``/``, ``?``, ``#``, ``%``, ``.`` and ``..`` are all encoded) and a bad value is refused with
an error that names the argument, before any request is made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from yarl import URL

__all__ = ["Root", "Route", "encode_query", "encode_segment", "query_string"]

_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}
# A value that is an ASCII identifier (letters, digits, "_"; the usual id) is its own
# encoding: ``value.isascii() and value.isidentifier()`` says so in half the time a regular
# expression takes. Anything else, unreserved or not, goes through quote().
_PARAM = re.compile(r"\{([a-z_]+)\}")


def _checked(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _percent_encoded(value: str, name: str) -> str:
    try:
        return quote(value, safe="")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} is not valid unicode: {value!r}") from exc


def encode_segment(value: object, name: str) -> str:
    """``value`` percent-encoded as exactly one path segment; ``name`` is used in errors."""
    if isinstance(value, str) and value.isascii() and value.isidentifier():  # the usual id
        return value
    segment = _percent_encoded(_checked(value, name), name)
    return _DOT_SEGMENTS.get(segment, segment)


def encode_query(params: Mapping[str, object]) -> str:
    """``?name=value&…`` for the values that are not None ("" when all are None)."""
    query = query_string(params)
    return "?" + query if query else ""


def query_string(params: Mapping[str, object]) -> str:
    """``name=value&…`` for the values that are not None, without the ``?``."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, str) and not value:
            raise ValueError(f"{name} must not be empty; pass None to leave it out")
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
        parts.append(f"{name}={_percent_encoded(value, name)}")
    return "&".join(parts)


class Route:
    """An endpoint's path template, such as ``/chats/{chat_id}``, compiled once."""

    __slots__ = ("_head", "_names", "_one", "_pieces", "_tail", "name", "template")

    def __init__(self, template: str, *, name: str | None = None) -> None:
        self.template: str = template
        """The template as written; tracing reports it as ``url.template``."""
        self.name: str | None = name
        """The operation, such as ``chats.retrieve``: the name of its tracing span."""
        self._pieces = _PARAM.split(template)  # literal, name, literal, name, …, literal
        self._names = tuple(self._pieces[1::2])
        # A route of one parameter (the usual one) is filled without a loop.
        self._one = len(self._names) == 1
        self._head, self._tail = (self._pieces[0], self._pieces[2]) if self._one else ("", "")

    def path(self, values: tuple[object, ...]) -> str:
        """The path with each of ``values`` encoded as one segment, in template order."""
        if self._one and len(values) == 1:
            value = values[0]
            if type(value) is str and value.isascii() and value.isidentifier():
                return self._head + value + self._tail
        return self._filled(values)

    def _filled(self, values: tuple[object, ...]) -> str:
        names = self._names
        if len(values) != len(names):
            count = f"{len(names)} path value" + ("" if len(names) == 1 else "s")
            raise TypeError(f"{self.template} takes {count}, got {len(values)}")
        pieces = self._pieces
        out = pieces[0]
        for index, value in enumerate(values):
            out += encode_segment(value, names[index]) + pieces[2 * index + 2]
        return out

    def __repr__(self) -> str:
        return f"Route({self.template!r})"


class Root:
    """The API root (``base_url``), parsed once: each request's URL is built from its parts.

    ``URL(base_url + path, encoded=True)`` would parse the whole URL again for every request
    (yarl's ``split_url``: about 200 bytecodes, more than any other step the client takes
    itself); ``URL.build`` from the root's parts and the encoded path and query parses nothing
    and gives the same URL.
    """

    __slots__ = ("_authority", "_path", "_scheme")

    def __init__(self, base_url: str) -> None:
        root = URL(base_url, encoded=True)
        self._scheme = root.scheme
        self._authority = root.raw_authority
        self._path = root.raw_path.rstrip("/")  # "/" when base_url has no path

    def url(self, path: str, query: str = "") -> URL:
        """The URL of ``path`` (encoded, from the root's path on) with the encoded ``query``."""
        return URL.build(
            scheme=self._scheme,
            authority=self._authority,
            path=self._path + path,
            query_string=query,
            encoded=True,
        )
