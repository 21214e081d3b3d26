"""``RawResponse``: the response behind a parsed result, for callers who need headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from multidict import CIMultiDictProxy

from ._errors import request_id_from

__all__ = ["RawResponse"]

T = TypeVar("T")


class RawResponse(Generic[T]):
    """A successful HTTP response: status, headers, body bytes; ``parse()`` decodes it."""

    __slots__ = ("_parser", "content", "headers", "status", "url")

    def __init__(
        self,
        *,
        status: int,
        headers: CIMultiDictProxy[str],
        content: bytes,
        url: str,
        parser: Callable[[bytes], T],
    ) -> None:
        self.status: int = status
        self.headers: CIMultiDictProxy[str] = headers
        self.content: bytes = content
        self.url: str = url
        self._parser = parser

    @property
    def request_id(self) -> str | None:
        """The server's request id header, for support requests."""
        return request_id_from(self.headers)

    def parse(self) -> T:
        """Decode the body; raises ``ResponseDecodeError`` if it is not valid."""
        return self._parser(self.content)

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status}] {self.url} {len(self.content)} bytes>"
