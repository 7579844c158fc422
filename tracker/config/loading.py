"""Reading config.yaml: find it, parse it, validate it, resolve paths, the home and the secrets, once."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from tracker.config.settings import Secrets, Settings
from tracker.config.sources import FilesSource, TelegramSource
from tracker.errors import ConfigError


def find_config(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: explicit path, else $TRACKER_CONFIG, else ./config.yaml, else none."""
    if path is not None:
        return Path(path)
    if env.get("TRACKER_CONFIG"):
        return Path(env["TRACKER_CONFIG"])
    local = Path("config.yaml")
    return local if local.is_file() else None


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and resolve the config once; raise ConfigError with a one-line message."""
    env = os.environ if env is None else env
    config_path = find_config(path, env)
    raw: dict[str, Any] = {}
    base = Path.cwd()
    label = "config"
    if config_path is not None:
        label = str(config_path)
        if not config_path.is_file():
            raise ConfigError(f"config file {config_path} not found; pass --config PATH or set TRACKER_CONFIG")
        raw = _read_yaml(config_path)
        base = config_path.resolve().parent
        for internal in ("config_path", "home_from", "secrets"):
            if internal in raw:
                raise ConfigError(f"{label}: unknown key {internal!r}; it is set by the tracker, remove it")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{label}: {_describe(exc, raw)}") from None
    home, home_from = _resolve_home(settings.home, base, env, label)
    events = settings.events_file
    if events is not None and not events.is_absolute():
        events = base / events
    models = {
        lang: m.model_copy(update={"path": _local(m.path, base), "head": _local(m.head, base) if m.head else None})
        for lang, m in settings.scoring.models.items()
    }
    scoring = settings.scoring.model_copy(update={"models": models})
    sources = tuple(
        src.model_copy(update={"path": str(base / src.path)})
        if isinstance(src, FilesSource | TelegramSource) and not Path(src.path).is_absolute()
        else src
        for src in settings.sources
    )
    names = [src.name for src in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{label}: sources: the name {duplicated[0]!r} is used twice; give each source its own")
    secrets = Secrets(values={n: SecretStr(env[n]) for n in settings.secret_names() if n in env})
    return settings.model_copy(
        update={
            "sources": sources,
            "scoring": scoring,
            "home": home,
            "home_from": home_from,
            "events_file": events,
            "config_path": config_path.resolve() if config_path else None,
            "secrets": secrets,
        }
    )


def _local(path: str, base: Path) -> str:
    """Relative model folders are taken from the config file's folder; hub ids and package: paths stay."""
    if path.startswith((".", "~")) or (not path.startswith("package:") and (base / path).exists()):
        return str((base / Path(path).expanduser()).resolve())
    return path


def _resolve_home(home: Path, base: Path, env: Mapping[str, str], label: str) -> tuple[Path, str]:
    if env.get("TRACKER_HOME"):
        resolved, source = Path(env["TRACKER_HOME"]).expanduser().resolve(), "TRACKER_HOME"
    else:
        home = home.expanduser()
        resolved = (home if home.is_absolute() else base / home).resolve()
        source = f"{label}: home" if label != "config" else "default"
    _check_home(resolved, "$TRACKER_HOME" if source == "TRACKER_HOME" else f"{label}: home")
    return resolved, source


def _check_home(home: Path, key: str) -> None:
    """The home must be a folder, or creatable: its nearest existing ancestor a writable folder."""
    if home.exists():
        if not home.is_dir():
            raise ConfigError(f"{key} {home} is a file, not a folder; point it at a folder")
        return
    ancestor = home.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key} {home} cannot be created: {ancestor} is a file; point it at a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{key} {home} cannot be created: {ancestor} is not writable; choose another folder")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML ({problem}); fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    """One line for the first problem: the dotted key, what is expected, what was given."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] = Settings
        for part in loc[:-1]:
            ann = model.model_fields[part].annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                model = ann
        valid = [n for n, f in model.model_fields.items() if not f.exclude]
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key {key!r}; {hint}valid keys here: {', '.join(valid)}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = err.get("input")
    given = f", got {got!r}" if not isinstance(got, dict) and got is not None else ""
    return f"{key}: {msg[0].lower() + msg[1:]}{given}"
