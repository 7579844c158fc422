"""Scoring on a Ray cluster (issue 17) against a real two-node cluster started here on 127.0.0.1: a head and a
second node, one CPU each, as `ray start` subprocesses (Ray advertises the machine's own address for them). The
same scores as local scoring, each document scored exactly once across a killed worker and a killed driver, and
the install hint without Ray."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import score_coverage, scores_in
from tests.test_targets import ROWS, level_head
from tracker.config import load_settings
from tracker.errors import ConfigError, ScoringError
from tracker.models import Document, document_id, text_hash
from tracker.pipeline.score import make_scorers, score
from tracker.pipeline.score_ray import ray_settings, score_on_ray, score_store_on_ray, score_with_engine
from tracker.scoring.base import TARGET_CODES
from tracker.storage import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Data's own, on its DataContext

NOW = datetime(2026, 11, 24, tzinfo=UTC)
WHEN = datetime(2023, 10, 17, tzinfo=UTC)
WORDS = "the group said on monday that our fighters attacked the base and america will pay the price".split()  # noqa: SIM905


def _need_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Ray tests: install the extra (make dev installs '.[dev,ray]')")
        pytest.skip("Ray is not installed: pip install 'tracker[ray]' (or make ray)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pids: set[int]) -> set[int]:
    """Every descendant of `pids` (Ray's workers run in sessions of their own, so a process group misses them)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), set(pids)
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found}
        found |= frontier
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class LocalCluster:
    """A head and a second node, `ray start --block` each in a session of its own; stop() kills all of it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay short
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, *args: str) -> None:
        ray = str(Path(sys.executable).parent / "ray")
        cmd = [ray, "start", *args, "--num-cpus", "1", "--object-store-memory", str(80 * 2**20), "--block"]
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True))

    def start(self) -> None:
        self._start(
            "head", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
            "--include-dashboard=false", "--temp-dir", str(self.folder), "--disable-usage-stats",
        )  # fmt: skip
        self._wait(lambda: self._accepts(), "the head to listen")
        self._start("node", "--address", self.address, "--node-ip-address", "127.0.0.1", "--disable-usage-stats")

    def _accepts(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _wait(self, ready, what: str, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                logs = "\n".join(f.read_text(errors="replace")[-1500:] for f in self.folder.glob("*.log"))
                raise RuntimeError(f"timed out waiting for {what}:\n{logs}")
            time.sleep(0.2)

    def wait_for_nodes(self, ray) -> None:  # type: ignore[no-untyped-def]
        self._wait(lambda: sum(1 for n in ray.nodes() if n["Alive"]) == 2, "two nodes")

    def scorer_actors(self) -> list[int]:
        pids = _children({p.pid for p in self.procs})
        return sorted(pid for pid in pids if _cmdline(pid).startswith("ray::MapWorker(MapBatches(ScoringActor"))

    def stop(self) -> None:
        pids = _children({p.pid for p in self.procs})
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """The two-node cluster, with this process connected as a driver (the CLI runs join as drivers of their own).
    Token authentication with a token of its own, in the environment the nodes and drivers inherit, whatever
    ~/.ray/auth_token holds."""
    _need_ray()
    local = LocalCluster()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        env.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
        env.delenv("RAY_ADDRESS", raising=False)
        import ray  # after the environment: Ray reads it on import

        try:
            local.start()
            ray.init(address=local.address, logging_level="WARNING")
            local.wait_for_nodes(ray)
            yield local
        finally:
            if ray.is_initialized():
                ray.shutdown()
            local.stop()
            shutil.rmtree(local.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    """A level head with a target head (fitted in a second on a few texts): scores with targets to compare."""
    from tracker.scoring.base import ModelSpec
    from tracker.scoring.transformer import TransformerScorer
    from tracker.scoring.transformer.targets import TargetSettings, fit_target_head, save_target_head

    folder = level_head(tmp_path_factory.mktemp("ray-model") / "head", tiny_encoder)
    scorer = TransformerScorer(ModelSpec("tiny", "encoder_head", str(tiny_encoder), str(folder)), precision="fp32")
    windows, owners = scorer.token_states([t for t, _ in ROWS], (1, 2))
    targets = [tuple(c.split(";")) for _, c in ROWS]
    fit = fit_target_head(windows, owners, targets, TARGET_CODES, (1, 2), TargetSettings(epochs=3, folds=0))
    save_target_head(folder, fit, {"note": "test"})
    return folder


def write_config(folder: Path, encoder: Path, head: Path, address: str | None, **ray: object) -> Path:
    ray_keys = {"actors": 2, "address": address, **ray}
    lines = [f"    {k}: {'null' if v is None else v}" for k, v in ray_keys.items()]
    path = folder / "config.yaml"
    path.write_text(
        f"home: {folder / 'home'}\nscoring:\n  precision: fp32\n  max_tokens: 32\n  stride: 8\n  chunk_size: 40\n"
        "  detect_language: false\n  ray:\n" + "\n".join(lines) + "\n"
        f"  models:\n    en:\n      name: tiny\n      path: {encoder}\n      head: {head}\n",
        encoding="utf-8",
    )
    return path


def corpus(n: int) -> list[Document]:
    """Short and long texts (windowed at 32 tokens), with reposts inside a chunk and across chunks."""
    texts = []
    for i in range(n):
        words = WORDS[: 4 + i % 14] + (WORDS * (1 + i % 5) if i % 9 == 0 else [])
        texts.append(" ".join(words) + f" {i}" if i % 11 else " ".join(words))  # every 11th repeats another
    return [
        Document(document_id("t", str(i), t, WHEN), "t", t, text_hash(t), WHEN, NOW, str(i), None, "en")
        for i, t in enumerate(texts)
    ]


def test_ray_scores_equal_local_scores(
    cluster: LocalCluster, tmp_path: Path, tiny_encoder: Path, tiny_model: Path
) -> None:
    settings = load_settings(write_config(tmp_path, tiny_encoder, tiny_model, cluster.address), env={})
    docs = corpus(300)
    stores = {name: Store.open(f"sqlite:///{tmp_path / f'{name}.db'}") for name in ("local", "ray")}
    try:
        for store in stores.values():
            store.save_documents(docs)
        local = score(settings, stores["local"], now=NOW)
        remote = score_on_ray(settings, stores["ray"], now=NOW)
        # the same texts scored (reposts reused from earlier chunks, in flight or written) and windowed
        assert local.as_counts() == remote.as_counts() and local.reused > 0 and local.windowed > 0
        for d in docs:
            (a,), (b,) = stores["local"].load_scores(d.id), stores["ray"].load_scores(d.id)
            assert (a.model_version, a.level) == (b.model_version, b.level)
            assert max(abs(x - y) for x, y in zip(a.probabilities, b.probabilities, strict=True)) <= 1e-6
            assert abs(a.hostility - b.hostility) <= 1e-6
            assert [c for c, _ in a.targets] == [c for c, _ in b.targets] and a.targets
            assert max(abs(x - y) for (_, x), (_, y) in zip(a.targets, b.targets, strict=True)) <= 1e-6
        again = score_on_ray(settings, stores["ray"], now=NOW)
        assert (again.scored, again.reused, stores["ray"].count_scores()) == (0, 0, len(docs))
        reposts = [replace(d, id=f"r{d.id[1:]}", external_id=f"r{d.external_id}") for d in docs[:60]]
        stores["ray"].save_documents(reposts)  # texts scored before: reused, written by the feeder
        later = score_on_ray(settings, stores["ray"], now=NOW)
        assert (later.scored, later.reused) == (0, 60)
        for original, repost in zip(docs, reposts, strict=False):
            (a,), (b,) = stores["ray"].load_scores(original.id), stores["ray"].load_scores(repost.id)
            assert (a.probabilities, a.targets) == (b.probabilities, b.targets)
    finally:
        for store in stores.values():
            store.close()


@pytest.mark.slow
def test_a_killed_worker_and_driver_then_a_rerun_score_each_document_once(
    cluster: LocalCluster, tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    n = 6000
    config = write_config(tmp_path, tiny_encoder, tiny_head, cluster.address)
    db = tmp_path / "home" / "tracker.db"
    db.parent.mkdir()
    store = Store.open(f"sqlite:///{db}")
    store.save_documents(corpus(n))
    store.close()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_HOME", None)
    cmd = [sys.executable, "-m", "tracker", "--config", str(config), "score", "--engine", "ray"]

    def wait_until(count: int, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 240
        while scores_in(db) < count and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(n // 10, proc)
        actors = cluster.scorer_actors()
        assert actors, "the scorer actors must be running"
        os.kill(actors[0], signal.SIGKILL)  # a worker dies: Ray restarts it, the run goes on
        wait_until(n // 3, proc)
        assert proc.poll() is None, "the run must survive a worker's death"
    finally:
        proc.send_signal(signal.SIGKILL)  # then the driver: the chunks in flight are lost
        _, err = proc.communicate()
    halfway = scores_in(db)
    assert 0 < halfway < n, f"the run must be killed part-way through: {halfway} scored\n{err.decode()[-2000:]}"

    rerun = subprocess.run([*cmd, "--address", cluster.address], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert score_coverage(db) == (n, n, 0)  # every document scored exactly once
    found = re.search(r"scored ([\d,]+) documents .* reused ([\d,]+) scores", rerun.stdout)
    assert found, rerun.stdout
    assert sum(int(g.replace(",", "")) for g in found.groups()) == n - halfway  # the rerun did only the rest


def test_a_worker_that_cannot_load_the_model_fails_the_run_with_its_reason(
    cluster: LocalCluster, tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    settings = load_settings(write_config(tmp_path, tiny_encoder, tiny_head, cluster.address), env={})
    on_workers = settings.model_copy(update={"scoring": settings.scoring.model_copy(update={"device": "cuda"})})
    with Store.open(f"sqlite:///{tmp_path / 't.db'}") as store:
        store.save_documents(corpus(50))
        with pytest.raises(ScoringError, match=r"failed: .*no CUDA device is available; use auto or cpu$"):
            score_store_on_ray(
                store, make_scorers(settings), worker_settings=on_workers, ray_settings=ray_settings(settings), now=NOW
            )
        assert store.count_scores() == 0


def test_without_ray_the_engine_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tracker.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    config = write_config(tmp_path, tmp_path / "enc", tmp_path / "head", None)
    monkeypatch.setattr(sys, "argv", ["tracker", "--config", str(config), "score", "--engine", "ray"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "pip install 'tracker[ray]'" in err and "make ray" in err


@pytest.mark.parametrize(
    ("yaml", "key"),
    [
        ("scoring:\n  engine: spark\n", "scoring.engine"),
        ("scoring:\n  ray:\n    actors: 0\n", "scoring.ray.actors"),
        ("scoring:\n  ray:\n    address: nowhere\n", "scoring.ray.address"),
        ("scoring:\n  ray:\n    cpus_per_actor: 0\n", "scoring.ray.cpus_per_actor"),
        ("scoring:\n  ray:\n    workers: 2\n", "scoring.ray.workers"),
    ],
)
def test_bad_ray_settings_name_the_key(tmp_path: Path, yaml: str, key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml, encoding="utf-8")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(path, env={})


def test_settings_that_disagree_are_refused_before_any_work(tmp_path: Path) -> None:
    def settings(yaml: str):  # type: ignore[no-untyped-def]
        path = tmp_path / "config.yaml"
        path.write_text(yaml, encoding="utf-8")
        return load_settings(path, env={})

    with pytest.raises(ConfigError, match=r"scoring\.ray\.gpus_per_actor is 1 but scoring\.device is cpu"):
        ray_settings(settings("scoring:\n  device: cpu\n  ray:\n    gpus_per_actor: 1\n"))
    with pytest.raises(ConfigError, match=r"scoring\.device is cuda but scoring\.ray\.gpus_per_actor is 0"):
        ray_settings(settings("scoring:\n  device: cuda\n"))
    with pytest.raises(ConfigError, match="--address 'x'"):
        ray_settings(settings(""), address="x")
    assert ray_settings(settings(""), address="ray://head:10001").address == "ray://head:10001"
    with Store.open(f"sqlite:///{tmp_path / 't.db'}") as store, pytest.raises(ConfigError, match="--engine ray"):
        score_with_engine(settings(""), store, now=NOW, engine="local", address="head:6379")
