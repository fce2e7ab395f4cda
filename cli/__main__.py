"""``python -m onion.cli``: the same as the ``onion`` command."""

from onion.cli.main import main

main()
