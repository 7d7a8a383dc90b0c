"""The OpenAPI document: generated from the code, and kept true by schemathesis."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from tests.support.api import ApiClient

API_PATHS = {
    "/api/v1/touchpoints",
    "/api/v1/touchpoints/bulk",
    "/api/v1/stages",
    "/api/v1/responses",
    "/api/v1/testimonials",
    "/api/v1/testimonials/{testimonial_id}",
}


def test_the_document_is_openapi_3_1_of_the_whole_api_and_needs_no_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == API_PATHS
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    touchpoint = document["components"]["schemas"]["TouchpointIn"]
    assert set(touchpoint["required"]) == {"contact", "stage", "touchpoint"}
    bulk = document["paths"]["/api/v1/touchpoints/bulk"]["post"]
    assert {"200", "413", "422", "401", "429"} <= set(bulk["responses"])
    assert (
        document["components"]["schemas"]["BulkTouchpointsIn"]["properties"]["events"]["maxItems"]
        == 1000
    )


def fuzz(app, api: ApiClient, mode: GenerationMode, examples: int) -> int:
    """Every operation of the document, called with generated requests; returns how many."""
    app.config["API_RATE_LIMIT"] = "100000/minute"
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    calls = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        # Not "schema-valid is accepted": a stage key this workspace lacks or a
        # cursor the API never gave out are well-formed but rightly 422. And a
        # bulk request answers 200 with a 422 per bad event, by design.
        excluded = [positive_data_acceptance]
        if operation.path.endswith("/bulk"):
            excluded.append(negative_data_rejection)
        check_operation(operation, mode, examples, api.headers(), excluded, calls)
    return calls[0]


def check_operation(operation, mode, examples, headers, excluded, calls) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # The same generated requests every run: a failure is reproducible, CI is steady.
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def call(case) -> None:
        calls[0] += 1
        # The other checks: no 5xx, documented statuses, content types and
        # bodies; bad input rejected, and no answer without the key.
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    call()


@pytest.mark.slow
def test_generated_valid_requests_get_documented_answers_and_never_a_5xx(app, api):
    assert fuzz(app, api, GenerationMode.POSITIVE, examples=40) >= 5 * 10


@pytest.mark.slow
def test_generated_invalid_requests_are_rejected_in_the_envelope_never_with_a_5xx(app, api):
    assert fuzz(app, api, GenerationMode.NEGATIVE, examples=40) >= 5 * 10
