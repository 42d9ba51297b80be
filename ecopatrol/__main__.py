"""``python -m ecopatrol``: the same as the ``ecopatrol`` command."""

from ecopatrol.cli import main

main()
