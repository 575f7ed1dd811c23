"""The OpenAPI schema FastAPI publishes, fuzzed with schemathesis (bounded): no 500s, no response
that breaks the schema, whatever the input."""

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
import schemathesis
import urllib3
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .wire import bearer, join


@pytest.fixture(scope="module")
def fuzz_target(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        join(client, app, headers)
        spec = client.get("/openapi.json").json()
    session = requests.Session()
    session.verify = False  # fuzzing is about bodies, not TLS (the other tests verify the certificate)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    session.headers.update(headers)
    # a kept-alive connection the server has just closed (e.g. after answering 405 without reading
    # the body) is retried on a new one, as any client would: that race is not what this tests
    retry = Retry(total=2, connect=2, read=0, status=0, other=2, allowed_methods=None, raise_on_status=False)
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return {"schema": schemathesis.openapi.from_dict(spec), "url": collector.url.rstrip("/"), "session": session}


@pytest.fixture(scope="module")
def collector_schema(fuzz_target):
    return fuzz_target["schema"]


api_schema = schemathesis.pytest.from_fixture("collector_schema")


@api_schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_collector(case, fuzz_target):
    case.call_and_validate(base_url=fuzz_target["url"], session=fuzz_target["session"],
                           checks=[not_a_server_error, response_schema_conformance], verify=False)
