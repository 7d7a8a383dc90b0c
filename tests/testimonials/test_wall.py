"""The public testimonial wall, embed widget and JSON feed."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from feedback.insights import services as rollup
from feedback.journey.scales import SCALES
from feedback.testimonials import public_views, wall
from feedback.testimonials.models import Testimonial, TestimonialTag
from feedback.testimonials.usage import RecentUses, record_uses, uses_of
from tests.factories import NOW, make_response, make_workspace, quote

EVIL_QUOTE = "Great </script><script>alert(1)</script><!-- & more -->"
EVIL_NAME = '<img src=x onerror="alert(2)">'


def surfaces(client: FlaskClient, slug: str, query: str = "") -> dict[str, str]:
    """What the wall, the embed and the feed give, as text."""
    pages = {
        "wall": client.get(f"/t/{slug}{query}"),
        "embed": client.get(f"/t/{slug}/embed{query}"),
        "feed": client.get(f"/t/{slug}.json{query}"),
    }
    for name, page in pages.items():
        assert page.status_code == 200, (name, page.text)
    return {name: page.get_data(as_text=True) for name, page in pages.items()}


def json_ld(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def test_only_approved_and_featured_appear_never_withdrawn_rejected_or_pending(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, "Approved and shown.", "approved")
    quote(db_session, shop, "Featured and shown.", "featured")
    quote(db_session, shop, "Still pending.", "pending")
    quote(db_session, shop, "Rejected by the owner.", "rejected")
    quote(db_session, shop, "Approved then withdrawn.", "approved", withdrawn=True)
    quote(db_session, shop, "Featured then withdrawn.", "featured", withdrawn=True)

    for name, text in surfaces(client, shop.slug).items():
        assert "Approved and shown." in text, name
        assert "Featured and shown." in text, name
        for hidden in ("Still pending", "Rejected by", "Approved then", "Featured then"):
            assert hidden not in text, (name, hidden)
    feed = client.get(f"/t/{shop.slug}.json").get_json()
    assert [t["quote"] for t in feed["data"]] == ["Featured and shown.", "Approved and shown."]


def test_featured_come_first_then_the_newest(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    day = dt.timedelta(days=1)
    quote(db_session, shop, "Old approved.", now=NOW - 3 * day)
    quote(db_session, shop, "Old featured.", "featured", now=NOW - 2 * day)
    quote(db_session, shop, "New approved.", now=NOW)
    quote(db_session, shop, "New featured.", "featured", now=NOW - day)

    order = ["New featured.", "Old featured.", "New approved.", "Old approved."]
    assert [t.quote for t in wall.shown_testimonials(db_session, shop.id)] == order
    for name, text in surfaces(client, shop.slug).items():
        positions = [text.index(q) for q in order]
        assert positions == sorted(positions), name


def test_another_workspaces_testimonials_never_appear(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session, "Greenleaf")
    other = make_workspace(db_session, "Rival")
    quote(db_session, shop, "Ours.")
    quote(db_session, other, "Theirs, featured.", "featured")

    for name, text in surfaces(client, shop.slug).items():
        assert "Ours." in text, name
        assert "Theirs" not in text, name
    assert [t.quote for t in wall.shown_testimonials(db_session, other.id)] == ["Theirs, featured."]


def test_html_and_script_in_quotes_and_names_are_escaped_everywhere(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, EVIL_QUOTE, display_name=EVIL_NAME)

    pages = surfaces(client, shop.slug)
    for name in ("wall", "embed"):
        text = pages[name]
        assert "<script>alert(1)" not in text, name
        assert "<img src=x" not in text, name
        assert "&lt;/script&gt;&lt;script&gt;alert(1)" in text, name
        assert "&lt;img src=x onerror=" in text, name
    # The only </script> on the wall closes the JSON-LD block, and the data survives intact.
    assert pages["wall"].count("</script>") == 1
    assert "<!--" not in pages["wall"]
    data = json_ld(pages["wall"])
    review = data["review"][0]  # type: ignore[index]
    assert review["reviewBody"] == EVIL_QUOTE
    assert review["author"]["name"] == EVIL_NAME
    feed = json.loads(pages["feed"])
    assert feed["data"][0]["quote"] == EVIL_QUOTE
    assert feed["data"][0]["display_name"] == EVIL_NAME


def test_business_name_with_markup_is_escaped_in_json_ld(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session, "Bob's </script> & <b>Co</b>")
    quote(db_session, shop, "Fine.")

    page = client.get(f"/t/{shop.slug}").get_data(as_text=True)
    assert page.count("</script>") == 1
    assert json_ld(page)["name"] == "Bob's </script> & <b>Co</b>"


def test_json_for_script_cannot_close_the_element() -> None:
    text = str(wall.json_for_script({"a": "</script><!-- & \u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_json_ld_has_organization_aggregate_rating_and_reviews(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session, "Greenleaf")
    quote(db_session, shop, "Loved it.", rating=4, display_name="Ann")
    make_response(db_session, shop, rating=2, comment="Not for quoting.")

    data = json_ld(client.get(f"/t/{shop.slug}").get_data(as_text=True))
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Organization"
    assert data["name"] == "Greenleaf"
    assert data["aggregateRating"] == {
        "@type": "AggregateRating",
        "ratingValue": 3.0,
        "ratingCount": 2,
        "bestRating": 5,
        "worstRating": 1,
    }
    assert data["review"] == [
        {
            "@type": "Review",
            "author": {"@type": "Person", "name": "Ann"},
            "reviewBody": "Loved it.",
            "datePublished": "2026-06-15",
            "reviewRating": {
                "@type": "Rating",
                "ratingValue": 4,
                "bestRating": 5,
                "worstRating": 1,
            },
        }
    ]


def test_empty_wall_has_no_aggregate_rating_or_reviews(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    data = json_ld(client.get(f"/t/{shop.slug}").get_data(as_text=True))
    assert "aggregateRating" not in data
    assert "review" not in data


def test_only_the_embed_may_be_framed(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    wall_page = client.get(f"/t/{shop.slug}")
    feed = client.get(f"/t/{shop.slug}.json")
    embed = client.get(f"/t/{shop.slug}/embed")

    for page in (wall_page, feed):
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers
    policy = embed.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in policy
    assert "script-src 'self'" in policy  # the rest of the policy still applies
    # Other pages keep refusing frames.
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_feed_is_readable_from_any_site_without_credentials(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session, "Greenleaf")
    testimonial = quote(db_session, shop, "Quick delivery.", rating=5, display_name="Ann")

    feed = client.get(f"/t/{shop.slug}.json", headers={"Origin": "https://shop.example"})
    assert feed.status_code == 200
    assert feed.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in feed.headers
    assert feed.mimetype == "application/json"
    assert feed.get_json() == {
        "business": "Greenleaf",
        "selection": "Chosen by the business from customers who agreed to be quoted.",
        "aggregate_rating": {"rating_out_of_5": 5.0, "count": 1, "computed_from": "all responses"},
        "data": [
            {
                "id": testimonial.id,
                "quote": "Quick delivery.",
                "display_name": "Ann",
                "role": None,
                "disclosure": None,
                "date": "2026-06-15",
                "stage": "purchase",
                "rating": 5,
                "rating_out_of_5": 5,
                "featured": False,
                "tags": [],
            }
        ],
    }
    assert client.post(f"/t/{shop.slug}.json").status_code == 405


def test_feed_and_wall_routes_both_resolve(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    assert client.get(f"/t/{shop.slug}.json").mimetype == "application/json"
    assert client.get(f"/t/{shop.slug}").mimetype == "text/html"


def test_aggregate_rating_counts_every_response_normalised_to_5(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    # Shown, not opted in, pending and rejected: all of them count.
    quote(db_session, shop, "Good.", rating=4)
    make_response(db_session, shop, rating=2, comment=None)
    quote(db_session, shop, "Meh.", "pending", stage="advocacy", touchpoint="renewal", rating=7)
    quote(db_session, shop, "Bad.", "rejected", stage="advocacy", touchpoint="renewal", rating=0)

    # CSAT 4 and 2 stay; NPS 7 -> 1 + 4 * 0.7 = 3.8, NPS 0 -> 1.
    everything = rollup.aggregate_rating(db_session, shop.id)
    assert everything == wall.AggregateRating(round((4 + 2 + 3.8 + 1) / 4, 1), 4)
    assert rollup.aggregate_rating(db_session, shop.id, "advocacy") == wall.AggregateRating(2.4, 2)
    assert rollup.aggregate_rating(db_session, shop.id, "retention") == wall.AggregateRating(
        None, 0
    )
    feed = client.get(f"/t/{shop.slug}.json?stage=advocacy").get_json()
    assert feed["aggregate_rating"]["rating_out_of_5"] == 2.4
    assert feed["aggregate_rating"]["count"] == 2
    assert (
        "Average rating from all 4 answers, not only the ones shown: 2.7 out of 5."
        in client.get(f"/t/{shop.slug}").get_data(as_text=True)
    )


@pytest.mark.parametrize(
    ("scale", "rating", "stars"),
    [
        ("csat", 1, 1),
        ("csat", 4, 4),
        ("nps", 0, 1),
        ("nps", 5, 3),
        ("nps", 7, 4),
        ("nps", 10, 5),
        ("ces", 1, 1),
        ("ces", 4, 3),
        ("ces", 7, 5),
    ],
)
def test_ratings_become_one_to_five_stars(scale: str, rating: int, stars: int) -> None:
    assert wall.stars_for(SCALES[scale], rating) == stars


def test_stars_are_written_out_with_an_accessible_label(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, "Would recommend.", stage="advocacy", touchpoint="renewal", rating=7)

    for name in ("wall", "embed"):
        text = surfaces(client, shop.slug)[name]
        assert 'role="img" aria-label="4 out of 5">★★★★☆</span>' in text, name
        assert "Loyalty &amp; advocacy" in text, name
    assert client.get(f"/t/{shop.slug}.json").get_json()["data"][0]["rating_out_of_5"] == 4


def test_wall_shows_name_date_stage_selection_line_and_brand(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session, "Greenleaf")
    shop.brand_colour = "#1d4ed8"
    db_session.commit()
    quote(db_session, shop, "Lovely plants.", display_name="Ann B.")
    hidden_name = quote(db_session, shop, "Quick.", display_name=None)

    page = client.get(f"/t/{shop.slug}").get_data(as_text=True)
    assert "<blockquote>Lovely plants.</blockquote>" in page
    assert "Ann B." in page
    assert hidden_name.shown_name == "A verified customer"
    assert "A verified customer" in page
    assert '<time datetime="2026-06-15">15 June 2026</time>' in page
    assert "Purchase decision" in page
    assert "A selection of what customers told us" in page
    assert "--brand:#1d4ed8" in page
    assert "Greenleaf" in page
    assert 'name="robots"' not in page  # the wall is for search engines too


def test_the_excerpt_is_shown_instead_of_the_whole_comment(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    quote(
        db_session, shop, "Slow start. The plants were superb.", excerpt="The plants were superb."
    )

    for name, text in surfaces(client, shop.slug).items():
        assert "The plants were superb." in text, name
        assert "Slow start" not in text, name


def test_stage_filter_on_every_surface(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, "About buying.")
    quote(db_session, shop, "About recommending.", stage="advocacy", touchpoint="renewal")

    for name, text in surfaces(client, shop.slug, "?stage=advocacy").items():
        assert "About recommending." in text, name
        assert "About buying." not in text, name
    page = client.get(f"/t/{shop.slug}?stage=advocacy").get_data(as_text=True)
    assert f'href="/t/{shop.slug}?stage=advocacy" aria-current="page"' in page
    assert f'href="/t/{shop.slug}?stage=purchase">' in page


def test_unknown_stage_is_a_clear_400(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    for url in (f"/t/{shop.slug}?stage=nope", f"/t/{shop.slug}/embed?stage=nope"):
        page = client.get(url)
        assert page.status_code == 400
        assert "There is no such stage" in page.get_data(as_text=True)
    feed = client.get(f"/t/{shop.slug}.json?stage=nope")
    assert feed.status_code == 400
    assert feed.get_json()["error"]["code"] == "bad_request"


def test_unknown_workspace_is_a_friendly_404(client: FlaskClient) -> None:
    for url in ("/t/no-such-shop", "/t/no-such-shop/embed"):
        page = client.get(url)
        assert page.status_code == 404
        assert "Page not found" in page.get_data(as_text=True)
    feed = client.get("/t/no-such-shop.json")
    assert feed.status_code == 404
    assert feed.get_json() == {"error": {"code": "not_found", "message": "No such business."}}
    assert feed.headers["Access-Control-Allow-Origin"] == "*"


def test_empty_states(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, "Not yet approved.", "pending")

    pages = surfaces(client, shop.slug)
    assert "No testimonials yet." in pages["wall"]
    assert "No testimonials yet." in pages["embed"]
    assert json.loads(pages["feed"])["data"] == []
    assert "No testimonials about Retention yet." in client.get(
        f"/t/{shop.slug}?stage=retention"
    ).get_data(as_text=True)


def test_embed_limit_and_layout(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    for n in range(8):
        quote(db_session, shop, f"Quote number {n}.", now=NOW + dt.timedelta(minutes=n))

    def count(url: str) -> int:
        return client.get(url).get_data(as_text=True).count("<blockquote>")

    assert count(f"/t/{shop.slug}/embed") == 6
    assert count(f"/t/{shop.slug}/embed?limit=2") == 2
    assert count(f"/t/{shop.slug}/embed?limit=50") == 8
    carousel = client.get(f"/t/{shop.slug}/embed?layout=carousel").get_data(as_text=True)
    assert 'class="quotes carousel"' in carousel
    assert "scroll-snap-type" in carousel
    assert 'class="quotes grid"' in client.get(f"/t/{shop.slug}/embed").get_data(as_text=True)
    assert f"http://localhost/t/{shop.slug}" in carousel  # the link to the wall
    assert "<script" not in carousel


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=-1", "limit=six", "layout=list"])
def test_embed_refuses_bad_parameters_with_a_message(
    db_session: Session, client: FlaskClient, query: str
) -> None:
    shop = make_workspace(db_session)
    page = client.get(f"/t/{shop.slug}/embed?{query}")
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "must be" in text
    # Shown inside the iframe, so whoever pasted the snippet sees what to fix.
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers


def test_wall_shows_the_newest_few_and_says_how_many_there_are(
    db_session: Session, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public_views, "WALL_LIMIT", 2)
    shop = make_workspace(db_session)
    for n in range(3):
        quote(db_session, shop, f"Quote number {n}.", now=NOW + dt.timedelta(minutes=n))
    quote(db_session, shop, "Withdrawn.", withdrawn=True)

    page = client.get(f"/t/{shop.slug}").get_data(as_text=True)
    assert page.count("<blockquote>") == 2
    assert "Quote number 0." not in page
    assert "The newest 2 of 3." in page
    assert wall.count_shown(db_session, shop.id) == 3


def test_an_approved_opt_in_without_a_comment_is_left_out_and_the_limit_still_filled(
    db_session: Session,
) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, "Older one.", now=NOW - dt.timedelta(days=2))
    quote(db_session, shop, "Old one.", now=NOW - dt.timedelta(days=1))
    quote(db_session, shop, None, now=NOW)

    shown = wall.shown_testimonials(db_session, shop.id, limit=2)
    assert [t.quote for t in shown] == ["Old one.", "Older one."]
    assert [t.quote for t in wall.shown_testimonials(db_session, shop.id)] == [
        "Old one.",
        "Older one.",
    ]


def tag(session: Session, testimonial: Testimonial, *tags: str) -> None:
    for name in tags:
        session.add(
            TestimonialTag(
                workspace_id=testimonial.workspace_id, testimonial_id=testimonial.id, tag=name
            )
        )
    session.commit()


def test_tag_filter_on_every_surface(db_session: Session, client: FlaskClient) -> None:
    shop = make_workspace(db_session)
    tag(db_session, quote(db_session, shop, "Fast delivery to my door."), "delivery")
    tag(db_session, quote(db_session, shop, "The fern is thriving."), "plants", "ferns")
    quote(db_session, shop, "Untagged but lovely.")

    for name, body in surfaces(client, shop.slug, "?tag=delivery").items():
        assert "Fast delivery" in body, name
        assert "fern is thriving" not in body and "Untagged" not in body, name
    feed = client.get(f"/t/{shop.slug}.json?tag=ferns").get_json()
    assert [item["quote"] for item in feed["data"]] == ["The fern is thriving."]
    assert feed["data"][0]["tags"] == ["ferns", "plants"]
    # Stage and tag combine.
    assert "Fast delivery" in client.get(f"/t/{shop.slug}?stage=purchase&tag=delivery").text
    assert "Fast delivery" not in client.get(f"/t/{shop.slug}?stage=awareness&tag=delivery").text


def test_wall_offers_only_the_tags_of_shown_testimonials(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    tag(db_session, quote(db_session, shop, "Shown."), "shown-topic")
    tag(db_session, quote(db_session, shop, "Pending.", "pending"), "pending-topic")
    tag(db_session, quote(db_session, shop, "Gone.", withdrawn=True), "withdrawn-topic")
    other = make_workspace(db_session, "Other shop")
    tag(db_session, quote(db_session, other, "Elsewhere."), "other-topic")

    page = client.get(f"/t/{shop.slug}").text
    assert f'href="/t/{shop.slug}?tag=shown-topic"' in page
    for hidden in ("pending-topic", "withdrawn-topic", "other-topic"):
        assert hidden not in page
    # An unused but well-formed tag is an empty wall, not an error.
    empty = client.get(f"/t/{shop.slug}?tag=nothing-here")
    assert empty.status_code == 200
    assert "tagged “nothing-here”" in empty.text


@pytest.mark.parametrize("bad", ["Delivery", "two words", "<script>", "x" * 41, "a/b"])
def test_malformed_tag_is_a_clear_400_on_every_surface(
    db_session: Session, client: FlaskClient, bad: str
) -> None:
    shop = make_workspace(db_session)
    for path in (f"/t/{shop.slug}", f"/t/{shop.slug}/embed"):
        page = client.get(path, query_string={"tag": bad})
        assert page.status_code == 400
        assert "lowercase letters, digits and dashes" in page.text
        assert "<script>" not in page.text
    feed = client.get(f"/t/{shop.slug}.json", query_string={"tag": bad})
    assert feed.status_code == 400
    assert feed.get_json()["error"]["code"] == "bad_request"


def test_material_connection_is_disclosed_next_to_the_quote_everywhere(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    gifted = quote(db_session, shop, "Loved the free sample box.")
    gifted.material_connection = "gifted"
    quote(db_session, shop, "Paid full price, still great.")
    db_session.commit()

    pages = surfaces(client, shop.slug)
    disclosure = "Received a free product or service"
    for name in ("wall", "embed"):
        assert f"Disclosure: {disclosure}." in pages[name], name
        assert pages[name].count("Disclosure:") == 1, name
    feed = json.loads(pages["feed"])
    by_quote = {item["quote"]: item["disclosure"] for item in feed["data"]}
    assert by_quote == {
        "Loved the free sample box.": disclosure,
        "Paid full price, still great.": None,
    }
    reviews = json_ld(pages["wall"])["review"]
    assert [r.get("description") for r in reviews if "free sample" in r["reviewBody"]] == [
        disclosure
    ]


def test_role_shows_with_the_name_and_never_without_it(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    quote(db_session, shop, "Named and placed.", display_name="Ann", role=EVIL_NAME)
    quote(db_session, shop, "Anonymous.", display_name=None, role="Head gardener, Kew")

    pages = surfaces(client, shop.slug)
    for name in ("wall", "embed"):
        assert "Ann</strong> (&lt;img src=x onerror=&#34;alert(2)&#34;&gt;)" in pages[name], name
        assert "<img src=x" not in pages[name], name
        assert "Head gardener" not in pages[name], name
    roles = {item["quote"]: item["role"] for item in json.loads(pages["feed"])["data"]}
    assert roles == {"Named and placed.": EVIL_NAME, "Anonymous.": None}


def test_each_surface_records_where_its_testimonials_were_published(
    db_session: Session, client: FlaskClient
) -> None:
    shop = make_workspace(db_session)
    shown = quote(db_session, shop, "On show.")
    hidden = quote(db_session, shop, "Rejected.", "rejected")
    other = make_workspace(db_session, "Other shop")
    elsewhere = quote(db_session, other, "Other shop's quote.")

    surfaces(client, shop.slug)
    uses = uses_of(db_session, shop.id, [shown.id, hidden.id])
    assert sorted(use.channel for use in uses[shown.id]) == ["embed", "feed", "wall"]
    assert uses[hidden.id] == []
    assert uses_of(db_session, other.id, [elsewhere.id])[elsewhere.id] == []
    # Scoped: asking with the wrong workspace finds nothing.
    assert uses_of(db_session, other.id, [shown.id])[shown.id] == []


def test_a_use_keeps_its_first_time_and_moves_its_last(db_session: Session) -> None:
    shop = make_workspace(db_session)
    shown = quote(db_session, shop, "On show.")
    later = NOW + dt.timedelta(days=3)
    record_uses(db_session, shop.id, [shown.id], "wall", NOW)
    record_uses(db_session, shop.id, [shown.id, shown.id], "wall", later)
    db_session.commit()
    db_session.expire_all()
    (use,) = uses_of(db_session, shop.id, [shown.id])[shown.id]
    assert (use.first_at, use.last_at) == (NOW, later)
    with pytest.raises(ValueError):
        record_uses(db_session, shop.id, [shown.id], "billboard", NOW)


def test_recent_uses_lets_each_pair_through_once_per_ttl() -> None:
    recent = RecentUses(ttl=3600)
    assert recent.due([1, 2], "wall") == [1, 2]
    assert recent.due([1, 2, 3], "wall") == [3]
    assert recent.due([1], "embed") == [1]
    recent.forget([2], "wall")
    assert recent.due([1, 2], "wall") == [2]
    assert RecentUses(ttl=0).due([1], "wall") == [1]


def test_no_route_but_the_embed_may_be_framed(db_session: Session, client: FlaskClient) -> None:
    """Every GET route of the app, logged out, answers with framing refused, but the embed."""
    shop = make_workspace(db_session)
    samples = {"slug": shop.slug, "workspace_slug": shop.slug, "stage_key": "purchase"}
    checked = []
    for rule in client.application.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        values = {
            arg: samples.get(arg, "1" if arg.endswith("_id") else "x") for arg in rule.arguments
        }
        path = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
        page = client.get(path)
        policy = page.headers.get("Content-Security-Policy", "")
        if rule.endpoint == "public_testimonials.embed":
            assert "X-Frame-Options" not in page.headers and "frame-ancestors *" in policy
        else:
            assert page.headers.get("X-Frame-Options") == "DENY", (path, page.status_code)
        checked.append(rule.endpoint)
    assert "public_testimonials.embed" in checked and "consent.show" in checked
    assert len(checked) > 30
