"""What a resource needs from its client: one request function.

A resource (``client.chats``, and each endpoint family added later) names its route, its path
values, its query and how to parse the response; the client does the rest (URL encoding,
retries, the transport). Resources know nothing else of the client, and the client imports
them, so there is no circle between the two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from ._retry import AttemptObserver
from ._transport import HttpResponse
from ._url import Route

__all__ = ["Request"]

T = TypeVar("T")


class Request(Protocol):
    """``request(route, path, query, parse)``: one API call, retried, parsed.

    ``observer`` (a batch's) hears of every failed attempt, retries included.
    """

    def __call__(
        self,
        route: Route,
        path: tuple[object, ...],
        query: Mapping[str, object] | None,
        parse: Callable[[HttpResponse], T],
        observer: AttemptObserver | None = None,
    ) -> Awaitable[T]: ...
