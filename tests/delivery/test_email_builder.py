"""The one email builder: every email is a folder under templates/email/, rendered one way,
with the headers every email needs set in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from feedback.delivery.emails import SUBJECT_MAX, UnknownEmail, compose
from feedback.delivery.services import REMAKERS


@dataclass
class Shop:
    name: str
    sender_name: str | None = None
    sender_address: str | None = None


def email_folders(app: Flask) -> list[Path]:
    assert app.template_folder is not None
    return sorted(p for p in (Path(app.root_path) / app.template_folder / "email").iterdir())


def test_every_email_folder_has_a_subject_and_a_text(app):
    folders = email_folders(app)
    assert len(folders) >= 9
    for folder in folders:
        assert folder.is_dir(), folder
        assert (folder / "subject.txt").is_file(), folder
        assert (folder / "text.txt").is_file(), folder
        assert {p.name for p in folder.iterdir()} <= {"subject.txt", "text.txt", "html.html"}


def test_every_email_a_retry_remakes_has_a_folder_of_that_name(app):
    names = {folder.name for folder in email_folders(app)}
    assert set(REMAKERS) <= names


def test_the_subject_is_one_trimmed_line_at_most_the_cap(app):
    messy = "Green\nleaf \r\n\u2028 Plants"
    email = compose("test", to="o@example.com", data={"workspace_name": messy}, base_url=None)
    assert email.subject == "Test email from Green leaf Plants's customer feedback"
    long = compose("test", to="o@example.com", data={"workspace_name": "x" * 500}, base_url=None)
    assert len(long.subject) == SUBJECT_MAX and long.subject.startswith("Test email from x")


def test_a_plain_text_email_has_no_html_and_an_email_with_html_has_both(app):
    plain = compose("test", to="o@example.com", data={"workspace_name": "Shop"}, base_url=None)
    assert plain.text.startswith("This is the test email") and plain.html is None
    notice = compose(
        "follow-up-digest",
        to="o@example.com",
        data={"workspace": Shop("Shop"), "items": [], "total": 0, "more": 0, "queue_link": "/"},
        base_url=None,
    )
    assert notice.text and notice.html and "<" in notice.html


def test_the_common_headers_come_from_the_business_and_the_base_url(app):
    shop = Shop("Greenleaf Plants", "Greenleaf", "hello@greenleaf.example")
    email = compose(
        "test",
        to="o@example.com",
        data={"workspace_name": shop.name},
        base_url="https://fb.example.com/app",
        sent_as=shop,
        unsubscribe="https://fb.example.com/u/abc",
    )
    assert email.sender == "Greenleaf <hello@greenleaf.example>"
    assert email.message_domain == "fb.example.com"
    assert email.payload()["message_id"].endswith("@fb.example.com>")
    assert email.headers == {
        "List-Unsubscribe": "<https://fb.example.com/u/abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_without_a_business_or_base_url_the_service_sends_it(app):
    email = compose("test", to="o@example.com", data={"workspace_name": "Shop"}, base_url=None)
    # No From: of its own (the mailer uses MAIL_FROM), no list headers.
    assert email.sender is None and email.headers is None
    assert email.message_domain == "feedback.invalid"
    # So does a business that has set no sender address of its own.
    assert (
        compose(
            "test",
            to="o@example.com",
            data={"workspace_name": "Shop"},
            base_url=None,
            sent_as=Shop("Shop"),
        ).sender
        is None
    )


@pytest.mark.parametrize("name", ["no-such-email", "../surveys", "email/test", "", "Test"])
def test_an_unknown_email_name_is_an_error(app, name):
    with pytest.raises(UnknownEmail):
        compose(name, to="o@example.com", data={}, base_url=None)
