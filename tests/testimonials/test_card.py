"""The SVG image card: wrapped quote, stars, date, disclosure, brand; always well-formed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from feedback.testimonials import card
from feedback.testimonials.card import Card, em_width, quote_lines

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '</text><script>alert(1)</script>&amp; "quoted" <![CDATA[x]]> \x00\x07\x1b'


def make_card(**changes: object) -> Card:
    values: dict[str, object] = {
        "quote_lines": quote_lines("Lovely plants, quick delivery."),
        "name": "Ann",
        "role": "Owner, Fern & Co",
        "stars": 4,
        "date": "15 Jun 2026",
        "disclosure": None,
        "business": "Acme Plants",
        "colour": "#2f6f4f",
    }
    values.update(changes)
    return Card(**values)  # type: ignore[arg-type]


def texts_of(document: str) -> list[str]:
    root = ET.fromstring(document.encode())
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_a_short_quote_is_one_line_in_typographic_quotes():
    assert quote_lines("Lovely plants.") == ["\u201cLovely plants.\u201d"]


def test_a_long_quote_wraps_to_lines_that_fit():
    lines = quote_lines("word " * 60, width=30)
    assert 1 < len(lines) <= card.MAX_LINES
    assert all(em_width(line) <= 30 for line in lines)
    assert "\u2026" not in "".join(lines)


def test_a_quote_too_long_is_cut_at_a_word_and_shows_the_cut():
    quote = " ".join(f"word{i}" for i in range(200))
    lines = quote_lines(quote, width=30, max_lines=3)
    assert len(lines) == 3
    assert lines[-1].endswith("\u2026\u201d")
    kept = " ".join(lines)[1:-2].split()
    # Every word shown is a whole word of the quote, in order.
    assert kept == quote.split()[: len(kept)]
    assert all(em_width(line) <= 30 for line in lines)


def test_capitals_and_wide_scripts_wrap_sooner_than_lowercase():
    assert len(quote_lines("AMAZING SERVICE " * 20)) > len(quote_lines("amazing service " * 20))
    wide = quote_lines("\u7d20\u6674\u3089\u3057\u3044" * 40)  # a word with no spaces
    assert all(em_width(line) <= card.LINE_EM for line in wide)


def test_a_long_name_and_business_are_cut_with_a_visible_mark():
    texts = texts_of(card.svg(make_card(name="N" * 80, role=None, business="B" * 80)))
    assert any(t.startswith("\u2014 NNN") and t.endswith("\u2026") for t in texts)
    assert any(t.startswith("BBB") and t.endswith("\u2026") for t in texts)


def test_the_card_shows_quote_name_role_stars_date_disclosure_and_business():
    document = card.svg(make_card(disclosure="Received a free product or service"))
    texts = texts_of(document)
    assert "\u201cLovely plants, quick delivery.\u201d" in texts
    assert "\u2014 Ann, Owner, Fern & Co" in texts
    assert "\u2605\u2605\u2605\u2605\u2606" in texts
    assert "15 Jun 2026 \u00b7 Received a free product or service" in texts
    assert "Acme Plants" in texts
    assert 'fill="#2f6f4f"' in document


def test_malicious_text_is_escaped_and_the_svg_stays_well_formed():
    document = card.svg(
        make_card(
            quote_lines=quote_lines(EVIL),
            name=EVIL,
            role=EVIL,
            business=EVIL,
            disclosure=EVIL,
        )
    )
    root = ET.fromstring(document.encode())  # raises if not well-formed
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert "<script>" not in document
    assert any("</text><script>alert(1)</script>" in text for text in texts_of(document))


@given(st.text(max_size=400), st.text(max_size=60), st.text(max_size=60))
def test_any_quote_name_or_business_gives_a_well_formed_card(quote, name, business):
    document = card.svg(make_card(quote_lines=quote_lines(quote), name=name, business=business))
    ET.fromstring(document.encode())
