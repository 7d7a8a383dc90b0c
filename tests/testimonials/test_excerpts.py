"""The excerpt rule: an excerpt may cut the customer's words, never change them."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from feedback.testimonials.services import ExcerptError, check_excerpt

ORIGINAL = "The plants arrived quickly and were healthy, but the box was damaged."


@pytest.mark.parametrize(
    ("excerpt", "kept"),
    [
        (
            "The plants arrived quickly and were healthy…",
            "The plants arrived quickly and were healthy…",
        ),
        ("…were healthy", "…were healthy"),
        ("The plants arrived … healthy", "The plants arrived … healthy"),
        ("The plants arrived ... healthy", "The plants arrived … healthy"),
        ("  were healthy...  ", "were healthy…"),
        (ORIGINAL, ORIGINAL),
    ],
)
def test_a_cut_of_the_customers_words_is_accepted_and_dots_become_an_ellipsis(excerpt, kept):
    assert check_excerpt(ORIGINAL, excerpt) == kept


@pytest.mark.parametrize(
    "excerpt",
    [
        "The plants arrived very quickly",  # a word added
        "The Plants arrived quickly",  # case changed
        "The plants came quickly…",  # a word changed
        "healthy… The plants arrived",  # pieces reordered
        "The flowers were lovely",  # not in the original at all
        "were healthy,but",  # whitespace inside a piece changed
    ],
)
def test_an_excerpt_that_changes_the_words_is_refused(excerpt):
    with pytest.raises(ExcerptError, match="may only cut the customer's words"):
        check_excerpt(ORIGINAL, excerpt)


def test_the_refusal_names_the_piece_not_found():
    with pytest.raises(ExcerptError) as error:
        check_excerpt(ORIGINAL, "The plants arrived … in perfect shape")
    assert "'in perfect shape' not found in the original" in str(error.value)


def test_reordered_pieces_are_refused_as_out_of_order():
    with pytest.raises(ExcerptError, match="does not come after"):
        check_excerpt(ORIGINAL, "the box was damaged … The plants arrived")


@pytest.mark.parametrize("excerpt", ["", "   ", "…", "...", "… …"])
def test_an_empty_excerpt_is_refused(excerpt):
    with pytest.raises(ExcerptError):
        check_excerpt(ORIGINAL, excerpt)


def test_a_piece_used_twice_must_appear_twice():
    with pytest.raises(ExcerptError):
        check_excerpt("good plants", "good … good")
    assert check_excerpt("good plants, good box", "good … good") == "good … good"


# Texts without "." or "…", so no generated character is itself a cut mark.
TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters=".\u2026", exclude_categories=("Cs", "Cc")
    ),
    min_size=1,
    max_size=120,
)


@st.composite
def original_and_slices(draw):
    """An original and 1-4 ordered, non-overlapping, non-blank slices of it."""
    original = draw(TEXT)
    cuts = sorted(
        draw(st.lists(st.integers(0, len(original)), min_size=2, max_size=8, unique=True))
    )
    if len(cuts) % 2:
        cuts = cuts[:-1]
    slices = [original[a:b] for a, b in zip(cuts[::2], cuts[1::2], strict=True)]
    slices = [s for s in slices if s.strip()]
    assume(slices)
    return original, slices


@given(original_and_slices())
def test_any_verbatim_slices_in_order_joined_with_ellipses_pass(drawn):
    original, slices = drawn
    excerpt = " … ".join(slices)
    assert check_excerpt(original, excerpt) == excerpt.strip()
    assert check_excerpt(original, excerpt.replace("…", "...")) == excerpt.strip()


@given(
    original=TEXT,
    data=st.data(),
    change=st.characters(
        codec="utf-8", exclude_characters=".\u2026", exclude_categories=("Cs", "Cc")
    ),
    replace=st.booleans(),
)
def test_any_single_character_change_to_a_slice_fails_unless_still_verbatim(
    original, data, change, replace
):
    start = data.draw(st.integers(0, len(original) - 1))
    end = data.draw(st.integers(start + 1, len(original)))
    piece = original[start:end]
    assume(len(piece.strip()) >= 2)
    at = data.draw(st.integers(0, len(piece) - 1 if replace else len(piece)))
    changed = piece[:at] + change + piece[at + 1 if replace else at :]
    assume(changed != piece and changed.strip())
    if changed.strip() in original:
        assert check_excerpt(original, changed) == changed.strip()
    else:
        with pytest.raises(ExcerptError):
            check_excerpt(original, changed)
