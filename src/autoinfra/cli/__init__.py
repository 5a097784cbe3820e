"""The command line: ``autoinfra`` and its subcommands (Typer + Rich)."""
