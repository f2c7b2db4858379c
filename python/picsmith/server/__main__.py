"""``python -m picsmith.server``: the same as ``picsmith serve``."""

from picsmith.server import main

main()
