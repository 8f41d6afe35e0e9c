"""Fixtures for the planning server: a toy-model service and the tiny real model."""

from __future__ import annotations

import pytest
from serve_helpers import make_service

from vjepa_ac.serve.model import ServedModel, load_service_model


@pytest.fixture
def service():
    svc = make_service()
    yield svc
    svc.stop(5)


@pytest.fixture(scope="session")
def tiny_model() -> ServedModel:
    return load_service_model("tiny:", "cpu")
