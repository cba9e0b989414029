"""Fixtures for pipeline tests; helpers live in ``pipeline_helpers`` (see tests/gadgets/conftest.py
for why not in a conftest)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pipeline_helpers import disc_raw, generate_shepp_logan  # noqa: E402


@pytest.fixture
def small_raw(tmp_path):
    return disc_raw(tmp_path / "disc.h5")


@pytest.fixture(scope="session")
def shepp_logan(tmp_path_factory):
    path = generate_shepp_logan(tmp_path_factory.mktemp("shepp") / "shepp_logan.h5")
    if path is None:
        pytest.skip("ismrmrd_generate_cartesian_shepp_logan (Debian ismrmrd-tools) is not installed")
    return path
