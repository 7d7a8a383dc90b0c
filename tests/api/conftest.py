from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import make_workspace
from tests.support.api import ApiClient, api_client_for


@pytest.fixture
def api(client: FlaskClient, db_session: Session) -> ApiClient:
    return api_client_for(client, db_session, make_workspace(db_session))
