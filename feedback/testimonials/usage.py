"""Where each testimonial has been published, so a withdrawal can be followed everywhere."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedback.db import workspace_scoped
from feedback.testimonials.models import USE_CHANNELS, TestimonialUse

USE_LABELS = {
    "wall": "Wall",
    "embed": "Website widget",
    "feed": "JSON feed",
    "export": "CSV export",
    "copy": "Copied",
    "card": "Image card",
}


def record_uses(
    session: Session,
    workspace_id: int,
    testimonial_ids: Iterable[int],
    channel: str,
    now: dt.datetime,
) -> None:
    """Note that these testimonials were published on `channel` now (first and last time).

    One statement compiled once (an executemany, sent as multi-row INSERTs), so
    a long list costs no more to prepare than a short one; ids must belong to
    the workspace (the composite foreign key refuses any other).
    """
    if channel not in USE_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    rows = [
        {
            "workspace_id": workspace_id,
            "testimonial_id": testimonial_id,
            "channel": channel,
            "first_at": now,
            "last_at": now,
        }
        for testimonial_id in sorted(set(testimonial_ids))
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TestimonialUse)
    stmt = stmt.on_conflict_do_update(
        index_elements=["testimonial_id", "channel"], set_={"last_at": stmt.excluded.last_at}
    )
    session.execute(stmt, rows)


def uses_of(
    session: Session, workspace_id: int, testimonial_ids: Iterable[int]
) -> dict[int, list[TestimonialUse]]:
    """Each testimonial's uses, in USE_CHANNELS order."""
    ids = list(set(testimonial_ids))
    found: dict[int, list[TestimonialUse]] = {i: [] for i in ids}
    if not ids:
        return found
    stmt = select(TestimonialUse).where(TestimonialUse.testimonial_id.in_(ids))
    for use in session.scalars(workspace_scoped(stmt, workspace_id)):
        found[use.testimonial_id].append(use)
    for uses in found.values():
        uses.sort(key=lambda use: USE_CHANNELS.index(use.channel))
    return found


class RecentUses:
    """Which (testimonial, channel) pairs this process recorded lately.

    Public pages are read far more often than their testimonials change, so
    each process writes a use at most once per `ttl` seconds: the record says
    "first shown / last seen about then", and a busy wall does not take a
    write lock per view.
    """

    def __init__(self, ttl: float = 3600.0) -> None:
        self.ttl = ttl
        self._seen: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def due(self, testimonial_ids: Iterable[int], channel: str) -> list[int]:
        """The ids not recorded on `channel` within the ttl; they count as recorded from now."""
        now = time.monotonic()
        due = []
        with self._lock:
            for testimonial_id in testimonial_ids:
                key = (testimonial_id, channel)
                if now - self._seen.get(key, -self.ttl - 1) > self.ttl:
                    self._seen[key] = now
                    due.append(testimonial_id)
            if len(self._seen) > 100_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t <= self.ttl}
        return due

    def forget(self, testimonial_ids: Iterable[int], channel: str) -> None:
        """Undo `due` for ids whose record did not commit, so the next view tries again."""
        with self._lock:
            for testimonial_id in testimonial_ids:
                self._seen.pop((testimonial_id, channel), None)
