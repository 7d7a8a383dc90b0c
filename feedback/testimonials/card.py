"""An image card of one testimonial, as SVG, for posts and print.

Built as text, not through a drawing library: every piece of customer and
owner text goes through `_text`, which XML-escapes it and drops the control
characters XML 1.0 cannot carry, so any quote gives a well-formed document.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from feedback.accounts.models import Workspace
from feedback.testimonials import services
from feedback.testimonials.models import Testimonial
from feedback.testimonials.wall import stars_for

WIDTH, HEIGHT = 1200, 630  # the usual link-preview size, so social sites show it whole
QUOTE_SIZE = 38  # px
LINE_EM = (WIDTH - 80 - 80) / QUOTE_SIZE  # the quote's width between the margins, in em
MAX_LINES = 7
ELLIPSIS = "\u2026"
DEFAULT_COLOUR = "#2f6f4f"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Characters XML 1.0 does not allow even escaped (C0 controls but tab/newline/CR, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NARROW = set("iljtf.,;:!|'\u2019\u201c\u201d()[]")


@dataclass(frozen=True)
class Card:
    """What goes on a card, already decided; `svg` only lays it out."""

    quote_lines: list[str]
    name: str
    role: str | None
    stars: int
    date: str
    disclosure: str | None
    business: str
    colour: str


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _fit(value: str, width: float) -> str:
    # A name or business cut to fit shows that it was cut. Widths passed in are
    # em of the serif estimate; the bold sans lines get a smaller budget.
    if em_width(value) <= width:
        return value
    while value and em_width(value + ELLIPSIS) > width:
        value = value[:-1]
    return value.rstrip() + ELLIPSIS


def em_width(text: str) -> float:
    """Roughly how wide `text` sets, in em of a proportional font.

    Only an estimate (the viewer picks the font), erring wide: enough to keep
    capitals, wide scripts and emoji inside the card, where counting
    characters would let "AMAZING SERVICE" run off the edge.
    """
    total = 0.0
    for ch in text:
        if ch == " ":
            total += 0.28
        elif unicodedata.east_asian_width(ch) in "WF":
            total += 1.0
        elif ch in _NARROW:
            total += 0.3
        elif ch in "mwMW@%":
            total += 0.9
        elif ch.isupper() or ch.isdigit():
            total += 0.72
        elif ch.isascii():
            total += 0.52
        else:
            total += 0.75
    return total


def _wrap(text: str, width: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if em_width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        # A word wider than a whole line is broken where it must be.
        line = ""
        for ch in word:
            if line and em_width(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def quote_lines(quote: str, width: float = LINE_EM, max_lines: int = MAX_LINES) -> list[str]:
    """The quote wrapped to lines `width` em wide, in typographic quotes.

    One too long is cut at a word with "…": a cut is only honest if the reader
    can see it, so a shortened quote always ends in "…" before the closing
    quote mark.
    """
    words = " ".join(quote.split())
    lines = _wrap("\u201c" + words + "\u201d", width)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    mark = ELLIPSIS + "\u201d"
    # Room for "…”" on the last line, cutting back to a whole word where there is one.
    while em_width(last + mark) > width and " " in last:
        last = last.rsplit(" ", 1)[0]
    while em_width(last + mark) > width and last:
        last = last[:-1]
    kept[-1] = last.rstrip(" ,;:.-\u2014") + mark
    return kept


def card_for(testimonial: Testimonial, workspace: Workspace) -> Card:
    """The card of a testimonial: its quote, who said it, stars on 1-5, date and disclosure."""
    response = testimonial.response
    colour = workspace.brand_colour if _COLOUR.match(workspace.brand_colour or "") else None
    return Card(
        quote_lines=quote_lines(services.quote_of(testimonial)),
        name=testimonial.shown_name,
        role=testimonial.shown_role,
        stars=stars_for(response.stage.rating_scale, response.rating),
        date=services.quote_date(testimonial, workspace.timezone),
        disclosure=testimonial.disclosure,
        business=workspace.name,
        colour=colour or DEFAULT_COLOUR,
    )


def svg(card: Card) -> str:
    """The card as a standalone SVG document."""
    colour = quoteattr(card.colour)
    stars = "\u2605" * card.stars + "\u2606" * (5 - card.stars)
    attribution = _fit(card.name + (f", {card.role}" if card.role else ""), 25)
    footer = " \u00b7 ".join([card.date, *([card.disclosure] if card.disclosure else [])])
    label = quoteattr(
        _NOT_XML.sub("", f"Testimonial from {attribution}: {' '.join(card.quote_lines)}")
    )
    business = _text(_fit(card.business, 19))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={label}>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<rect width="24" height="{HEIGHT}" fill={colour}/>',
        '<g font-family="Georgia, \'Times New Roman\', serif" fill="#1d2521">',
        f'<text x="80" y="100" font-size="44" fill={colour} '
        f'aria-label="{card.stars} out of 5 stars">{stars}</text>',
        f'<text x="1120" y="96" font-size="28" text-anchor="end" '
        f'font-family="system-ui, sans-serif" fill={colour}>{business}</text>',
    ]
    for index, line in enumerate(card.quote_lines):
        out.append(
            f'<text x="80" y="{180 + index * 50}" font-size="{QUOTE_SIZE}">{_text(line)}</text>'
        )
    out += [
        f'<text x="80" y="{HEIGHT - 78}" font-size="30" font-weight="bold" '
        f'font-family="system-ui, sans-serif">\u2014 {_text(attribution)}</text>',
        f'<text x="80" y="{HEIGHT - 36}" font-size="24" fill="#55615b" '
        f'font-family="system-ui, sans-serif">{_text(footer)}</text>',
        "</g>",
        "</svg>",
    ]
    return "\n".join(out) + "\n"
