"""Settings that reach email headers are validated, and every email carries Date: and
Message-ID:. Messages are read back from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import update

from feedback.accounts import services as accounts
from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.delivery import services
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.worker import DeliverySettings, deliver_due
from feedback.surveys import emails
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.support.delivery import Clock

SETTINGS = DeliverySettings(mail_from="feedback@example.com", retry_base_seconds=60, max_attempts=3)


def current(workspace) -> accounts.WorkspaceSettings:
    return accounts.WorkspaceSettings(
        **{
            f.name: getattr(workspace, f.name)
            for f in dataclasses.fields(accounts.WorkspaceSettings)
        }
    )


@pytest.mark.parametrize(
    "name",
    [
        "Shop\nBcc: victim@evil.example",
        "Shop\r\n",
        "Shop\rX",
        "Shop\x00",
        "Shop\x1b[31m",
        "Shop\x85",  # NEL, a C1 control
        "Shop\u2028Next",  # line separator
        "Shop\u200e",  # a format character (left-to-right mark)
        "S" * 81,
    ],
)
def test_sender_names_with_control_characters_or_too_long_are_refused(db_session, name):
    workspace = make_workspace(db_session)
    with pytest.raises(accounts.SettingsError) as error:
        accounts.update_settings(
            db_session, workspace, dataclasses.replace(current(workspace), sender_name=name)
        )
    assert error.value.field == "sender_name"


@pytest.mark.parametrize(
    "address",
    [
        "shop",
        "shop@",
        "@shop.example",
        "shop@localhost",
        "shop@@shop.example",
        "sh op@shop.example",
        "shop@shop.example\r\nBcc: victim@evil.example",
        "Shop <shop@shop.example>",
        "<shop@shop.example>",
        "shop@-shop.example",
        "shop@shop..example",
        "shop@shop.123",
        "shop.@shop.example",
        '"shop"@shop.example',
        "x" * 65 + "@shop.example",
        "shop@" + "a" * 64 + ".example",
    ],
)
def test_sender_addresses_that_are_not_plain_email_addresses_are_refused(db_session, address):
    workspace = make_workspace(db_session)
    with pytest.raises(accounts.SettingsError) as error:
        accounts.update_settings(
            db_session,
            workspace,
            dataclasses.replace(current(workspace), sender_address=address),
        )
    assert error.value.field == "sender_address"


def test_good_sender_settings_are_kept(db_session):
    workspace = make_workspace(db_session)
    accounts.update_settings(
        db_session,
        workspace,
        dataclasses.replace(
            current(workspace), sender_name="  Café   Rosé ", sender_address="Hola@Café.Example"
        ),
    )
    assert workspace.sender_name == "Café Rosé"
    assert workspace.sender_address == "hola@xn--caf-dma.example"


def test_the_settings_page_refuses_a_sender_name_with_a_line_break(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    page = client.get("/settings")
    data = {
        f.name: str(getattr(workspace, f.name) or "")
        for f in dataclasses.fields(accounts.WorkspaceSettings)
    }
    data.update(csrf_token=csrf_token_from(page), sender_address="hello@acme.example")
    refused = client.post("/settings", data={**data, "sender_name": "Acme\r\nBcc: x@evil.example"})
    assert refused.status_code == 422
    assert "No line breaks or other control characters." in refused.text
    refused = client.post("/settings", data={**data, "sender_address": "acme@localhost"})
    assert refused.status_code == 422 and "is not an email address" in refused.text
    db_session.expire_all()
    assert db_session.get(Workspace, workspace.id).sender_name == "Acme Plants"  # unchanged


def send_invitation(db_session, smtp_server, workspace):
    issued = make_invitation(db_session, workspace, sent=False)
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url="https://fb.example", secret_key="k", now=NOW
    )
    db_session.commit()
    if smtp_server.controller is None:
        smtp_server.start()
    deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), SETTINGS, Clock(NOW))
    return smtp_server.inbox.messages[-1]


def test_an_empty_sender_name_shows_the_business_name_not_none(db_session, smtp_server):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    accounts.update_settings(
        db_session,
        workspace,
        dataclasses.replace(
            current(workspace), sender_name="", sender_address="hello@greenleaf.example"
        ),
    )
    db_session.commit()
    received = send_invitation(db_session, smtp_server, workspace)
    assert received["From"] == "Greenleaf Plants <hello@greenleaf.example>"


def test_a_bad_sender_from_before_the_checks_is_made_safe_by_the_mailer(db_session, smtp_server):
    workspace = make_workspace(db_session, "Old Shop")
    db_session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id)
        .values(sender_name="Old\nBcc: victim@evil.example", sender_address="not an address")
    )
    db_session.commit()
    db_session.refresh(workspace)
    received = send_invitation(db_session, smtp_server, workspace)
    # An unusable address: the installation's MAIL_FROM is used instead.
    assert received["From"] == "feedback@example.com"
    assert received["Bcc"] is None
    [(_mail_from, recipients)] = smtp_server.inbox.envelopes
    assert recipients == [received["To"]]


def test_every_email_carries_a_date_and_a_message_id(db_session, smtp_server):
    workspace = make_workspace(db_session)
    services.enqueue_email(
        db_session, workspace.id, to="ann@example.com", subject="Plain", text="t", now=NOW
    )
    db_session.commit()
    send_invitation(db_session, smtp_server, workspace)
    assert len(smtp_server.inbox.messages) == 2
    for received in smtp_server.inbox.messages:
        sent_at = parsedate_to_datetime(received["Date"])
        assert abs(sent_at - utcnow()) < dt.timedelta(minutes=1)
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", received["Message-ID"])
    ids = smtp_server.inbox.message_ids()
    assert len(set(ids)) == 2
