"""``python -m autoinfra.cli``: the same as the ``autoinfra`` command."""

from autoinfra.cli.main import app

app()
