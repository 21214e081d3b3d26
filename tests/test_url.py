"""The one URL encoder: routes, path segments and query strings."""

from __future__ import annotations

import pytest
from yarl import URL

from postpress_async._url import Root, Route, encode_query, encode_segment, query_string


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("chat_01HX", "chat_01HX"),
        ("a/b", "a%2Fb"),
        ("a?b#c", "a%3Fb%23c"),
        ("100%", "100%25"),
        ("with space", "with%20space"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("é", "%C3%A9"),
    ],
)
def test_a_value_is_exactly_one_segment(value: str, segment: str) -> None:
    assert encode_segment(value, "chat_id") == segment


def test_bad_segments_name_the_argument() -> None:
    with pytest.raises(TypeError, match="chat_id must be a str, got int"):
        encode_segment(7, "chat_id")
    with pytest.raises(ValueError, match="chat_id must not be empty"):
        encode_segment("", "chat_id")
    with pytest.raises(ValueError, match="chat_id is not valid unicode"):
        encode_segment("\ud800", "chat_id")


def test_query_leaves_out_none_and_encodes_values() -> None:
    assert encode_query({"account_id": None}) == ""
    assert encode_query({"account_id": "acc 1/2", "x": None, "y": "z"}) == (
        "?account_id=acc%201%2F2&y=z"
    )
    with pytest.raises(ValueError, match="account_id must not be empty; pass None"):
        encode_query({"account_id": ""})
    with pytest.raises(TypeError, match="account_id must be a str or None, got int"):
        encode_query({"account_id": 3})


def test_routes_fill_every_parameter_in_order() -> None:
    one = Route("/chats/{chat_id}")
    assert one.path(("a/b",)) == "/chats/a%2Fb"
    assert one.path(("chat_1-A~z",)) == "/chats/chat_1-A~z"
    assert one.path(("..",)) == "/chats/%2E%2E"
    with pytest.raises(TypeError, match="takes 1 path value, got 2"):
        one.path(("a", "b"))
    two = Route("/chats/{chat_id}/messages/{message_id}")
    assert two.path(("c", "..")) == "/chats/c/messages/%2E%2E"
    assert two.path(("c", "m_1")) == "/chats/c/messages/m_1"
    assert two.template == "/chats/{chat_id}/messages/{message_id}"
    with pytest.raises(TypeError, match="takes 2 path values, got 1"):
        two.path(("c",))
    with pytest.raises(ValueError, match="message_id must not be empty"):
        two.path(("c", ""))


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080",
        "https://api.postpress.ai/api/v1",
        "https://[::1]:8443/x",
        "http://localhost",
        "HTTPS://API.Example.com/v1",
        "https://h:443/a%20b",
        "http://xn--bcher-kva.example/p",
    ],
)
def test_a_request_url_built_from_the_root_is_the_url_parsed_whole(base_url: str) -> None:
    root = Root(base_url)
    route = Route("/chats/{chat_id}")
    cases = [("a/b", {}), ("..", {"account_id": "a b"}), ("c_1", {"x": "1", "y": "é"})]
    for chat_id, query in cases:
        path = route.path((chat_id,))
        built = root.url(path, query_string(query))
        parsed = URL(base_url + path + encode_query(query), encoded=True)
        assert built == parsed
        assert str(built) == str(parsed)
        assert (built.scheme, built.raw_host, built.port) == (
            parsed.scheme,
            parsed.raw_host,
            parsed.port,
        )
        assert built.raw_path_qs == parsed.raw_path_qs
