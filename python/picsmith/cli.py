"""The ``picsmith`` command.

Usage::

    picsmith serve [--host 127.0.0.1] [--port 8080] [--config FILE] [--data ./picsmith-data]
    picsmith keys create [--account default] [--label TEXT] [--config FILE] [--data DIR]
    picsmith keys revoke KEY [--config FILE] [--data DIR]

``keys create`` prints the new key alone on its last line; only its hash is stored, in the
catalog every server of a deployment shares. ``keys revoke`` removes a key from that catalog
(every server refuses it from then on) and exits with status 1 when there was no such key.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import picsmith
from picsmith import server


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(prog="picsmith", description="picsmith image engine")
    parser.add_argument("--version", action="version", version=f"picsmith {picsmith.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP server")
    server.add_listen_arguments(serve)
    server.add_arguments(serve)
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create an API key and print it")
    create.add_argument("--account", default="default", help="account the key acts for")
    create.add_argument("--label", default="", help="a note stored with the key")
    server.add_arguments(create)
    revoke = key_commands.add_parser("revoke", help="revoke an API key")
    revoke.add_argument("key", help="the key, as `keys create` printed it")
    server.add_arguments(revoke)
    args = parser.parse_args(argv)
    try:
        config = server.config_from_arguments(args)
    except server.ConfigError as err:
        parser.error(str(err))
    if args.command == "serve":
        server.serve(config)
    elif args.keys_command == "create":
        key = server.open_library(config).create_key(args.account, args.label)
        print(f"API key for account '{args.account}' (only its hash is stored; keep it now):")
        print(key)
    elif args.keys_command == "revoke":
        if not server.open_library(config).revoke_key(args.key):
            print("no such key", file=sys.stderr)
            raise SystemExit(1)
        print("revoked")


if __name__ == "__main__":
    main()
