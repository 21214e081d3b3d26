"""The string constants (``ContentType``, ``ChatType``, ``ErrorType`` …) against their wire values
and the API reference's table of error ids and statuses.
"""

from __future__ import annotations

import re

from payloads import (
    SPEC,
    needs_spec,
)

import postpress_async as pp

# --- Constants -------------------------------------------------------------------------------


def test_string_constants_equal_their_wire_values() -> None:
    assert pp.AccountType.LINKEDIN == "LINKEDIN"
    assert {m.value for m in pp.AccountType} == {
        "WHATSAPP",
        "LINKEDIN",
        "SLACK",
        "TWITTER",
        "MESSENGER",
        "INSTAGRAM",
        "TELEGRAM",
    }
    assert pp.MessageType.INMAIL_REPLY == "INMAIL_REPLY"
    assert {m.value for m in pp.MessageType} == {
        "MESSAGE",
        "INVITATION",
        "INMAIL",
        "INMAIL_DECLINE",
        "INMAIL_REPLY",
        "INMAIL_ACCEPT",
    }
    assert pp.AttendeeType.ORGANIZATION == "ORGANIZATION"
    assert {m.value for m in pp.AttendeeType} == {"MEMBER", "ORGANIZATION", "OTHER"}
    assert pp.Folder.INBOX_LINKEDIN_SALES_NAVIGATOR == "INBOX_LINKEDIN_SALES_NAVIGATOR"
    assert {m.value for m in pp.Folder} == {
        "INBOX",
        "INBOX_LINKEDIN_CLASSIC",
        "INBOX_LINKEDIN_RECRUITER",
        "INBOX_LINKEDIN_SALES_NAVIGATOR",
        "INBOX_LINKEDIN_ORGANIZATION",
    }
    for enum_type in (pp.AccountType, pp.MessageType, pp.AttendeeType, pp.Folder):
        for member in enum_type:
            assert member.name == member.value  # named as its value
            assert str(member) == member.value
            assert f"{member}" == member.value


def test_content_type_by_upper_and_wire_name() -> None:
    assert pp.ContentType.INMAIL == "inmail"
    assert pp.ContentType.inmail == "inmail"
    assert pp.ContentType.SPONSORED == pp.ContentType.sponsored == "sponsored"
    assert pp.ContentType.LINKEDIN_OFFER == pp.ContentType.linkedin_offer == "linkedin_offer"
    assert {m.value for m in pp.ContentType} == {"inmail", "sponsored", "linkedin_offer"}
    assert str(pp.ContentType.inmail) == "inmail"


def test_chat_type_constants() -> None:
    assert pp.ChatType.ONE_TO_ONE == 0
    assert pp.ChatType.GROUP == 1
    assert pp.ChatType.BROADCAST == 2
    assert {int(m) for m in pp.ChatType} == {0, 1, 2}


def documented_error_ids() -> dict[str, int]:
    """Every ``errors/...`` id in the reference, with the status of the section it is in."""
    text = SPEC.read_text("utf-8")
    errors = text[text.index("Every error response") :]
    ids: dict[str, int] = {}
    sections = re.split(r"\n(?=\d{3} [A-Z][A-Za-z ]+\d+ types?\n)", errors)
    for section in sections:
        heading = re.match(r"(\d{3}) [A-Za-z ]+?(\d+) types?\n", section)
        if heading is None:
            continue
        status, count = int(heading[1]), int(heading[2])
        found = re.findall(r"errors/[a-z_]+", section)
        assert len(found) == count, f"{status}: {found}"
        ids.update(dict.fromkeys(found, status))
    return ids


@needs_spec
def test_error_type_has_exactly_the_documented_ids() -> None:
    documented = documented_error_ids()
    everywhere = set(re.findall(r"errors/[a-z_]+", SPEC.read_text("utf-8")))
    assert set(documented) == everywhere
    assert len(documented) == 33
    assert {m.value for m in pp.ErrorType} == set(documented)
    assert len(list(pp.ErrorType)) == 33


@needs_spec
def test_error_type_names_and_statuses() -> None:
    for error_id, status in documented_error_ids().items():
        name = error_id.rsplit("/", 1)[1].upper()
        member = getattr(pp.ErrorType, name)
        assert member == error_id
        assert member.name == name
        assert member.status == status, error_id
    assert pp.ErrorType.EXPIRED_CREDENTIALS == "errors/expired_credentials"
