"""``python -m postpress_async``: the ``postpress`` command."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
