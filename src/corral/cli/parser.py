"""A small Docker-style option parser.

argparse and click cost 15–40 ms of imports on these machines, more than a
whole `crun run`; this parser is data plus one loop. It follows the Docker
CLI's rules: combined short flags (-it), --opt=value, repeatable options,
and for run/create/exec, options end at the first positional argument.
"""
from __future__ import annotations

from corral.errors import InvalidArgument


class UsageError(InvalidArgument):
    """A command line that does not parse, printed as docker prints it (no "Error:" prefix, the usage
    and where help is). Its exit status is docker 28's: 125 for a bad flag, 1 for a wrong number of
    arguments, whatever the command."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


DEBUG = [False]
"""Set by the global -D/--debug (or --log-level debug): engine errors show their traceback."""


def report(e: Exception) -> None:
    """An engine error on stderr as docker prints it; with -D its traceback first. Call it from the
    except clause that caught `e`. Here, beside the parser, because the dispatcher and the verb
    modules both report, and the dispatcher imports nothing else of the CLI."""
    import sys

    if DEBUG[0]:
        import traceback

        traceback.print_exc()
    print(e if getattr(e, "bare", False) else f"Error: {e}", file=sys.stderr)  # bare: docker's own wording


class HelpRequested(Exception):
    """--help (or -h where -h is no flag of the command) before the command's first positional argument."""


def flag_error(cmd: "Command", message: str) -> UsageError:
    """docker's lines for a flag that does not parse; exit status 125 on every command."""
    return UsageError(f"{message}\n\nUsage:  corral {cmd.usage}\n\n"
                      f"Run 'corral {cmd.name} --help' for more information", 125)


class Opt:
    """One flag; kind is flag, flag_on (a flag that is on unless --x=false), value or multi (repeatable)."""

    __slots__ = ("names", "dest", "kind", "help", "metavar")

    def __init__(self, names: tuple[str, ...], dest: str, kind: str = "flag", help: str = "",  # noqa: A002
                 metavar: str = "VALUE") -> None:
        self.names, self.dest, self.kind, self.help, self.metavar = names, dest, kind, help, metavar


class Command:
    """One command. name is its words as docs and messages show them ("run", "network create"); also
    holds its other names, each one entry in the command tree (`image ls` and `image list` for
    `images`). handler is "module:function" under corral.cli, imported only when the command runs;
    interspersed=False makes options stop at the first positional (run IMAGE CMD -x...)."""

    __slots__ = ("name", "also", "handler", "usage", "help", "opts", "interspersed", "min_args", "max_args")

    def __init__(self, name: str, handler: str, usage: str, help: str, opts: list[Opt] | None = None,  # noqa: A002
                 interspersed: bool = True, min_args: int = 0, max_args: int | None = None,
                 also: tuple[str, ...] = ()) -> None:
        self.name, self.also, self.handler, self.usage, self.help = name, also, handler, usage, help
        self.opts = opts or []
        self.interspersed, self.min_args, self.max_args = interspersed, min_args, max_args

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,) + self.also


class Group(Command):
    """A management command (`image`, `network`, `system`): the first word of its subcommands' names,
    which the command table fills in. Parsed as a command of no options and at least one argument,
    so that `corral image` or `corral image --bogus` fail as any command does; what parses is a word
    that names no subcommand."""

    __slots__ = ("subcommands",)

    def __init__(self, name: str, usage: str, help: str) -> None:  # noqa: A002
        super().__init__(name, "", usage, help, interspersed=False, min_args=1)
        self.subcommands: dict[str, Command] = {}

    def unknown(self, word: str) -> InvalidArgument:
        """The error for `corral GROUP WORD` when WORD names none of its subcommands."""
        first: dict[str, str] = {}  # each subcommand once, under the first of its words here
        for name, cmd in self.subcommands.items():
            first.setdefault(cmd.name, name)
        words = sorted(first.values())
        listed = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)
        return InvalidArgument(f"unknown {self.name} command {word!r}: use {listed}")


def parse(cmd: Command, argv: list[str]) -> tuple[dict, list[str]]:
    table = {n: o for o in cmd.opts for n in o.names}
    initial = {"multi": list, "flag": lambda: False, "flag_on": lambda: True, "value": lambda: None}
    values: dict = {o.dest: initial[o.kind]() for o in cmd.opts}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            if not cmd.interspersed:
                positional += argv[i:]
                break
            continue
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            opt = table.get(name)
            if opt is None:
                if name == "--help":
                    raise HelpRequested
                raise flag_error(cmd, f"unknown flag: {name}")
            if opt.kind in ("flag", "flag_on"):
                values[opt.dest] = _bool(cmd, inline, name) if eq else True
                continue
            if not eq:
                if i >= len(argv):
                    raise flag_error(cmd, f"flag needs an argument: {name}")
                inline = argv[i]
                i += 1
            _store(values, opt, inline)
            continue
        j = 1
        while j < len(arg):  # -it, -e K=V, -eK=V
            name = "-" + arg[j]
            opt = table.get(name)
            if opt is None:
                if name == "-h":
                    raise HelpRequested
                raise flag_error(cmd, f"unknown shorthand flag: '{arg[j]}' in {arg}")
            j += 1
            if opt.kind in ("flag", "flag_on"):
                if arg[j:j + 1] == "=":  # -H=false, as pflag takes it
                    values[opt.dest] = _bool(cmd, arg[j + 1:], name)
                    break
                values[opt.dest] = True
                continue
            rest = arg[j:]
            if rest.startswith("="):
                rest = rest[1:]
            if not rest:
                if i >= len(argv):
                    raise flag_error(cmd, f"flag needs an argument: '{name[1]}' in {name}")
                rest = argv[i]
                i += 1
            _store(values, opt, rest)
            break
    low, high = cmd.min_args, cmd.max_args
    if len(positional) < low or (high is not None and len(positional) > high):
        raise _count_error(cmd, low, high)
    return values, positional


def _count_error(cmd: "Command", low: int, high: int | None) -> UsageError:
    """docker's cli/required.go wording for a wrong number of arguments; exit status 1."""
    def n(count: int) -> str:
        return f"{count} argument{'' if count == 1 else 's'}"

    if high == 0:
        need = "accepts no arguments"
    elif high is None:
        need = f"requires at least {n(low)}"
    elif low == high:
        need = f"requires exactly {n(low)}"
    elif low == 0:
        need = f"requires at most {n(high)}"
    else:
        need = f"requires at least {low} and at most {n(high)}"
    return UsageError(f"corral: 'corral {cmd.name}' {need}\n\nUsage:  corral {cmd.usage}\n\n"
                      f"See 'corral {cmd.name} --help' for more information", 1)


def _bool(cmd: "Command", text: str, name: str) -> bool:
    """pflag's strconv.ParseBool, for --flag=VALUE and -f=VALUE of a boolean flag."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise flag_error(cmd, f'invalid argument "{text}" for "{name}" flag: strconv.ParseBool: parsing '
                          f'"{text}": invalid syntax')


def _store(values: dict, opt: Opt, value: str) -> None:
    if opt.kind == "multi":
        values[opt.dest].append(value)
    else:
        values[opt.dest] = value


def key_values(items: list[str], flag: str, *, from_env: bool = False) -> dict[str, str]:
    """Repeated KEY=VALUE flags (--label, --opt, --build-arg). A bare KEY is empty, or with from_env
    takes this process's value of KEY, as docker does for --build-arg."""
    import os

    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {flag} {item!r}: use KEY=VALUE")
        found[key] = value if sep else (os.environ.get(key, "") if from_env else "")
    return found


def help_text(cmd: Command) -> str:
    lines = [f"Usage:  corral {cmd.usage}", "", cmd.help]
    if cmd.opts:
        lines += ["", "Options:"]
        for o in cmd.opts:
            flags = ", ".join(o.names) + ("" if o.kind in ("flag", "flag_on") else f" {o.metavar}")
            lines.append(f"  {flags:<28} {o.help}")
    return "\n".join(lines)
