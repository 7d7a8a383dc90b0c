from __future__ import annotations

from sqlalchemy import select

from feedback.delivery.models import OutboxMessage
from feedback.surveys import emails, services
from feedback.surveys.models import Contact, Invitation
from tests.factories import NOW, make_invitation, make_workspace

SECRET = "test-secret-key"  # config_for_tests' SECRET_KEY
BASE = "https://fb.example.com"


def queue(db_session, workspace, **invitation):
    issued = make_invitation(db_session, workspace, sent=False, **invitation)
    message = emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=NOW
    )
    db_session.commit()
    return issued, message


def test_the_invitation_email_carries_the_question_link_and_unsubscribe_headers(app, db_session):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    issued, message = queue(db_session, workspace, stage="advocacy", touchpoint="renewal")
    payload = message.payload
    link = f"{BASE}/s/{issued.token}"
    assert payload["to"] == issued.invitation.contact.email
    assert payload["subject"].startswith("Greenleaf Plants: How likely are you to recommend")
    assert link in payload["text"] and f'href="{link}"' in payload["html"]
    unsubscribe = payload["headers"]["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{BASE}/u/") and unsubscribe.strip("<>") in payload["text"]
    assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert payload["message_id"].endswith("@fb.example.com>")
    assert payload["meta"] == {"invitation_id": issued.invitation.id}
    assert message.dedupe_key == f"invitation:{issued.invitation.id}"


def test_html_in_a_customers_name_is_escaped_in_the_html_email(app, db_session):
    workspace = make_workspace(db_session)
    issued = services.invite(
        db_session,
        workspace,
        stage_key="purchase",
        touchpoint_key="checkout",
        email="x@example.com",
        name="<script>x</script>",
        now=NOW,
    )
    message = emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=NOW
    )
    assert "<script>" not in message.payload["html"]
    assert "&lt;script&gt;" in message.payload["html"]


def unsubscribe_path(message: OutboxMessage) -> str:
    return message.payload["headers"]["List-Unsubscribe"].strip("<>").removeprefix(BASE)


def test_opening_the_unsubscribe_link_asks_and_posting_unsubscribes(client, db_session):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    issued, message = queue(db_session, workspace)
    pending = make_invitation(
        db_session, workspace, email=issued.invitation.contact.email, sent=False, throttle=False
    )
    path = unsubscribe_path(message)
    page = client.get(path)
    assert page.status_code == 200 and "Stop survey emails from Greenleaf Plants?" in page.text
    db_session.expire_all()
    assert db_session.get(Contact, issued.invitation.contact_id).unsubscribed_at is None
    done = client.post(path)  # a plain POST, as from the page: no CSRF token needed
    assert done.status_code == 200 and "no more survey emails" in done.text
    db_session.expire_all()
    assert db_session.get(Contact, issued.invitation.contact_id).unsubscribed_at is not None
    assert db_session.get(Invitation, pending.invitation.id).status == "unsubscribed"
    assert "no more survey emails" in client.get(path).text


def test_one_click_unsubscribe_from_a_mail_client_works(client, db_session):
    workspace = make_workspace(db_session)
    issued, message = queue(db_session, workspace)
    result = client.post(
        unsubscribe_path(message),
        data={"List-Unsubscribe": "One-Click"},
        headers={"Cookie": ""},
    )
    assert result.status_code == 200
    db_session.expire_all()
    assert db_session.get(Contact, issued.invitation.contact_id).unsubscribed_at is not None


def test_forged_or_foreign_unsubscribe_tokens_are_refused(client, db_session):
    workspace = make_workspace(db_session)
    issued, message = queue(db_session, workspace)
    path = unsubscribe_path(message)
    other = make_workspace(db_session)
    other_contact = services.find_or_create_contact(db_session, other.id, "z@example.com")
    db_session.commit()
    wrong_workspace = emails._serializer(SECRET).dumps([workspace.id, other_contact.id])
    forged = emails._serializer("another-secret").dumps(
        [workspace.id, issued.invitation.contact_id]
    )
    for bad in (
        path[:-2] + "xx",
        "/u/nonsense",
        f"/u/{forged}",
        f"/u/{wrong_workspace}",
        "/u/" + "a" * 300,
    ):
        assert client.get(bad).status_code == 404
        assert client.post(bad).status_code == 404
    db_session.expire_all()
    assert db_session.scalars(select(Contact.unsubscribed_at)).all() == [None, None]


def test_an_unsubscribed_customer_gets_no_new_survey(db_session):
    workspace = make_workspace(db_session)
    contact = services.find_or_create_contact(db_session, workspace.id, "gone@example.com")
    services.unsubscribe(db_session, contact, NOW)
    issued = make_invitation(db_session, workspace, email="GONE@example.com", sent=False)
    assert issued.invitation.status == "unsubscribed"
