"""Sub-commands of ``hadir``: one module per command, each with ``register(subparsers)``."""
