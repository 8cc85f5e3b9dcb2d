"""Fixtures: a fresh migrated CDP database per test (and a marketplace source database when a
test needs one) on the real PostgreSQL, a staging directory, and the ETL configuration."""

from __future__ import annotations

import dataclasses
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dags"))
sys.path.insert(0, HERE)

from cdp_etl.config import EtlConfig  # noqa: E402
from support import marketplace, pg  # noqa: E402
from support.fake_amplitude import FakeAmplitude  # noqa: E402
from support.fake_braze import FakeBraze  # noqa: E402


@pytest.fixture
def cdp_dsn():
    dsn = pg.create_cdp_database()
    yield dsn
    pg.drop_database(dsn)


@pytest.fixture
def source_dsn(cdp_dsn):
    dsn = pg.create_database("cdp_etl_source")
    marketplace.create_source_table(dsn, cdp_dsn)
    yield dsn
    pg.drop_database(dsn)


@pytest.fixture
def cfg(cdp_dsn, tmp_path):
    """The configuration the DAGs would build from the environment, pointed at this test."""
    return EtlConfig(etl_dsn=cdp_dsn, staging_dir=str(tmp_path / "staging"))


@pytest.fixture
def users_cfg(cfg, source_dsn):
    return dataclasses.replace(cfg, source_dsn=source_dsn, source_relation=marketplace.SOURCE_RELATION)


@pytest.fixture
def amplitude():
    """A local Amplitude Export API (support/fake_amplitude.py)."""
    fake = FakeAmplitude().start()
    yield fake
    fake.stop()


@pytest.fixture
def braze():
    """A local Braze /users/export/ids (support/fake_braze.py)."""
    fake = FakeBraze().start()
    yield fake
    fake.stop()
