"""/testimonials: the owner's inbox and the moderation forms on it, through the test client."""

from __future__ import annotations

import datetime as dt
import html

from feedback.db import utcnow
from feedback.testimonials import services
from feedback.testimonials.models import Testimonial
from tests.factories import PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.testimonials.moderation_helpers import opted_in

ORIGINAL = "The plants arrived quickly and were healthy, but the box was damaged."
GOOD = (
    "The ferns arrived quickly, beautifully packed in recycled paper, and every single "
    "one was healthy and green. Brilliant service from a friendly team."
)


def logged_in(client, auth, db_session):
    owner, workspace = make_owner(db_session)
    auth.login(owner.email, PASSWORD)
    return owner, workspace


def post(client, path: str, **data):
    token = csrf_token_from(client.get("/testimonials"))
    return client.post(path, data={"csrf_token": token, **data})


def fresh(db_session, testimonial_id: int) -> Testimonial:
    db_session.expire_all()
    return db_session.get(Testimonial, testimonial_id)


def test_the_inbox_needs_a_login(client):
    response = client.get("/testimonials")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_nav_links_to_the_inbox(client, auth, db_session):
    logged_in(client, auth, db_session)
    page = client.get("/dashboard").text
    assert 'href="/testimonials"' in page and ">Testimonials</a>" in page


def test_an_empty_inbox_says_how_testimonials_arrive(client, auth, db_session):
    logged_in(client, auth, db_session)
    page = client.get("/testimonials")
    assert page.status_code == 200
    assert "you may quote me" in page.text and "Nothing waiting" in page.text
    assert "No customer has withdrawn" in client.get("/testimonials?show=withdrawn").text


def test_a_pending_testimonial_shows_what_the_owner_needs(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    opted_in(db_session, ws, ORIGINAL, display_name="Ann Example", rating=4)
    page = client.get("/testimonials").text
    assert "Ann Example" in page
    assert html.escape(ORIGINAL) in page
    assert "Purchase decision" in page
    assert "Checkout" in page
    assert '4<span class="muted">/5</span>' in page
    assert "Positive" in page or "Negative" in page or "Neutral" in page
    assert "Consented" in page and "2026" in page
    for action in ("Approve", "Feature", "Reject", "Withdraw on the customer's request"):
        assert action in page


def test_a_hidden_name_shows_as_a_verified_customer(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    opted_in(db_session, ws, "Nice", display_name=None)
    assert "A verified customer" in client.get("/testimonials").text


def test_html_and_script_in_comments_and_names_are_escaped(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    opted_in(db_session, ws, "<script>alert(1)</script> great", display_name="<b>Eve</b>")
    page = client.get("/testimonials").text
    assert "<script>alert(1)" not in page and "<b>Eve</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; great" in page
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page


def test_pending_is_suggested_first_by_default_and_newest_first_on_request(
    client, auth, db_session
):
    _, ws = logged_in(client, auth, db_session)
    now = utcnow()
    opted_in(db_session, ws, GOOD, display_name="Best One", now=now - dt.timedelta(days=2))
    opted_in(db_session, ws, "Meh.", display_name="Newest One", rating=2, now=now)
    suggested = client.get("/testimonials").text
    assert suggested.index("Best One") < suggested.index("Newest One")
    newest = client.get("/testimonials?order=newest").text
    assert newest.index("Newest One") < newest.index("Best One")


def test_approve_feature_reject_redirect_with_a_message_and_change_the_status(
    client, auth, db_session
):
    owner, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    response = post(client, f"/testimonials/{t.id}/approve?show=pending&order=newest")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/testimonials?show=pending&order=newest&page=1")
    stored = fresh(db_session, t.id)
    assert (stored.status, stored.approved_by_id) == ("approved", owner.id)
    assert "Approved" in client.get("/testimonials?show=approved").text
    post(client, f"/testimonials/{t.id}/feature")
    assert fresh(db_session, t.id).status == "featured"
    post(client, f"/testimonials/{t.id}/reject")
    assert fresh(db_session, t.id).status == "rejected"
    assert "Rejected: it will not be shown." in client.get("/testimonials?show=rejected").text


def test_withdrawing_on_request_moves_it_to_withdrawn_and_blocks_approval(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL, display_name="Wanda")
    assert post(client, f"/testimonials/{t.id}/withdraw").status_code == 303
    assert fresh(db_session, t.id).withdrawn_at is not None
    assert "Wanda" not in client.get("/testimonials").text
    withdrawn = client.get("/testimonials?show=withdrawn").text
    assert "Wanda" in withdrawn and "withdrew their consent" in withdrawn
    response = post(client, f"/testimonials/{t.id}/approve")
    assert response.status_code == 303
    assert fresh(db_session, t.id).status == "pending"
    assert "can&#39;t be shown" in client.get(response.headers["Location"]).text


def test_a_valid_excerpt_is_saved_and_shown_beside_the_original(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    response = post(client, f"/testimonials/{t.id}/excerpt", excerpt="The plants arrived...")
    assert response.status_code == 303
    assert fresh(db_session, t.id).excerpt == "The plants arrived…"
    page = client.get("/testimonials").text
    assert "Excerpt saved." in page
    assert "Excerpt shown" in page and "The plants arrived…" in page
    assert html.escape(ORIGINAL) in page
    post(client, f"/testimonials/{t.id}/excerpt", excerpt="")
    assert fresh(db_session, t.id).excerpt is None


def test_a_changed_excerpt_is_refused_at_the_field_with_what_was_typed_kept(
    client, auth, db_session
):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    typed = "The plants arrived <em>very</em> quickly"
    response = post(client, f"/testimonials/{t.id}/excerpt", excerpt=typed)
    assert response.status_code == 422
    page = response.text
    assert f'class="error" id="excerpt-{t.id}-error"' in page
    assert "may only cut the customer&#39;s words" in page
    assert f">{html.escape(typed)}</textarea>" in page
    assert "<em>very</em>" not in page
    assert fresh(db_session, t.id).excerpt is None


def test_a_form_without_its_csrf_token_is_refused(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    assert client.post(f"/testimonials/{t.id}/approve").status_code == 400
    assert fresh(db_session, t.id).status == "pending"


def test_another_workspaces_testimonial_is_not_found_and_not_listed(client, auth, db_session):
    logged_in(client, auth, db_session)
    theirs = opted_in(db_session, make_workspace(db_session), "Secret", display_name="Other Shop")
    assert "Other Shop" not in client.get("/testimonials?show=all").text
    for action in ("approve", "feature", "reject", "withdraw"):
        assert post(client, f"/testimonials/{theirs.id}/{action}").status_code == 404
    assert post(client, f"/testimonials/{theirs.id}/excerpt", excerpt="Secret").status_code == 404
    stored = fresh(db_session, theirs.id)
    assert (stored.status, stored.withdrawn_at, stored.excerpt) == ("pending", None, None)


def test_consent_is_never_changed_by_the_forms(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    before = (t.consent_text, t.consent_version, t.consented_at, t.display_name)
    post(client, f"/testimonials/{t.id}/approve", consent_text="Other", display_name="X")
    post(client, f"/testimonials/{t.id}/excerpt", excerpt="were healthy…", consent_text="Y")
    after = fresh(db_session, t.id)
    assert (after.consent_text, after.consent_version, after.consented_at, after.display_name) == (
        before
    )
    assert services.get_testimonial(db_session, ws.id, t.id).excerpt == "were healthy…"
