"""Cleaning free text typed by people, slugs made from names, and the words a text uses."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 control characters except tab and newline, plus DEL. NUL in
# particular is refused by PostgreSQL text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(value: str | None, *, multiline: bool) -> str | None:
    """NFC-normalised, control characters removed, trimmed; None when nothing is left.

    Line breaks are kept in multi-line text (as `\\n`) and folded to spaces
    otherwise. HTML is kept as typed: it is escaped wherever it is shown.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = " ".join(text.split())
    text = _CONTROL.sub("", text).strip()
    return text or None


# Every control character, tab and newline included: none belongs in an id.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def refuse_control_characters(value: str | None) -> str | None:
    """An identifier (event id, external id) as given; ValueError if it holds a control character.

    Unlike free text (cleaned by `clean_text`), an id is matched exactly
    later, so changing it would make it another id; and PostgreSQL cannot
    store a NUL.
    """
    if value is not None and _ANY_CONTROL.search(value):
        raise ValueError("must not contain control characters (such as NUL, tab or newline)")
    return value


def slug_of(name: str, *, limit: int) -> str:
    """Lowercase ASCII words joined by hyphens, at most `limit` characters: 'Café Öl' -> 'cafe-ol'.

    Empty when nothing of the name is left.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:limit].strip("-")


# Common English function words, and words every review uses, which say
# nothing about what went well or badly.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't
    do does doesn't doing don't down during each even ever every few for from further get
    got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its
    itself just let's me more most much must mustn't my myself no nor not now of off on
    once only or other ought our ours ourselves out over own really same shan't she she'd
    she'll she's should shouldn't so some still such than that that's the their theirs
    them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up us very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's which while who who's whom why why's will with
    won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
    one two ok okay thanks thank lot bit im ive dont didnt cant
    """.split()  # noqa: SIM905  (a word list reads better as text)
)
CURLY_APOSTROPHE = "\u2019"
WORD = re.compile(r"[a-z][a-z'\u2019]*[a-z]|[a-z]")


def words_of(text: str) -> list[str]:
    """Lower-case words; apostrophes kept inside words ("didn't"), curly ones straightened."""
    return [w.replace(CURLY_APOSTROPHE, "'") for w in WORD.findall(text.lower())]
