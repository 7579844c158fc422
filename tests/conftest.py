"""Shared fixtures. The storage contract runs against SQLite and a real PostgreSQL server on 127.0.0.1.

PostgreSQL: `.ci/run` starts one (scripts/pg-test-server) and exports TRACKER_TEST_PG_URL. Outside CI the
PostgreSQL cases are skipped, with the reason shown, when no server answers; in CI they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracker.storage import Store

DEFAULT_PG_URL = "postgresql://tracker:tracker@127.0.0.1:5432/tracker_test"
REPO = Path(__file__).resolve().parents[1]


def _pg_admin_url() -> str:
    return os.environ.get("TRACKER_TEST_PG_URL", DEFAULT_PG_URL)


def _sa_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    url = _pg_admin_url()
    engine = sa.create_engine(_sa_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        engine.dispose()
        reason = f"no PostgreSQL server at {url.split('@')[-1]} ({type(exc).__name__}); run scripts/pg-test-server"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL contract tests: {reason}")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_engine: sa.Engine) -> Iterator[str]:
    """A url whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{_pg_admin_url()}?options=-csearch_path%3D{schema}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'tracker.db'}")
    yield s
    s.close()


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import build_encoder

    return build_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def tiny_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import build_head

    return build_head(tmp_path_factory.mktemp("tiny-head"))


def run_tracker(*args: str, home: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """`tracker ARGS` as a user runs it, with the repo's config.yaml and TRACKER_HOME=home."""
    env = {**os.environ, "TRACKER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_CONFIG", None)
    cmd = [sys.executable, "-m", "tracker", "--config", str(REPO / "config.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracker home holding the demo corpus, ingested and scored by the shipped model (`tracker demo`)."""
    home = tmp_path_factory.mktemp("demo-home")
    result = run_tracker("demo", home=home)
    assert result.returncode == 0, result.stderr
    return home
