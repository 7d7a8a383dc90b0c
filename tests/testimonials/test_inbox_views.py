"""/testimonials: the owner's inbox and the moderation forms on it, through the test client."""

from __future__ import annotations

import datetime as dt
import html

import sqlalchemy as sa
from sqlalchemy import event

from feedback.db import utcnow
from feedback.extensions import db
from feedback.testimonials import services
from feedback.testimonials.models import Testimonial
from feedback.testimonials.usage import record_uses
from tests.factories import NOW, PASSWORD, approved, make_owner, make_workspace, opted_in
from tests.pages import csrf_token_from

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
    assert response.headers["Location"].endswith("/testimonials?show=pending&order=newest")
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


# --- Tags, disclosures, age flags, where used -----------------------------------------------


def test_tags_are_edited_as_comma_separated_text_and_shown(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    response = post(client, f"/testimonials/{t.id}/tags", tags="Delivery, fast  Service,,")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#t{t.id}")
    assert [tag.tag for tag in fresh(db_session, t.id).tags] == ["delivery", "fast-service"]
    page = client.get("/testimonials").text
    assert "Tags saved." in page
    assert 'value="delivery, fast-service"' in page
    assert 'href="/testimonials?show=pending&amp;order=suggested&amp;tag=delivery"' in page
    post(client, f"/testimonials/{t.id}/tags", tags="")
    assert fresh(db_session, t.id).tags == []


def test_a_bad_tag_is_refused_at_the_field_with_what_was_typed_kept(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    services.set_tags(db_session, ws.id, t.id, ["kept"])
    db_session.commit()
    response = post(client, f"/testimonials/{t.id}/tags", tags='ok, <b>"bad"</b>')
    assert response.status_code == 422
    assert f'id="tags-{t.id}-error"' in response.text
    assert "may only hold letters, digits and" in response.text
    assert 'value="ok, &lt;b&gt;&#34;bad&#34;&lt;/b&gt;"' in response.text
    assert "<b>" not in response.text
    too_many = post(client, f"/testimonials/{t.id}/tags", tags=",".join(f"t{i}" for i in range(11)))
    assert too_many.status_code == 422 and "At most 10 tags" in too_many.text
    assert [tag.tag for tag in fresh(db_session, t.id).tags] == ["kept"]


def test_the_inbox_filters_by_tag(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    tagged = opted_in(db_session, ws, "Tagged one", display_name="Tagged Tina")
    opted_in(db_session, ws, "Plain one", display_name="Plain Pete")
    services.set_tags(db_session, ws.id, tagged.id, ["delivery"])
    db_session.commit()
    page = client.get("/testimonials?tag=delivery").text
    assert "Tagged Tina" in page and "Plain Pete" not in page
    assert "Showing only testimonials tagged" in page


def test_a_material_connection_is_chosen_and_its_disclosure_shown(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = opted_in(db_session, ws, ORIGINAL)
    page = client.get("/testimonials").text
    for label in ("None", "Works for us", "Received a free product or service"):
        assert f">{label}</option>" in page
    response = post(
        client, f"/testimonials/{t.id}/material-connection", material_connection="gifted"
    )
    assert response.status_code == 303
    assert fresh(db_session, t.id).material_connection == "gifted"
    page = client.get("/testimonials").text
    assert "Disclosure shown with it: <strong>Received a free product or service</strong>" in page
    assert '<option value="gifted" selected>' in page
    bad = post(client, f"/testimonials/{t.id}/material-connection", material_connection="aunt")
    assert bad.status_code == 400
    post(client, f"/testimonials/{t.id}/material-connection", material_connection="")
    assert fresh(db_session, t.id).material_connection is None


def test_an_old_testimonial_is_flagged_for_reconfirmation(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    now = utcnow()
    opted_in(db_session, ws, "Old words", display_name="Old Olga", now=now - dt.timedelta(days=800))
    opted_in(db_session, ws, "New words", display_name="New Nia", now=now - dt.timedelta(days=5))
    page = client.get("/testimonials?order=newest").text
    flag = '<p class="stale">Older than 2 years — ask the customer to re-confirm</p>'
    assert page.count(flag) == 1
    assert page.index("Old Olga") < page.index(flag)
    ws.testimonial_max_age_days = 3
    db_session.commit()
    page = client.get("/testimonials?order=newest").text
    assert page.count('<p class="stale">Older than 3 days') == 2


def test_a_stale_testimonial_offers_to_email_the_customer_and_the_button_works(
    client, auth, db_session
):
    _, ws = logged_in(client, auth, db_session)
    old = opted_in(db_session, ws, "Old words", now=utcnow() - dt.timedelta(days=800))
    opted_in(db_session, ws, "New words", now=utcnow() - dt.timedelta(days=5))
    page = client.get("/testimonials?order=newest").text
    action = f'action="/testimonials/{old.id}/reconfirm?show=pending&amp;order=newest'
    assert page.count("/reconfirm?") == 1
    assert action in page
    assert "May be shown</dt><dd>on our website only</dd>" in page

    def queued() -> int:
        return db_session.execute(
            sa.text("SELECT count(*) FROM outbox_message WHERE workspace_id = :ws"), {"ws": ws.id}
        ).scalar()

    assert queued() == 0
    token = csrf_token_from(client.get("/testimonials"))
    done = client.post(
        f"/testimonials/{old.id}/reconfirm?show=pending&order=newest",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert "Asked the customer by email" in done.text
    assert queued() == 1


def test_a_withdrawn_testimonial_lists_where_it_was_published(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    t = approved(db_session, ws, ORIGINAL, display_name="Wanda")
    record_uses(db_session, ws.id, [t.id], "wall", dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC))
    record_uses(db_session, ws.id, [t.id], "wall", dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC))
    record_uses(db_session, ws.id, [t.id], "card", dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC))
    services.withdraw_on_request(db_session, ws.id, t.id, utcnow())
    db_session.commit()
    page = client.get("/testimonials?show=withdrawn").text
    assert "<strong>Withdrawn</strong>" in page
    assert "Take it down where it was published" in page
    assert "Wall — first 3 Mar 2026, last 20 Nov 2026" in page
    assert "Image card — on 1 Apr 2026" in page
    assert "Reuse this testimonial" not in page


def test_uses_are_listed_for_every_testimonial_on_the_page(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    first = approved(db_session, ws, "First one")
    second = approved(db_session, ws, "Second one")
    record_uses(db_session, ws.id, [first.id, second.id], "embed", NOW)
    db_session.commit()
    page = client.get("/testimonials?show=approved").text
    assert page.count("Where it is used") == 2
    assert page.count("Website widget — on 15 Jun 2026") == 2


def test_label_forms_need_csrf_and_404_for_another_workspace(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    mine = opted_in(db_session, ws, ORIGINAL)
    theirs = opted_in(db_session, make_workspace(db_session), "Secret")
    assert client.post(f"/testimonials/{mine.id}/tags", data={"tags": "x"}).status_code == 400
    assert (
        client.post(
            f"/testimonials/{mine.id}/material-connection", data={"material_connection": "gifted"}
        ).status_code
        == 400
    )
    assert post(client, f"/testimonials/{theirs.id}/tags", tags="x").status_code == 404
    assert (
        post(
            client, f"/testimonials/{theirs.id}/material-connection", material_connection="gifted"
        ).status_code
        == 404
    )
    stored = fresh(db_session, theirs.id)
    assert (stored.tags, stored.material_connection) == ([], None)
    assert fresh(db_session, mine.id).tags == []


def test_the_inbox_reads_tags_and_uses_with_a_fixed_number_of_queries(client, auth, db_session):
    _, ws = logged_in(client, auth, db_session)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries_for_a_page_of(n: int) -> int:
        while len(services.moderation_queue(db_session, ws.id, "approved").items) < n:
            t = approved(db_session, ws, "Words")
            services.set_tags(db_session, ws.id, t.id, ["a", "b"])
            record_uses(db_session, ws.id, [t.id], "wall", NOW)
            db_session.commit()
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/testimonials?show=approved").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    few, more = queries_for_a_page_of(2), queries_for_a_page_of(8)
    assert few == more and few > 0
