"""Subcommands of the ``messjax`` CLI, one module each (discovered by :mod:`messjax.cli`)."""
