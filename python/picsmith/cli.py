"""The ``picsmith`` command.

Usage::

    picsmith serve [--host 127.0.0.1] [--port 8080] [--data ./picsmith-data]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import picsmith
from picsmith import server


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="picsmith", description="picsmith image engine")
    parser.add_argument("--version", action="version", version=f"picsmith {picsmith.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the reference HTTP server")
    server.add_arguments(serve)
    args = parser.parse_args(argv)
    if args.command == "serve":
        server.serve(args.host, args.port, args.data)


if __name__ == "__main__":
    main()
