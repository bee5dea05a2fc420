"""``python -m saosim``: the same as the ``saosim`` command."""

from saosim.cli import app

if __name__ == "__main__":
    app()
