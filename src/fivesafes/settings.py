"""Reading a service's TOML configuration, once, at the edge.

Relative paths in a config file are resolved against the folder the file is in, so a
deployment folder can be moved as a whole.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import BaseModel, ValidationError, ValidationInfo

from fivesafes.protocol.errors import ConfigError
from fivesafes.protocol.validation import problems, sentence

M = TypeVar("M", bound=BaseModel)


def load_config(path: Path, model: type[M]) -> M:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"No configuration file at {path}.") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the configuration at {path}: {exc}") from exc
    try:
        return model.model_validate(raw, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        said = sentence(problems(exc.errors()))
        raise ConfigError(f"The configuration at {path} is not valid: {said}") from exc


def write_config(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data))


def create_config(path: Path, data: dict[str, Any], model: type[M]) -> M:
    """Write a new config file and validate it; refuse to overwrite, leave nothing if invalid."""
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite it.")
    write_config(path, data)
    try:
        return load_config(path, model)
    except ConfigError:
        path.unlink()
        raise


def config_base_dir(info: ValidationInfo) -> Path | None:
    """The folder of the config file being validated (passed as validation context)."""
    context: Any = info.context
    return context.get("base_dir") if isinstance(context, dict) else None


def resolve_path(value: str | Path, base_dir: Path | None) -> Path:
    candidate = Path(value).expanduser()
    if candidate.is_absolute() or base_dir is None:
        return candidate
    return (base_dir / candidate).resolve()


def resolve_sqlite_url(url: str, base_dir: Path | None) -> str:
    """``sqlite:///hub.db`` is relative to the config's folder; other URLs pass through."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str(resolve_path(url[len(prefix) :], base_dir))
    return url
