"""Asks the CLI which plugin command groups it would add (without running it)."""
from __future__ import annotations


def plugin_command_names(platform) -> list[str]:
    import typer

    return [name for name, sub in platform.plugins.collect("register_commands", platform=platform)
            if isinstance(sub, typer.Typer)]
