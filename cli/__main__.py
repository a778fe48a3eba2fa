"""``python -m cli``: the same command line as the ``theodoi`` script."""

from cli.commands import main_entry

main_entry()
