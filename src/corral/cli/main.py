"""Entry point of the `corral` command: dispatch through the command table, and errors to exit codes.

Handlers live in sibling modules and are imported only for the command that
runs, so `corral --help` and `corral run` load as little as possible.
"""
from __future__ import annotations

import os
import sys

from corral.cli import commands
from corral.cli.parser import Group, help_text, parse


def usage() -> str:
    lines = ["Usage:  corral [--root DIR] COMMAND", "", "A container engine for Linux.", "", "Commands:"]
    lines += [f"  {name:<10} {text}" for name, text in commands.listing()]
    lines += ["", "Environment: CORRAL_ROOT selects the store (default /var/lib/corral).",
              "Run 'corral COMMAND --help' for more on a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command line; the exit code. --help shows the command's help; for a command whose
    options end at its first positional (run, exec, a group), only as its first or second argument,
    so that `corral run IMG sh --help` reaches the container."""
    argv = sys.argv[1:] if argv is None else argv
    while argv and argv[0] in ("--root",) and len(argv) > 1:
        os.environ["CORRAL_ROOT"] = argv[1]
        argv = argv[2:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-v", "--version"):
        argv = ["version"]
    cmd, rest = commands.find(argv)
    if cmd is None:
        print(f"corral: '{argv[0]}' is not a corral command.\nSee 'corral --help'", file=sys.stderr)
        return 1
    if "--help" in rest and (cmd.interspersed or rest.index("--help") <= 1):
        print(help_text(cmd))
        return 0
    from corral.errors import CorralError

    engine_code = 125 if cmd.name in ("run", "create") else 1
    try:
        opts, args = parse(cmd, rest)
        if isinstance(cmd, Group):
            raise cmd.unknown(args[0])
        module, func = cmd.handler.split(":")
        handler = getattr(__import__(f"corral.cli.{module}", fromlist=[func]), func)
        return handler(opts, args)
    except CorralError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code if e.exit_code in (126, 127) else engine_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """Exit without interpreter teardown (several ms of module GC); the DB needs no close (WAL)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
