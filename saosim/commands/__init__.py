"""CLI commands, one module per room; each registers on :data:`saosim.cli.app` when imported.

Modules here are discovered by :func:`saosim.cli._load_commands`, so adding a command means
adding a module, not editing a list.
"""
