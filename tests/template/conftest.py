"""Fixtures for the template tests: template.yaml read with CloudFormation's short tags."""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch_local.template_resources import load_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()
