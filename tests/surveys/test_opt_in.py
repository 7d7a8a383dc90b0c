"""The testimonial opt-in on the survey form: role, channels, the consent link and its emails."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.journey.models import Stage
from feedback.surveys.models import Response
from feedback.surveys.services import Answer, InvalidAnswer, IssuedInvitation, validated_answer
from feedback.testimonials.models import ConsentLink, Testimonial
from tests.factories import make_invitation, make_owner
from tests.pages import csrf_token_from

EVIL_ROLE = '<script>alert("role")</script>'
EVIL_NAME = '<img src=x onerror="alert(1)">'
CONSENT_URL = re.compile(r"http://localhost/consent/([A-Za-z0-9_-]+)")


@pytest.fixture
def owner_and_shop(db_session: Session) -> tuple[str, Workspace]:
    user, workspace = make_owner(db_session, "Greenleaf Plants", email="ann@greenleaf.example")
    return user.email, workspace


@pytest.fixture
def shop(owner_and_shop: tuple[str, Workspace]) -> Workspace:
    return owner_and_shop[1]


@pytest.fixture
def link(db_session: Session, shop: Workspace) -> IssuedInvitation:
    return make_invitation(db_session, shop, email="cara@example.com", now=utcnow())


def answer(client: FlaskClient, token: str, **fields: str | list[str]):  # type: ignore[no-untyped-def]
    page = client.get(f"/s/{token}")
    return client.post(f"/s/{token}", data={"csrf_token": csrf_token_from(page), **fields})


def open_answer(client: FlaskClient, path: str, **fields: str | list[str]):  # type: ignore[no-untyped-def]
    page = client.get(path)
    key = re.search(r'name="submission_key" value="([0-9a-f]{32})"', page.text).group(1)  # type: ignore[union-attr]
    data = {"csrf_token": csrf_token_from(page), "submission_key": key, **fields}
    return client.post(path, data=data)


def stored_testimonials(session: Session) -> list[Testimonial]:
    session.expire_all()
    return list(session.scalars(select(Testimonial).order_by(Testimonial.id)))


def emails(session: Session) -> list[dict[str, object]]:
    session.expire_all()
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    return [row.payload for row in rows]


def test_the_form_offers_role_and_channels_unticked_and_says_the_website_is_included(
    client: FlaskClient, link: IssuedInvitation
) -> None:
    html = client.get(f"/s/{link.token}").text
    optin = html[html.index('class="optin') : html.index("</fieldset>", html.index('class="optin'))]
    assert 'id="display_role"' in optin and 'maxlength="80"' in optin
    assert 'for="display_role"' in optin
    for channel, label in (("social", "on social media"), ("print", "in print and advertising")):
        box = re.search(rf'<input type="checkbox" id="channel-{channel}"[^>]*>', optin)
        assert box is not None and "checked" not in box.group(0)
        assert f'for="channel-{channel}"' in optin and f"Also {label}" in optin
    assert "on our website if you tick" in optin


@pytest.mark.parametrize("rating", ["1", "3", "5"])
def test_the_opt_in_is_offered_whatever_the_rating(
    client: FlaskClient, link: IssuedInvitation, rating: str
) -> None:
    # A submitted form that comes back (here: a role too long) keeps offering it too.
    page = answer(client, link.token, rating=rating, testimonial_opt_in="y", display_role="x" * 81)
    assert page.status_code == 422
    assert 'name="testimonial_opt_in"' in page.text and 'name="channels"' in page.text


def test_an_unhappy_customer_may_opt_in_too(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    result = answer(
        client, link.token, rating="1", comment="Arrived broken.", testimonial_opt_in="y"
    )
    assert result.status_code == 303
    [testimonial] = stored_testimonials(db_session)
    assert db_session.get(Response, testimonial.response_id).rating == 1  # type: ignore[union-attr]
    thanks = client.get(result.headers["Location"]).text
    assert "may quote you on our website, as a verified customer." in thanks
    assert "See or withdraw your consent" in thanks


def test_role_and_ticked_channels_are_recorded_with_the_consent(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    result = answer(
        client,
        link.token,
        rating="5",
        comment="Lovely fern.",
        testimonial_opt_in="y",
        display_name="  Cara\x00 Jones ",
        display_role="Owner,\x07 Fern &\tCo\u200b",
        channels=["print", "social"],
    )
    assert result.status_code == 303
    [testimonial] = stored_testimonials(db_session)
    assert testimonial.display_name == "Cara Jones"
    # Cleaned like the name: control characters gone, whitespace folded.
    assert testimonial.display_role == "Owner, Fern & Co\u200b"
    assert testimonial.channel_list == ["website", "social", "print"]


def test_without_extra_channels_the_consent_is_for_the_website_only(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    answer(client, link.token, rating="4", testimonial_opt_in="y")
    [testimonial] = stored_testimonials(db_session)
    assert testimonial.channels == "website" and testimonial.display_role is None


def test_role_and_channels_without_the_opt_in_are_ignored(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    result = answer(
        client, link.token, rating="5", display_role="x" * 200, channels=["social", "print"]
    )
    assert result.status_code == 303
    assert stored_testimonials(db_session) == []
    assert emails(db_session) == []


def test_a_role_over_80_characters_is_refused_next_to_the_field_keeping_the_answer(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    page = answer(
        client,
        link.token,
        rating="5",
        comment="Kept comment",
        testimonial_opt_in="y",
        display_name="Cara",
        display_role="r" * 81,
        channels="social",
    )
    assert page.status_code == 422
    assert 'id="display-role-error"' in page.text and "under 80 characters" in page.text
    assert "Kept comment" in page.text and 'value="Cara"' in page.text
    assert re.search(r'id="channel-social"[^>]*checked', page.text)
    assert stored_testimonials(db_session) == []


def test_an_unknown_channel_is_refused_next_to_the_checkboxes_keeping_the_answer(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    page = answer(
        client,
        link.token,
        rating="5",
        comment="Kept comment",
        testimonial_opt_in="y",
        display_role="Owner",
        channels=["social", "billboards"],
    )
    assert page.status_code == 422
    assert 'id="channels-error"' in page.text and "choose only from" in page.text
    assert "Kept comment" in page.text and 'value="Owner"' in page.text
    assert re.search(r'id="channel-social"[^>]*checked', page.text)
    assert stored_testimonials(db_session) == []
    assert db_session.scalar(select(Response)) is None


def test_html_in_the_role_is_escaped_when_the_form_comes_back(
    client: FlaskClient, link: IssuedInvitation
) -> None:
    page = answer(client, link.token, testimonial_opt_in="y", display_role=EVIL_ROLE)  # no rating
    assert page.status_code == 422
    assert EVIL_ROLE not in page.text and "&lt;script&gt;" in page.text


def test_the_thanks_page_says_what_was_agreed_and_links_to_the_consent_page(
    client: FlaskClient, db_session: Session, link: IssuedInvitation
) -> None:
    result = answer(
        client,
        link.token,
        rating="5",
        comment="Lovely",
        testimonial_opt_in="y",
        display_name=EVIL_NAME,
        display_role=EVIL_ROLE,
        channels="social",
    )
    thanks = client.get(result.headers["Location"])
    assert "may quote you on our website and on social media" in thanks.text
    assert EVIL_NAME not in thanks.text and EVIL_ROLE not in thanks.text
    assert "&lt;img src=x" in thanks.text and "&lt;script&gt;" in thanks.text
    match = re.search(r'<a href="/consent/([^"]+)">See or withdraw your consent</a>', thanks.text)
    assert match is not None
    consent_page = client.get(f"/consent/{match.group(1)}")
    assert consent_page.status_code == 200 and "Lovely" in consent_page.text
    # Reloading still shows it; only the token's hash is stored.
    assert match.group(0) in client.get(result.headers["Location"]).text
    hashes = set(db_session.scalars(select(ConsentLink.token_hash)))
    assert match.group(1) not in hashes and len(hashes) == 2  # thanks page + email


def test_the_consent_link_shows_only_on_the_thanks_page_of_its_own_survey(
    client: FlaskClient, db_session: Session, shop: Workspace, link: IssuedInvitation
) -> None:
    other = make_invitation(
        db_session, shop, stage="retention", touchpoint="support-ticket-solved", now=utcnow()
    )
    answer(client, link.token, rating="5", testimonial_opt_in="y")
    answer(client, other.token, rating="5")
    assert "See or withdraw" in client.get(f"/s/{link.token}/thanks").text
    assert "See or withdraw" not in client.get(f"/s/{other.token}/thanks").text
    # Another browser (no cookie) never sees it.
    assert (
        "See or withdraw"
        not in client.application.test_client().get(f"/s/{link.token}/thanks").text
    )


def test_a_personal_opt_in_emails_the_customer_a_confirmation_and_every_member_a_notice(
    client: FlaskClient,
    db_session: Session,
    owner_and_shop: tuple[str, Workspace],
    link: IssuedInvitation,
) -> None:
    owner_email, shop = owner_and_shop
    make_owner(db_session, shop.name, email="bo@greenleaf.example")  # a second member
    answer(
        client,
        link.token,
        rating="5",
        comment="Lovely fern & <b>fast</b>.\nWould buy again.",
        testimonial_opt_in="y",
        display_name=EVIL_NAME,
        display_role=EVIL_ROLE,
        channels="print",
    )
    sent = {str(payload["to"]): payload for payload in emails(db_session)}
    assert set(sent) == {"cara@example.com", owner_email, "bo@greenleaf.example"}

    confirmation = sent["cara@example.com"]
    text, html = str(confirmation["text"]), str(confirmation["html"])
    [testimonial] = stored_testimonials(db_session)
    for body in (text, html):
        assert shop.consent_text.replace("'", "&#39;") in body or shop.consent_text in body
        assert f"version {testimonial.consent_version}" in body
        assert "on our website and in print and advertising" in body
        assert "shown with the quote" in body
    assert EVIL_NAME in text and EVIL_ROLE in text and "<b>fast</b>" in text
    assert EVIL_NAME not in html and EVIL_ROLE not in html and "<b>fast</b>" not in html
    assert "&lt;b&gt;fast&lt;/b&gt;" in html
    token = CONSENT_URL.search(text).group(1)  # type: ignore[union-attr]
    assert token in html
    page = client.get(f"/consent/{token}")
    assert page.status_code == 200 and "Lovely fern" in page.text

    notice = sent[owner_email]
    assert "http://localhost/testimonials" in str(notice["text"])
    assert "Purchase decision" in str(notice["text"]) and "5/5" in str(notice["text"])
    assert EVIL_NAME in str(notice["text"]) and EVIL_NAME not in str(notice["html"])
    assert "Lovely fern" in str(notice["html"])


def test_the_owners_notice_truncates_a_long_comment(
    client: FlaskClient, db_session: Session, owner_and_shop: tuple[str, Workspace], link
) -> None:
    owner_email, _shop = owner_and_shop
    answer(client, link.token, rating="4", comment="word " * 350, testimonial_opt_in="y")
    notice = next(p for p in emails(db_session) if p["to"] == owner_email)
    assert "…" in str(notice["text"]) and len(str(notice["text"])) < 1200


def test_an_open_link_opt_in_gets_a_consent_link_and_notices_but_no_customer_email(
    client: FlaskClient, db_session: Session, owner_and_shop: tuple[str, Workspace]
) -> None:
    owner_email, shop = owner_and_shop
    path = f"/f/{shop.slug}/purchase"
    result = open_answer(
        client,
        path,
        rating="1",
        comment="Crushed box but kind staff.",
        testimonial_opt_in="y",
        display_name="Dev",
        display_role="Café owner",
        channels="social",
    )
    assert result.status_code == 303
    [testimonial] = stored_testimonials(db_session)
    assert (testimonial.display_role, testimonial.channel_list) == (
        "Café owner",
        ["website", "social"],
    )
    assert [payload["to"] for payload in emails(db_session)] == [owner_email]
    thanks = client.get(result.headers["Location"])
    assert "may quote you on our website and on social media, as Dev (Café owner)" in thanks.text
    token = re.search(r'href="/consent/([^"]+)"', thanks.text).group(1)  # type: ignore[union-attr]
    assert client.get(f"/consent/{token}").status_code == 200
    # Not on the thanks page of another stage's open link.
    other = client.get(f"/f/{shop.slug}/retention/thanks")
    assert "See or withdraw" not in other.text


def test_an_open_link_answer_without_opt_in_shows_no_consent_link(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    result = open_answer(client, f"/f/{shop.slug}/purchase", rating="5")
    assert "See or withdraw" not in client.get(result.headers["Location"]).text
    assert db_session.scalar(select(ConsentLink)) is None


# --- The rules, straight on the service -----------------------------------------------------


def test_validated_answer_cleans_the_role_and_orders_the_channels(
    db_session: Session, shop: Workspace
) -> None:
    stage = _purchase(db_session, shop)
    answer = validated_answer(
        stage,
        Answer(
            rating=5,
            testimonial_opt_in=True,
            display_role=" Owner\x00\r\n of  Fern\x9f ",
            channels=("print", "website", "social"),
        ),
    )
    assert answer.display_role == "Owner of Fern"
    assert answer.channels == ("website", "social", "print")


def test_validated_answer_refuses_a_long_role_and_unknown_channels(
    db_session: Session, shop: Workspace
) -> None:
    stage = _purchase(db_session, shop)
    with pytest.raises(InvalidAnswer) as long_role:
        validated_answer(stage, Answer(rating=5, testimonial_opt_in=True, display_role="r" * 81))
    assert long_role.value.field == "display_role"
    # 80 characters after cleaning is fine.
    ok = validated_answer(
        stage, Answer(rating=5, testimonial_opt_in=True, display_role="r" * 80 + "\x00\x01")
    )
    assert ok.display_role == "r" * 80
    for channels in (("billboard",), ("social", "SOCIAL"), ("",)):
        with pytest.raises(InvalidAnswer) as unknown:
            validated_answer(stage, Answer(rating=5, testimonial_opt_in=True, channels=channels))
        assert unknown.value.field == "channels"


def test_validated_answer_drops_role_and_channels_without_the_opt_in(
    db_session: Session, shop: Workspace
) -> None:
    stage = _purchase(db_session, shop)
    answer = validated_answer(
        stage, Answer(rating=5, display_role="r" * 200, channels=("social", "print"))
    )
    assert (answer.display_role, answer.channels) == (None, ())


def _purchase(session: Session, workspace: Workspace) -> Stage:
    stage = session.scalar(
        select(Stage).where(Stage.workspace_id == workspace.id, Stage.key == "purchase")
    )
    assert stage is not None
    return stage
