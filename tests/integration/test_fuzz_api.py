"""Schemathesis fuzzing from the served OpenAPI document against the live controller.

Valid and invalid requests for every operation, as the provider and as a
party: never a 5xx, and every answer (status, content type, body) is one the
document describes (the event stream aside, which never ends).
`positive_data_acceptance` is left out on purpose: a
schema-valid body may still name a party or an interface that does not exist,
and a 4xx is then the right answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.harness import Controller, running_controller
from tests.integration.test_api_server import ADMIN


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Controller, str]]:
    """The controller and a party token (the party has interfaces to create services on)."""
    with running_controller(tmp_path_factory.mktemp("fuzz"), admin_token=ADMIN) as controller:
        party = controller.party("fuzzer", [("f1", "acc1", 2, "00:00:00:00:00:01"),
                                            ("f2", "acc2", 2, "00:00:00:00:00:03")])
        controller.party("other", [("o1", "acc3", 2, "00:00:00:00:00:05")])
        yield controller, party


# A stream never ends on its own: each example would wait for the client's timeout.
# tests/integration/test_event_stream.py covers it, bad Last-Event-ID included.
UNENDING = {"/api/v1/events/stream"}
FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def fuzz(controller: Controller, token: str) -> None:
    """Valid and invalid requests for every operation of the served document."""
    headers = {"Authorization": f"Bearer {token}"}
    api = schemathesis.openapi.from_url(f"{controller.url}/api/v1/openapi.json",
                                        headers=headers, verify=controller.verify)
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.path in UNENDING:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, verify=controller.verify,
                                       excluded_checks=[positive_data_acceptance])
            try:
                check()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing in it can be made invalid


def test_fuzz_as_the_provider(fuzzed: tuple[Controller, str]) -> None:
    fuzz(fuzzed[0], ADMIN)


def test_fuzz_as_a_party(fuzzed: tuple[Controller, str]) -> None:
    controller = fuzzed[0]
    # The provider's fuzzing may have suspended the party or issued it a new token:
    # make it active again and fuzz with a token it holds now.
    parties = controller.call("GET", "/api/v1/parties?limit=1000", ADMIN).json()
    path = f"/api/v1/parties/{next(p['id'] for p in parties if p['name'] == 'fuzzer')}"
    controller.call("PATCH", path, ADMIN, {"account": {"status": "active"}})
    fuzz(controller, controller.call("POST", f"{path}/token", ADMIN).json()["token"])
