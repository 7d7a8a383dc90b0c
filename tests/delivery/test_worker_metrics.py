"""The delivery worker counts what it sent and failed, and logs each batch as a JSON line."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.worker import deliver_due
from tests.factories import NOW, make_workspace
from tests.support.delivery import SETTINGS, Clock, enqueue


def deliveries(kind: str, outcome: str) -> float:
    labels = {"kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("feedback_outbox_deliveries_total", labels) or 0.0


def test_emails_sent_and_retrying_are_counted_and_each_batch_logged_as_json(
    app, db_session, smtp_server, capsys
):
    workspace = make_workspace(db_session)
    enqueue(db_session, workspace, count=3)
    mailer = SmtpMailer.from_url(smtp_server.url)
    clock = Clock(NOW)
    sent, retrying = deliveries("email", "sent"), deliveries("email", "retrying")
    capsys.readouterr()
    deliver_due(db_session, mailer, SETTINGS, clock)  # SMTP is down
    assert deliveries("email", "retrying") - retrying == 3
    smtp_server.start()
    clock.advance(minutes=5)
    deliver_due(db_session, mailer, SETTINGS, clock)
    assert deliveries("email", "sent") - sent == 3
    err = capsys.readouterr().err
    batches = [
        json.loads(line)
        for line in err.splitlines()
        if line.startswith("{") and '"outbox batch"' in line
    ]
    assert [(b["kind"], b["sent"], b["retrying"], b["failed"]) for b in batches] == [
        ("email", 0, 3, 0),
        ("email", 3, 0, 0),
    ]
    assert "customer0@example.com" not in err
