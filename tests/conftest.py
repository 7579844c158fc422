"""Shared fixtures. The storage contract runs against SQLite and a real PostgreSQL server on 127.0.0.1.

PostgreSQL: with TRACKER_TEST_PG_URL set, that server is used. Otherwise the session starts a throwaway server
of its own from Debian's postgresql package (`make test` installs it as root): initdb into a temporary folder, a
free port on 127.0.0.1, stopped and deleted at the end. Where the package is missing the PostgreSQL cases are
skipped with the reason (in CI they fail instead).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracker.storage import Store
from tracker.urls import sqlalchemy_url

REPO = Path(__file__).resolve().parents[1]


def _pg_bin() -> Path | None:
    """The newest Debian PostgreSQL server binaries, if installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3].split(".")[0]))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _throwaway_postgres(bindir: Path) -> Iterator[str]:
    """initdb + pg_ctl start on 127.0.0.1 as an unprivileged user (PostgreSQL refuses to run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "tracker", "--no-sync")
        run(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "start",
            "-o", f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off",
        )  # fmt: skip
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "tracker", "tracker_test")
        yield f"postgresql://tracker@127.0.0.1:{port}/tracker_test"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL contract tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session: TRACKER_TEST_PG_URL, else a throwaway one started here."""
    if os.environ.get("TRACKER_TEST_PG_URL"):
        yield os.environ["TRACKER_TEST_PG_URL"]
        return
    bindir = _pg_bin()
    if bindir is None:
        _unavailable("no PostgreSQL server binaries (Debian package postgresql); `make test` as root installs them")
    assert bindir is not None
    yield from _throwaway_postgres(bindir)


@pytest.fixture(scope="session")
def pg_engine(pg_admin_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlalchemy_url(pg_admin_url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        engine.dispose()
        _unavailable(f"no PostgreSQL server at {pg_admin_url.split('@')[-1]} ({type(exc).__name__})")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_engine: sa.Engine, pg_admin_url: str) -> Iterator[str]:
    """A url whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{pg_admin_url}?options=-csearch_path%3D{schema}"
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


def scores_in(db: Path) -> int:
    """How many scores a SQLite store holds (read while another process may be writing to it)."""
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM scores").fetchone()[0])


def score_coverage(db: Path) -> tuple[int, int, int]:
    """(scores, documents with a score, documents without one) in a SQLite store."""
    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT document_id) FROM scores").fetchone()
        unscored = conn.execute(
            "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM scores s WHERE s.document_id = d.id)"
        ).fetchone()[0]
    return int(total), int(distinct), int(unscored)


def run_tracker(
    *args: str, home: Path, timeout: int = 900, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`tracker ARGS` as a user runs it, with the repo's config.yaml (or `config`) and TRACKER_HOME=home."""
    env = {**os.environ, "TRACKER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_CONFIG", None)
    cmd = [sys.executable, "-m", "tracker", "--config", str(config or REPO / "config.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def fp32_config(folder: Path) -> Path:
    """The repo's config.yaml with scoring in fp32: a subprocess that must score exactly like an in-process fp32
    scorer cannot leave the precision to the timing probe (`auto` picks bf16 where it measures faster)."""
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert "  precision: auto" in text
    path = folder / "config-fp32.yaml"
    path.write_text(text.replace("  precision: auto", "  precision: fp32", 1), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracker home holding the demo corpus, ingested and scored by the shipped model (`tracker demo`)."""
    home = tmp_path_factory.mktemp("demo-home")
    result = run_tracker("demo", home=home)
    assert result.returncode == 0, result.stderr
    return home
