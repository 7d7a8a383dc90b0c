"""One transaction per request, ended in one place (warehouse's rule).

Views and services write through `db.session` and never commit or roll back
themselves. After the view, `end_request_transaction` ends what the request
began:

- a response below 400 commits: a page (2xx) and a redirect (3xx, the
  Post/Redirect/Get after a change) are successes;
- a response of 400 or more rolls back, whether the view returned it or an
  error handler made it from an exception (`abort(404)`, a CSRF failure, a
  500). With exceptions propagating (tests), no hook runs at all and the
  session's removal at the end of the app context rolls back instead.

Streamed bodies (the CSV exports) are produced after this hook: the request's
transaction is already committed when they start, so their reads autobegin a
transaction of their own, which the app context's teardown rolls back once the
stream ends (`stream_with_context` keeps that context for the whole body).
Whatever such a body must keep, it commits itself with `commit_now`.

A commit that fails here is answered as if the view had raised the error: the
app's error handlers take it (`feedback.errors`: a 503 when the database went
away, a 500 for anything else, such as an IntegrityError), never the view's own
answer. So a view that answers a refused write with its own page (409, 422)
must make the write fail inside the view: the service flushes (or inserts)
within the view's `try`, and the commit here has nothing left to fail on.

The two explicit exceptions, greppable by name:

- `commit_now(reason)`: keep what was written so far even though the answer
  may be an error (an invitation marked expired behind a 410, a login attempt
  counted behind a 429, an API key's last use behind a 4xx), or make it
  visible to other processes before the request goes on.
- `discard_changes()`: drop a change a service refused half-way before the
  view shows its page again, so the page shows (and autoflush writes) only
  what is stored.

Outside requests there is no such hook, and whoever starts the work owns its
transaction: the CLI commands (`feedback/cli.py`), the delivery worker
(`feedback/delivery/worker.py`), the import runner's background thread
(`feedback/surveys/import_runner.py`), the wall's record of where testimonials
were shown (written in an app context of its own once the page has gone out:
`feedback/testimonials/public_views.py`), and the read-only `/readyz` and
`/metrics` pages (`feedback/health.py`, `feedback/metrics.py`), which roll back
their reads themselves.
"""

from __future__ import annotations

from flask import Flask, current_app
from werkzeug.wrappers import Response

from feedback.extensions import db

# Below this the request succeeded (2xx pages, 3xx redirects): its writes are kept.
FIRST_ERROR_STATUS = 400


def register(app: Flask) -> None:
    """Call last in `create_app`: after_request hooks run in reverse, so the transaction
    ends first, and every other hook (headers, the log line) sees the answer it settles on."""
    app.after_request(end_request_transaction)


def end_request_transaction(response: Response) -> Response:
    """Commit the request's transaction on success, roll it back on an error answer."""
    if not db.session.registry.has():
        # No session was opened (static files), or an outage handler removed it.
        return response
    session = db.session()
    if response.status_code >= FIRST_ERROR_STATUS:
        session.rollback()
    elif session.in_transaction():
        try:
            session.commit()
        except Exception as error:
            # Handled as the view's own commit failing was: an outage's handler drops
            # the session, and a 500 comes back through here to be rolled back.
            return current_app.make_response(current_app.handle_user_exception(error))
    return response


def commit_now(reason: str) -> None:
    """Commit what this request wrote so far; what it writes next follows the usual rule.

    `reason` says why the write must outlive an error answer or be seen now;
    it is there for the reader (and a debugger's breakpoint), not logged.
    """
    db.session.commit()


def discard_changes() -> None:
    """Roll back what this request wrote so far, before showing a page again.

    For a view whose service refused a change it had half made: the objects
    are expired and reload as stored, so the page never shows the refused
    values and no later query flushes them.
    """
    db.session.rollback()
