"""Dockerfile parsing, as BuildKit's dockerfile parser reads a file, without building anything.

`parse` turns the text into stages of instructions (lines, parser directives,
continuations, heredocs, flags) and checks each instruction, reporting every
parse-level mistake as `InvalidArgument("Dockerfile:LINE: reason")` before
anything runs. Variables are *not* expanded here: the executor expands each
argument with `shellwords.expand` (BuildKit's shell lexer, `ProcessWord`)
against the ARG/ENV scope of the step, because that scope is only known while
building. The checks read arguments with the same helpers the executor uses
(`instructions`), so what parses is what builds.

What `Instruction.args` holds, per instruction (all unexpanded, quotes kept):

- RUN, CMD, ENTRYPOINT, SHELL: JSON form (`json=True`): the parsed list;
  shell form: `[rest of the line]` (flags removed, continuations joined).
- COPY, ADD, VOLUME: JSON form: the list; shell form: the words split on
  whitespace (quotes are not grouping: `COPY "a b" /d` is two words, as in
  Docker). A COPY/ADD source word `<<NAME` refers to the heredoc NAME
  (`heredoc_word` recognises one).
- FROM, EXPOSE: the words split on whitespace.
- ENV, LABEL: `KEY=VALUE` words (quote-aware split, quotes kept); the legacy
  form `ENV KEY some value` gives exactly `[KEY, "some value"]` (the rest of
  the line as written). `instructions.key_values` turns either into pairs.
- ARG: the `NAME` / `NAME=default` words (quote-aware split, quotes kept).
- USER, WORKDIR, STOPSIGNAL, MAINTAINER: `[rest of the line]` as one string,
  as Docker does (`WORKDIR /my dir` is the directory "/my dir").
- HEALTHCHECK: `[rest of the line]` ("NONE" or "CMD curl -f ...") in shell
  form; with `CMD [...]` in JSON form, `json=True` and args is the list after
  CMD. Flags (--interval...) are in `flags`.
- ONBUILD: `[the trigger instruction's text]`, as the image config stores it
  (with its heredocs appended, as BuildKit does); the trigger is validated.

Each expansion goes through `shellwords.expand` once per word (Docker's
`ProcessWord`), except EXPOSE, whose words go through `shellwords.expand_words`
(`ProcessWords`: a variable holding "80 443" exposes two ports).
"""
from __future__ import annotations

from corral.builder.instructions import check_mount, key_values, parse_duration
from corral.builder.shellwords import LexError, literal_words
from corral.errors import InvalidArgument

INSTRUCTIONS = frozenset({
    "FROM", "RUN", "CMD", "ENTRYPOINT", "WORKDIR", "ENV", "ARG", "LABEL", "EXPOSE", "USER", "VOLUME",
    "SHELL", "STOPSIGNAL", "HEALTHCHECK", "COPY", "ADD", "MAINTAINER", "ONBUILD",
})
DIRECTIVES = frozenset({"syntax", "escape", "check"})

# flag name -> kind: "bool", "str" (once), "multi" (may repeat)
_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": "str"},
    "COPY": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool", "exclude": "multi"},
    "ADD": {"chown": "str", "chmod": "str", "checksum": "str", "keep-git-dir": "bool", "link": "bool",
            "exclude": "multi"},
    "RUN": {"mount": "multi", "network": "str", "security": "str"},
    "HEALTHCHECK": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_WS = " \t\v\f\r"  # BuildKit's [\t\v\f\r ] word separator
_NETWORKS = ("default", "none", "host")
_SECURITY = ("sandbox", "insecure")


class Heredoc:
    """One `<<NAME` document: its body, whether variables in it expand, whether `<<-` was used.

    `content` is the lines between the instruction and the terminator, each
    with its newline. With `chomp` (`<<-NAME`) leading tabs are already
    stripped from every line, which is what both COPY and a RUN script need
    (and harmless for `RUN cmd <<-NAME`, where the shell strips them again).
    """

    __slots__ = ("name", "content", "expand", "chomp")

    def __init__(self, name: str, content: str = "", expand: bool = True, chomp: bool = False) -> None:
        self.name, self.content, self.expand, self.chomp = name, content, expand, chomp

    def __repr__(self) -> str:
        return f"Heredoc({self.name!r}, {self.content!r}, expand={self.expand}, chomp={self.chomp})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Heredoc) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


class Instruction:
    """One instruction: keyword, arguments as written (see the module docstring), flags, heredocs, origin.

    `flags` maps each leading `--name=value` to its values in order (quotes
    and escapes removed, variables not expanded); boolean flags (--link,
    --parents, --keep-git-dir) hold "true" or "false".
    """

    __slots__ = ("cmd", "args", "json", "flags", "heredocs", "line", "original")

    def __init__(self, cmd: str, args: list[str], json: bool = False, flags: dict[str, list[str]] | None = None,
                 heredocs: list[Heredoc] | None = None, line: int = 0, original: str = "") -> None:
        self.cmd, self.args, self.json = cmd, args, json
        self.flags = flags if flags is not None else {}
        self.heredocs = heredocs if heredocs is not None else []
        self.line, self.original = line, original

    def __repr__(self) -> str:
        extra = f", flags={self.flags!r}" if self.flags else ""
        extra += f", heredocs={self.heredocs!r}" if self.heredocs else ""
        return f"Instruction({self.cmd} {self.args!r}, json={self.json}{extra}, line={self.line})"


class Stage:
    """A FROM and the instructions after it; `base` is FROM's image word unexpanded, `name` lower-cased."""

    __slots__ = ("base", "name", "platform", "instructions", "line", "index")

    def __init__(self, base: str, name: str | None, platform: str | None, line: int, index: int) -> None:
        self.base, self.name, self.platform, self.line, self.index = base, name, platform, line, index
        self.instructions: list[Instruction] = []

    def __repr__(self) -> str:
        return (f"Stage({self.index}: {self.base!r} as {self.name!r}, line={self.line}, "
                f"{len(self.instructions)} instructions)")


class Dockerfile:
    """A parsed Dockerfile: its parser directives, the ARGs before the first FROM, the stages."""

    __slots__ = ("directives", "global_args", "stages", "filename")

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.directives: dict[str, str] = {}
        self.global_args: list[Instruction] = []
        self.stages: list[Stage] = []

    def __repr__(self) -> str:
        return f"Dockerfile({self.filename!r}, {len(self.stages)} stages, directives={self.directives!r})"


# ---------------------------------------------------------------------------------------------------
# the file: lines, directives, comments, continuations, heredocs


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; raise InvalidArgument(f"{filename}:{line}: reason") for anything malformed."""
    return _Parser(text, filename).run()


class _Parser:
    """Reads the file line by line the way BuildKit's parser.Parse does."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.lines = _split_lines(text[1:] if text.startswith("\ufeff") else text)
        self.pos = 0
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.directives_done = False
        self.result = Dockerfile(filename)

    def fail(self, line: int, reason: str) -> InvalidArgument:
        return InvalidArgument(f"{self.filename}:{line}: {reason}")

    def run(self) -> Dockerfile:
        found_any = False
        stage_names: set[str] = set()
        while self.pos < len(self.lines):
            first = _trim_newline(self.lines[self.pos]).lstrip()
            self.pos += 1
            start = self.pos
            self._directive(first, start)
            text, done = _trim_continuation("" if first.startswith("#") else first, self.escape)
            if done and not text:
                continue
            parts = [text]
            while not done and self.pos < len(self.lines):
                raw = _trim_newline(self.lines[self.pos])
                self.pos += 1
                if raw.lstrip().startswith("#") or not raw.strip():
                    continue  # comments and empty lines inside a continued instruction are skipped
                raw, done = _trim_continuation(raw, self.escape)
                parts.append(raw)
            line = "".join(parts)
            ins = self._instruction(line, start)
            found_any = True
            self._add(ins, stage_names)
        if not found_any:
            raise self.fail(max(1, len(self.lines)), "file with no instructions")
        if not self.result.stages:
            raise self.fail(max(1, len(self.lines)), "no build stage: the Dockerfile has no FROM")
        self.result.directives = self.directives
        return self.result

    def _directive(self, line: str, lineno: int) -> None:
        """`# key=value` at the very top, before any instruction, comment or blank line."""
        if self.directives_done:
            return
        if not line.startswith("#"):
            self.directives_done = True
            return
        body = line[1:].lstrip()
        key, eq, value = body.partition("=")
        key, value = key.rstrip(), value.strip()
        if not eq or not value or not _is_directive_name(key) or key.lower() not in DIRECTIVES:
            self.directives_done = True
            return
        key = key.lower()
        if key in self.directives:
            raise self.fail(lineno, f"only one {key} parser directive can be used")
        if key == "escape":
            if value not in ("\\", "`"):
                raise self.fail(lineno, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.directives[key] = value

    def _instruction(self, line: str, lineno: int) -> Instruction:
        ins = _build(line, lineno, self.escape, self.fail)
        inner = _build(ins.args[0], lineno, self.escape, self.fail) if ins.cmd == "ONBUILD" else ins
        if inner.cmd in _HEREDOC_INSTRUCTIONS and not inner.json and "<<" in line:
            for doc in _heredocs_in(line):
                doc.content = self._heredoc_body(doc, lineno)
                ins.heredocs.append(doc)
            if ins.cmd == "ONBUILD" and ins.heredocs:
                ins.args = [ins.args[0] + "".join("\n" + h.content + h.name for h in ins.heredocs)]
        if ins.cmd in ("COPY", "ADD") and heredoc_word(ins.args[-1]) is not None:
            raise self.fail(lineno, f"{ins.cmd} cannot accept a heredoc as a destination")
        return ins

    def _heredoc_body(self, doc: Heredoc, lineno: int) -> str:
        body = []
        while self.pos < len(self.lines):
            raw = self.lines[self.pos]
            self.pos += 1
            candidate = _trim_newline(raw)
            if doc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == doc.name:
                text = "".join(body)
                return _chomp(text) if doc.chomp else text
            body.append(raw)
        raise self.fail(lineno, f"unterminated heredoc {doc.name}")

    def _add(self, ins: Instruction, stage_names: set[str]) -> None:
        result = self.result
        if ins.cmd == "FROM":
            base, name = ins.args[0], (ins.args[2].lower() if len(ins.args) == 3 else None)
            if name is not None:
                if name in stage_names:
                    raise self.fail(ins.line, f'duplicate stage name "{name}"')
                stage_names.add(name)
            platform = ins.flags.get("platform", [None])[-1]
            result.stages.append(Stage(base, name, platform, ins.line, len(result.stages)))
        elif not result.stages:
            if ins.cmd != "ARG":
                raise self.fail(ins.line, f"no build stage in current context: {ins.cmd} before the first FROM "
                                          "(only ARG may come before FROM)")
            result.global_args.append(ins)
        else:
            result.stages[-1].instructions.append(ins)


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on \\n only (as Go's scanner; not on \\r, \\f, \\x1c...)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """(line without a trailing escape char, whether the instruction ends here).

    As BuildKit: the escape char, then only blanks, ends a continued line,
    unless it is itself escaped (`foo \\\\` ends the instruction).
    """
    body = line.rstrip(" \t")
    if not body.endswith(escape):
        return line, True
    if len(body) >= 2 and body[-2] == escape:
        return line, True
    return body[:-1], False


def _is_directive_name(key: str) -> bool:
    return bool(key) and key[0].isascii() and key[0].isalpha() and all(c.isascii() and c.isalnum() for c in key)


def _chomp(text: str) -> str:
    """Leading tabs off every line (lines end at \\n only)."""
    return "\n".join(line.lstrip("\t") for line in text.split("\n"))


def _split_ws(text: str, maxsplit: int = -1) -> list[str]:
    """Split on runs of [ \\t\\v\\f\\r] (not on other Unicode spaces), as BuildKit's reWhitespace."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in _WS:
            i += 1
        if i >= n:
            break
        if maxsplit >= 0 and len(words) == maxsplit:
            words.append(text[i:])
            break
        j = i
        while j < n and text[j] not in _WS:
            j += 1
        words.append(text[i:j])
        i = j
    return words


# ---------------------------------------------------------------------------------------------------
# one instruction: keyword, flags, arguments


def _build(line: str, lineno: int, escape: str, fail) -> Instruction:  # noqa: ANN001
    """Split one logical line into an Instruction and check it; `fail(line, reason)` makes the error."""
    words = _split_ws(line.strip(), 1)
    if not words:
        raise fail(lineno, "empty instruction: a line continuation with nothing after it")
    written = words[0]
    cmd = written.upper()
    if cmd not in INSTRUCTIONS:
        raise fail(lineno, f"unknown instruction: {written}")
    rest, raw_flags = _extract_flags(words[1] if len(words) > 1 else "", escape)
    rest = rest.strip()
    flags = _parse_flags(cmd, raw_flags, lineno, fail) if cmd != "HEALTHCHECK" else {}
    ins = Instruction(cmd, [], flags=flags, line=lineno, original=line)
    check = _CHECKS[cmd]
    check(ins, rest, raw_flags, escape, fail)
    return ins


def _extract_flags(text: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--flag[=value]` words (quotes and escapes removed) and the rest of the line; `--` ends them."""
    flags: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return "", flags
        if not text.startswith("--", i):
            return text[i:], flags
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                    i += 1
                    continue
            elif ch.isspace():
                break
            elif ch in "'\"":
                quote = ch
                i += 1
                continue
            if ch == escape:
                i += 1
                if i >= n:
                    break
                ch = text[i]
            word.append(ch)
            i += 1
        value = "".join(word)
        if value == "--":
            return text[i:].lstrip(), flags
        flags.append(value)


def _parse_flags(cmd: str, raw: list[str], lineno: int, fail) -> dict[str, list[str]]:  # noqa: ANN001
    known = _FLAGS.get(cmd, {})
    flags: dict[str, list[str]] = {}
    for word in raw:
        name, eq, value = word.partition("=")
        kind = known.get(name[2:])
        if kind is None:
            raise fail(lineno, f"unknown flag: {name}" + ("" if known else f" ({cmd} takes no flags)"))
        key = name[2:]
        if key in flags and kind != "multi":
            raise fail(lineno, f"duplicate flag specified: {name}")
        if kind == "bool":
            if eq and not value:
                raise fail(lineno, f"missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise fail(lineno, f"expecting boolean value for flag {name}, not: {value}")
            value = value.lower() or "true"
        elif not eq:
            raise fail(lineno, f"missing a value on flag: {name}")
        flags.setdefault(key, []).append(value)
    return flags


def _parse_json(text: str) -> list[str] | None:
    """The list when `text` is a JSON array of strings, None when it is not JSON (then it is shell form)."""
    text = text.lstrip()
    if not text.startswith("["):
        return None
    import json

    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ValueError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(name)  # Go's JSON has no NaN/Infinity: such text is shell form


def _maybe_json(ins: Instruction, rest: str, fail) -> None:  # noqa: ANN001
    """RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK arguments: a JSON list, else the whole text."""
    try:
        parsed = _parse_json(rest)
    except ValueError as e:
        raise fail(ins.line, str(e)) from None
    if parsed is not None:
        ins.args, ins.json = parsed, True
    else:
        ins.args = [rest] if rest else []


def _maybe_json_list(ins: Instruction, rest: str, fail) -> None:  # noqa: ANN001
    """COPY/ADD/VOLUME arguments: a JSON list, else the whitespace-separated words."""
    _maybe_json(ins, rest, fail)
    if not ins.json:
        ins.args = _split_ws(rest)


def _words(text: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (BuildKit's parseWords)."""
    words: list[str] = []
    word: list[str] = []
    in_word, quote, blank_ok = False, "", False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if not in_word and not quote:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
        elif ch.isspace():
            if blank_ok or word:
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
            i += 1
            continue
        elif ch in "'\"":
            quote, blank_ok = ch, True
        if ch == escape and quote != "'":  # an escape works outside quotes and inside double ones
            if i + 1 == n:
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = text[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _check_from(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    ins.args = _split_ws(rest)
    args = ins.args
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _valid_stage_name(name):
            raise fail(ins.line, f'invalid name for build stage: "{args[2]}", name can\'t start with a number '
                                 "or contain symbols")
    elif len(args) != 1:
        raise fail(ins.line, "FROM requires either one or three arguments (FROM image [AS name])")


def _valid_stage_name(name: str) -> bool:
    return ("a" <= name[:1] <= "z") and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name) \
        and name == name.lower()


def _check_copy(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    _maybe_json_list(ins, rest, fail)
    if len(ins.args) < 2:
        raise fail(ins.line, f"{ins.cmd} requires at least two arguments: a source and a destination")
    chmod = ins.flags.get("chmod", [""])[-1]
    if chmod and "$" not in chmod and chmod.isdecimal() and (set(chmod) - set("01234567") or int(chmod, 8) > 0o7777):
        raise fail(ins.line, f'invalid --chmod value "{chmod}": expected an octal mode such as 755')
    checksum = ins.flags.get("checksum", [""])[-1]
    if checksum and "$" not in checksum and not _valid_digest(checksum):
        raise fail(ins.line, f'invalid --checksum "{checksum}": expected sha256:<64 hex digits>')


def _valid_digest(text: str) -> bool:
    algo, _, hexpart = text.partition(":")
    size = {"sha256": 64, "sha384": 96, "sha512": 128}.get(algo)
    return size is not None and len(hexpart) == size and all(c in "0123456789abcdef" for c in hexpart)


def _check_run(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    _maybe_json(ins, rest, fail)
    if not ins.args:
        raise fail(ins.line, "RUN requires at least one argument")
    network = ins.flags.get("network", ["default"])[-1]
    if network not in _NETWORKS:
        raise fail(ins.line, f'invalid network mode "{network}" (default, none or host)')
    security = ins.flags.get("security", ["sandbox"])[-1]
    if security not in _SECURITY:
        raise fail(ins.line, f'security "{security}" is not valid (sandbox or insecure)')
    for value in ins.flags.get("mount", []):
        try:
            check_mount(value, escape)
        except InvalidArgument as e:
            raise fail(ins.line, f"--mount={value}: {e}") from None


def _check_cmd(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    _maybe_json(ins, rest, fail)
    if not ins.args and not ins.json:
        raise fail(ins.line, f"{ins.cmd} requires at least one argument")


def _check_shell(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    _maybe_json(ins, rest, fail)
    if not ins.args:
        raise fail(ins.line, "SHELL requires at least one argument")
    if not ins.json:
        raise fail(ins.line, 'SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]')


def _check_key_values(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    words = _words(rest, escape)
    if ins.cmd != "ARG" and words and "=" not in words[0]:
        words = _split_ws(rest, 1)  # legacy `ENV KEY value`: the value is the rest of the line as written
        if len(words) < 2:
            raise fail(ins.line, f"{ins.cmd} must have two arguments (KEY=VALUE, or the legacy KEY VALUE)")
    ins.args = words
    try:
        key_values(words, ins.cmd)
    except InvalidArgument as e:
        raise fail(ins.line, str(e)) from None


def _check_expose(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    ins.args = _split_ws(rest)
    if not ins.args:
        raise fail(ins.line, "EXPOSE requires at least one argument")
    for word in ins.args:
        if "$" not in word and not _valid_port(word):
            raise fail(ins.line, f'invalid port "{word}": expected PORT, PORT/PROTO or FIRST-LAST/PROTO '
                                 "(tcp, udp or sctp)")


def _valid_port(word: str) -> bool:
    ports, slash, proto = word.partition("/")
    if slash and proto.lower() not in ("tcp", "udp", "sctp"):
        return False
    first, dash, last = ports.partition("-")
    if not (first.isascii() and first.isdecimal()) or (dash and not (last.isascii() and last.isdecimal())):
        return False
    return int(first) <= 65535 and (not dash or int(first) <= int(last) <= 65535)


def _check_one(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    if not rest:
        raise fail(ins.line, f"{ins.cmd} requires exactly one argument")
    ins.args = [rest]


def _check_volume(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    _maybe_json_list(ins, rest, fail)
    if not ins.args:
        raise fail(ins.line, "VOLUME requires at least one argument")
    if any(not v.strip() for v in ins.args):
        raise fail(ins.line, "VOLUME specified can not be an empty string")


def _check_healthcheck(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    words = _split_ws(rest, 1)
    if not words:
        raise fail(ins.line, "HEALTHCHECK requires at least one argument")
    kind = words[0].upper()
    if kind == "NONE":
        if len(words) > 1:
            raise fail(ins.line, "HEALTHCHECK NONE takes no arguments")
        ins.args = [rest]
        return
    ins.flags = _parse_flags("HEALTHCHECK", raw_flags, ins.line, fail)
    if kind != "CMD":
        raise fail(ins.line, f'Unknown type "{words[0]}" in HEALTHCHECK (try CMD)')
    command = words[1] if len(words) > 1 else ""
    _maybe_json(ins, command, fail)
    if not ins.args:
        raise fail(ins.line, "Missing command after HEALTHCHECK CMD")
    if not ins.json:
        ins.args = [rest]
    for name in ("interval", "timeout", "start-period", "start-interval"):
        for value in ins.flags.get(name, []):
            try:
                ns = parse_duration(value)
            except ValueError:
                raise fail(ins.line, f'invalid duration "{value}" for --{name} (e.g. 30s, 1m30s)') from None
            if 0 < ns < 1_000_000 or ns < 0:
                raise fail(ins.line, f"--{name} cannot be less than 1ms")
    for value in ins.flags.get("retries", []):
        if not value.lstrip("+-").isdecimal():
            raise fail(ins.line, f'invalid value "{value}" for --retries: expected a whole number')
        if int(value) < 0:
            raise fail(ins.line, f"--retries cannot be negative ({value})")


def _check_onbuild(ins: Instruction, rest: str, raw_flags: list[str], escape: str, fail) -> None:  # noqa: ANN001
    if not rest:
        raise fail(ins.line, "ONBUILD requires at least one argument")
    trigger = _split_ws(rest, 1)[0].upper()
    if trigger == "ONBUILD":
        raise fail(ins.line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("FROM", "MAINTAINER"):
        raise fail(ins.line, f"{trigger} isn't allowed as an ONBUILD trigger")
    ins.args = [rest]  # the parser then checks the trigger as an instruction of its own


_CHECKS = {
    "FROM": _check_from, "RUN": _check_run, "CMD": _check_cmd, "ENTRYPOINT": _check_cmd,
    "WORKDIR": _check_one, "USER": _check_one, "STOPSIGNAL": _check_one, "MAINTAINER": _check_one,
    "ENV": _check_key_values, "LABEL": _check_key_values, "ARG": _check_key_values, "EXPOSE": _check_expose,
    "VOLUME": _check_volume, "SHELL": _check_shell, "HEALTHCHECK": _check_healthcheck,
    "COPY": _check_copy, "ADD": _check_copy, "ONBUILD": _check_onbuild,
}


# ---------------------------------------------------------------------------------------------------
# heredoc words


def heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a word like `<<EOF`, `<<-EOF`, `<<'EOF'`, `2<<EOF` introduces, or None (content empty)."""
    i = 0
    while i < len(word) and "0" <= word[i] <= "9":
        i += 1
    if not word.startswith("<<", i):
        return None
    rest = word[i + 2:]
    chomp = rest.startswith("-")
    if chomp:
        rest = rest[1:]
    rest = rest.lstrip(" \t\n\f\r")
    if not rest or "<" in rest:
        return None
    try:
        plain = literal_words(rest)
        raw = literal_words(rest, raw_quotes=True)
    except LexError:
        return None
    if len(plain) != 1 or len(raw) != 1:
        return None
    quoted = (raw[0].count("'") + raw[0].count('"')) != (plain[0].count("'") + plain[0].count('"'))
    return Heredoc(plain[0], "", expand=not quoted, chomp=chomp)


def _heredocs_in(line: str) -> list[Heredoc]:
    """The heredocs a RUN/COPY/ADD line opens, in order (BuildKit lexes the whole line, quotes kept)."""
    try:
        words = literal_words(line, raw_quotes=True, raw_escapes=True)
    except LexError:
        return []
    return [doc for doc in map(heredoc_word, words) if doc is not None]
