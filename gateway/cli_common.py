"""What the ``helserom`` commands share: the --config option and loading it or exiting 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway import settings as settings_mod

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (see config/gateway.toml)")
]
EXIT_CONFIG = 2


def load_or_exit(path: Path | None) -> settings_mod.Settings:
    """The settings, or one line per problem (key, value, expected) and exit 2."""
    try:
        return settings_mod.load(path)
    except settings_mod.ConfigError as exc:
        for line in exc.problems:
            typer.echo(f"{exc.path}: {line}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
