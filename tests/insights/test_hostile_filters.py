"""The owner pages' query parameters: odd values are ignored or refused, never a 500."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_owner, make_response


@pytest.fixture
def owner(db_session, auth):
    user, workspace = make_owner(db_session)
    make_response(db_session, workspace)
    auth.login(user.email, PASSWORD)
    return workspace


@pytest.mark.parametrize("path", ["/dashboard", "/stages/purchase"])
@pytest.mark.parametrize("touchpoint", ["99999999999999999999", "2147483648", "-1", "0"])
def test_a_touchpoint_id_no_column_can_hold_is_ignored(client, owner, path, touchpoint):
    response = client.get(path, query_string={"touchpoint": touchpoint})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/dashboard", "days"),
        ("/responses", "page"),
        ("/follow-ups", "page"),
        ("/testimonials", "page"),
    ],
)
@pytest.mark.parametrize("value", ["99999999999999999999", "-99999999999999999999"])
def test_other_integer_parameters_out_of_range_fall_back_to_their_default(
    client, owner, path, parameter, value
):
    assert client.get(path, query_string={parameter: value}).status_code == 200


@pytest.mark.parametrize("path", ["/responses", "/export/responses.csv"])
def test_a_nul_in_the_search_text_is_refused_with_400(client, owner, path):
    assert client.get(path, query_string={"q": "lovely\x00"}).status_code == 400
