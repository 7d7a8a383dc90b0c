from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from feedback.text import clean_text


def test_nul_and_control_characters_are_removed():
    assert clean_text("Nice\x00 plant\x07\x1b[31m", multiline=True) == "Nice plant[31m"


def test_line_breaks_are_kept_in_comments_and_folded_in_names():
    assert clean_text("Line one\r\nLine two\rthree", multiline=True) == "Line one\nLine two\nthree"
    assert clean_text("  Ann\n  Lee \t", multiline=False) == "Ann Lee"


def test_blank_text_becomes_none():
    assert clean_text("  \n\t \x00", multiline=True) is None
    assert clean_text(None, multiline=True) is None


def test_html_is_kept_as_typed():
    assert clean_text("<b>hi</b>", multiline=True) == "<b>hi</b>"


@given(st.text())
def test_cleaned_text_has_no_control_characters_and_no_outer_space(text):
    cleaned = clean_text(text, multiline=True)
    if cleaned is None:
        return
    assert cleaned == cleaned.strip()
    for char in cleaned:
        assert char in "\n\t" or unicodedata.category(char) != "Cc"
