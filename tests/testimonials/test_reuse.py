"""Reusing approved testimonials: text and HTML snippets, the image card, and uses recorded."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from markupsafe import escape
from sqlalchemy import select

from feedback.testimonials import services
from feedback.testimonials.models import TestimonialUse
from tests.factories import PASSWORD, approved, make_owner, make_workspace, opted_in
from tests.pages import csrf_token_from

EVIL = '<script>alert("x")</script> & <b>bold</b>'


def logged_in(client, auth, db_session):
    owner, workspace = make_owner(db_session, "Acme Plants")
    auth.login(owner.email, PASSWORD)
    return workspace


def uses(db_session, testimonial_id: int) -> dict[str, TestimonialUse]:
    db_session.expire_all()
    rows = db_session.scalars(
        select(TestimonialUse).where(TestimonialUse.testimonial_id == testimonial_id)
    )
    return {use.channel: use for use in rows}


def textarea(page: str, ident: str) -> str:
    match = re.search(rf'<textarea id="{ident}"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, f"no textarea {ident}"
    return html.unescape(match.group(1))


def copy(client, testimonial_id: int, channel: str = "copy", token: str | None = None):
    token = token or csrf_token_from(client.get("/testimonials?show=approved"))
    return client.post(
        f"/testimonials/{testimonial_id}/used", data={"csrf_token": token, "channel": channel}
    )


def test_the_plain_text_has_quote_name_role_date_and_disclosure(db_session):
    ws = make_workspace(db_session)
    t = approved(db_session, ws, "Lovely ferns.", display_name="Ann", role="Owner, Fern & Co")
    services.set_material_connection(db_session, ws.id, t.id, "incentive")
    texts = services.reuse_texts(t, "UTC")
    assert texts.plain == (
        "\u201cLovely ferns.\u201d \u2014 Ann, Owner, Fern & Co \u00b7 15 Jun 2026"
        " \u00b7 Received an incentive for this review"
    )


def test_the_excerpt_is_quoted_when_there_is_one_and_a_hidden_name_hides_the_role(db_session):
    ws = make_workspace(db_session)
    t = approved(db_session, ws, "Lovely ferns, slow post.", display_name="Ann", role="CEO")
    services.set_excerpt(db_session, ws.id, t.id, "Lovely ferns…")
    t.show_name = False
    texts = services.reuse_texts(t, "UTC")
    assert texts.plain.startswith(
        "\u201cLovely ferns\u2026\u201d \u2014 A verified customer \u00b7"
    )
    assert "CEO" not in texts.plain and "CEO" not in texts.html


def test_the_html_snippet_escapes_customer_text_and_carries_date_disclosure_and_cite(db_session):
    ws = make_workspace(db_session)
    t = approved(db_session, ws, EVIL, display_name="<i>Eve</i>", role="<img src=x onerror=y>")
    services.set_material_connection(db_session, ws.id, t.id, "employee")
    snippet = services.reuse_texts(t, "Europe/Berlin").html
    assert "<script>" not in snippet and "<b>" not in snippet and "<img" not in snippet
    assert "<i>" not in snippet
    assert str(escape(EVIL)) in snippet
    assert "<cite>&lt;i&gt;Eve&lt;/i&gt;</cite>" in snippet
    assert '<time datetime="2026-06-15">15 Jun 2026</time>' in snippet
    assert '<small class="disclosure">Works for us</small>' in snippet
    # Well-formed: only our own elements, the customer's tags are text.
    root = ET.fromstring(snippet)
    assert {e.tag for e in root.iter()} == {"blockquote", "p", "footer", "cite", "time", "small"}


def test_the_inbox_offers_reuse_only_for_approved_testimonials(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    shown = approved(db_session, ws, "Great ferns", display_name="Ann", featured=True)
    opted_in(db_session, ws, "Waiting", display_name="Pending Pat")
    page = client.get("/testimonials?show=all").text
    assert page.count("Reuse this testimonial") == 1
    assert f'href="/testimonials/{shown.id}/card.svg"' in page
    plain = textarea(page, f"plain-{shown.id}")
    assert plain.startswith("\u201cGreat ferns\u201d \u2014 Ann \u00b7 ")
    assert textarea(page, f"html-{shown.id}").startswith('<blockquote class="testimonial">')
    assert f'data-used="/testimonials/{shown.id}/used"' in page
    assert 'src="/static/reuse.js"' in page
    assert "<script>" not in page.split('src="/static/reuse.js"')[0]


def test_the_snippets_in_the_inbox_escape_script_in_the_quote(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    t = approved(db_session, ws, EVIL, display_name="<i>Eve</i>")
    page = client.get("/testimonials?show=approved").text
    assert '<script>alert("x")' not in page and "<i>Eve</i>" not in page
    # The textarea holds the snippet's text; once unescaped it is the escaped HTML.
    assert str(escape(EVIL)) in textarea(page, f"html-{t.id}")
    assert EVIL in textarea(page, f"plain-{t.id}")


def test_the_reuse_section_says_when_the_customer_did_not_agree_to_social_media(
    client, auth, db_session
):
    ws = logged_in(client, auth, db_session)
    web = approved(db_session, ws, "Website only", channels="website")
    approved(db_session, ws, "Everywhere", channels="website social print")
    page = client.get("/testimonials?show=approved").text
    assert page.count("Agreed to: on our website only") == 1
    assert "not for social media posts" in page
    assert "Agreed to: on our website, on social media and in print and advertising" in page
    assert services.agreed_text(web) == "Agreed to: on our website only"


def test_copy_records_a_use_and_the_inbox_lists_it(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    t = approved(db_session, ws, "Great ferns")
    assert copy(client, t.id).status_code == 204
    first = uses(db_session, t.id)["copy"]
    assert copy(client, t.id).status_code == 204
    again = uses(db_session, t.id)["copy"]
    assert again.first_at == first.first_at and again.last_at >= first.last_at
    assert "Copied \u2014 on " in client.get("/testimonials?show=approved").text


def test_copy_needs_csrf_a_known_channel_and_a_reusable_testimonial(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    t = approved(db_session, ws, "Great ferns")
    pending = opted_in(db_session, ws, "Waiting")
    assert client.post(f"/testimonials/{t.id}/used", data={"channel": "copy"}).status_code == 400
    assert copy(client, t.id, channel="wall").status_code == 400
    assert copy(client, pending.id).status_code == 409
    services.withdraw_on_request(db_session, ws.id, t.id, t.consented_at)
    db_session.commit()
    assert copy(client, t.id).status_code == 409
    assert uses(db_session, t.id) == {} and uses(db_session, pending.id) == {}


def test_the_card_downloads_as_svg_and_records_a_use(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    t = approved(db_session, ws, EVIL, display_name="Ann", role="Owner")
    services.set_material_connection(db_session, ws.id, t.id, "relative")
    db_session.commit()
    response = client.get(f"/testimonials/{t.id}/card.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Disposition"].endswith(f'-testimonial-{t.id}.svg"')
    root = ET.fromstring(response.data)
    texts = " ".join("".join(node.itertext()) for node in root.iter())
    assert EVIL in texts and "Acme Plants" in texts
    assert "A friend or relative of the business" in texts
    assert "\u2605" * 5 in texts  # rating 5 of 5
    assert "<script>" not in response.text
    assert set(uses(db_session, t.id)) == {"card"}


def test_the_card_of_a_long_quote_shows_the_cut(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    t = approved(db_session, ws, " ".join(["wonderful"] * 200))
    root = ET.fromstring(client.get(f"/testimonials/{t.id}/card.svg").data)
    texts = ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(text.endswith("wonderful\u2026\u201d") for text in texts)


def test_the_card_stars_follow_the_stages_scale(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    nps = approved(db_session, ws, "Good", stage="advocacy", touchpoint="renewal", rating=7)
    body = client.get(f"/testimonials/{nps.id}/card.svg").text
    assert "\u2605\u2605\u2605\u2605\u2606" in body  # NPS 7 -> 3.8 -> 4 stars


def test_new_routes_refuse_another_workspaces_testimonial_and_need_a_login(
    client, auth, db_session
):
    logged_in(client, auth, db_session)
    theirs = approved(db_session, make_workspace(db_session), "Secret")
    assert client.get(f"/testimonials/{theirs.id}/card.svg").status_code == 404
    assert copy(client, theirs.id).status_code == 404
    assert uses(db_session, theirs.id) == {}
    auth.logout()
    assert client.get(f"/testimonials/{theirs.id}/card.svg").status_code == 302


def test_no_card_for_a_pending_or_withdrawn_testimonial(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    pending = opted_in(db_session, ws, "Waiting")
    gone = approved(db_session, ws, "Gone")
    services.withdraw_on_request(db_session, ws.id, gone.id, gone.consented_at)
    db_session.commit()
    assert client.get(f"/testimonials/{pending.id}/card.svg").status_code == 409
    assert client.get(f"/testimonials/{gone.id}/card.svg").status_code == 409
    assert uses(db_session, gone.id) == {}
