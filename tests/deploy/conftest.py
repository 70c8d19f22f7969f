from __future__ import annotations

import pytest

from devstack.stack import SERVICES


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    """Each of the five services, by package name."""
    return str(request.param)
