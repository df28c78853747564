"""Go text/template, the subset docker users write in `--format`: our own lexer, parser and evaluator.

`docker inspect -f '{{.State.Status}}'` and `docker ps --format '{{.Names}}'` are typed from memory
and pasted from scripts, so the language, its output and its error messages follow Go's
text/template (and the functions docker adds: json, split, join, title, lower, upper, pad,
truncate). There is no well-kept Python library for it, so this one is ours (ARCHITECTURE.md).
Data is plain Python: dicts are Go maps (a missing key is `<no value>`), lists are slices, and
other objects show their public attributes; a callable found as a field is a method, called with
the action's arguments. Values print as Go's fmt prints them: `map[a:b]`, `[a b]`, `<nil>`.

Imported only when a command is given --format; it imports no `re` and nothing heavy at import.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


class TemplateError(InvalidArgument):
    """A template that does not parse or cannot run on its data; the message is Go's, which docker
    prints after "template parsing error: " with nothing before it (bare)."""

    bare = True


class _Missing:
    """Go's invalid value: what a map gives for a key it lacks; prints `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()

_SPACE = " \t\r\n"
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"}


def _alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


def _unicode_name(c: str) -> str:
    """A character as Go's %#U shows it: U+002D '-'."""
    return f"U+{ord(c):04X} '{c}'" if c.isprintable() else f"U+{ord(c):04X}"


# ------------------------------------------------------------------------------------------ lexer

class _Token:
    __slots__ = ("kind", "val", "pos", "line")

    def __init__(self, kind: str, val: str, pos: int, line: int) -> None:
        self.kind, self.val, self.pos, self.line = kind, val, pos, line

    def __str__(self) -> str:
        """As Go's parser names a token in "unexpected X in Y"."""
        if self.kind == "eof":
            return "EOF"
        if self.kind == "error":
            return self.val
        if self.kind == "keyword":
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


def _lex(text: str) -> list[_Token]:
    """The tokens of a template; a lexical error ends the list with an "error" token, as Go's lexer."""
    toks: list[_Token] = []
    pos, n = 0, len(text)

    def line_at(p: int) -> int:
        return 1 + text.count("\n", 0, p)

    def emit(kind: str, start: int, end: int) -> None:
        toks.append(_Token(kind, text[start:end], start, line_at(start)))

    def error(msg: str, at: int) -> list[_Token]:
        toks.append(_Token("error", msg, at, line_at(at)))
        return toks

    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < n:
                emit("text", pos, n)
            toks.append(_Token("eof", "", n, line_at(n)))
            return toks
        trim = text.startswith("-", start + 2) and start + 3 < n and text[start + 3] in _SPACE
        end = start
        if trim:
            while end > pos and text[end - 1] in _SPACE:
                end -= 1
        if end > pos:
            emit("text", pos, end)
        pos = start + 2 + (2 if trim else 0)
        if text.startswith("/*", pos):  # a comment: {{/* … */}}, which must end at the delimiter
            close = text.find("*/", pos + 2)
            if close < 0:
                return error("unclosed comment", pos)
            pos = close + 2
            if len(text) > pos + 1 and text[pos] in _SPACE and text.startswith("-}}", pos + 1):
                pos += 4
                while pos < n and text[pos] in _SPACE:
                    pos += 1
            elif text.startswith("}}", pos):
                pos += 2
            else:
                return error("comment ends before closing delimiter", pos)
            continue
        toks.append(_Token("left", "{{", start, line_at(start)))
        depth = 0
        while True:  # inside the action
            if pos >= n:
                return error("unclosed action", pos)
            c = text[pos]
            right_trim = c in _SPACE and text.startswith("-}}", pos + 1)
            if right_trim or text.startswith("}}", pos):
                if depth:
                    return error("unclosed left paren", pos)
                emit("right", pos + (2 if right_trim else 0), pos + (4 if right_trim else 2))
                pos += 4 if right_trim else 2
                if right_trim:
                    while pos < n and text[pos] in _SPACE:
                        pos += 1
                break
            s = pos
            if c in _SPACE:
                while pos < n and text[pos] in _SPACE and not text.startswith("-}}", pos + 1):
                    pos += 1
                emit("space", s, pos)
            elif c == "=":
                pos += 1
                emit("assign", s, pos)
            elif c == ":":
                if not text.startswith(":=", pos):
                    return error("expected :=", pos)
                pos += 2
                emit("declare", s, pos)
            elif c == "|":
                pos += 1
                emit("pipe", s, pos)
            elif c == '"':
                pos += 1
                while True:
                    if pos >= n or text[pos] == "\n":
                        return error("unterminated quoted string", pos)
                    if text[pos] == "\\" and pos + 1 < n and text[pos + 1] != "\n":
                        pos += 2
                        continue
                    pos += 1
                    if text[pos - 1] == '"':
                        break
                emit("string", s, pos)
            elif c == "`":
                close = text.find("`", pos + 1)
                if close < 0:
                    return error("unterminated raw quoted string", pos)
                pos = close + 1
                emit("rawstring", s, pos)
            elif c == "'":
                pos += 1
                while True:
                    if pos >= n or text[pos] == "\n":
                        return error("unterminated character constant", pos)
                    if text[pos] == "\\" and pos + 1 < n:
                        pos += 2
                        continue
                    pos += 1
                    if text[pos - 1] == "'":
                        break
                emit("charconst", s, pos)
            elif c == "$" or (c == "." and not (pos + 1 < n and text[pos + 1].isdecimal())):
                pos += 1
                while pos < n and _alnum(text[pos]):
                    pos += 1
                if not _at_terminator(text, pos):
                    return error(f"bad character {_unicode_name(text[pos])}", pos)
                kind = "variable" if c == "$" else ("field" if pos > s + 1 else "dot")
                emit(kind, s, pos)
            elif c in "+-." or c.isdecimal():
                pos = _scan_number(text, pos)
                if pos < 0:
                    return error(f"bad number syntax: {_go_quote(text[s:-pos])}", s)
                emit("number", s, pos)
            elif _alnum(c):
                while pos < n and _alnum(text[pos]):
                    pos += 1
                if not _at_terminator(text, pos):
                    return error(f"bad character {_unicode_name(text[pos])}", pos)
                word = text[s:pos]
                emit("keyword" if word in _KEYWORDS and word != "nil" else
                     "bool" if word in ("true", "false") else "nil" if word == "nil" else "identifier", s, pos)
            elif c == "(":
                depth += 1
                pos += 1
                emit("lparen", s, pos)
            elif c == ")":
                depth -= 1
                pos += 1
                if depth < 0:
                    return error(f"unexpected right paren {_unicode_name(c)}", s)
                emit("rparen", s, pos)
            elif c.isascii() and c.isprintable():
                pos += 1
                emit("char", s, pos) if c == "," else emit("punct", s, pos)
            else:
                return error(f"unrecognized character in action: {_unicode_name(c)}", pos)


def _at_terminator(text: str, pos: int) -> bool:
    """Whether what follows a word may end it (Go's atTerminator)."""
    if pos >= len(text):
        return True
    c = text[pos]
    return c in _SPACE or c in ".,|:()" or text.startswith("}}", pos)


def _scan_number(text: str, pos: int) -> int:
    """The end of the number at pos, or minus the end of the bad syntax read (Go's scanNumber)."""
    n = len(text)

    def accept(chars: str) -> bool:
        nonlocal pos
        if pos < n and text[pos] in chars:
            pos += 1
            return True
        return False

    def run(chars: str) -> None:
        while accept(chars):
            pass

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    run(digits)
    if accept("."):
        run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        run("0123456789_")
    if pos < n and _alnum(text[pos]):
        return -(pos + 1)
    return pos


# ------------------------------------------------------------------------------------------ nodes

class _Node:
    __slots__ = ("pos",)


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        self.pos, self.text = pos, text


class _Field(_Node):
    """.A.B (names), or $x.A.B when var is set."""
    __slots__ = ("names", "var")

    def __init__(self, pos: int, names: list[str], var: str | None = None) -> None:
        self.pos, self.names, self.var = pos, names, var

    def __str__(self) -> str:
        return (self.var or "") + "".join("." + n for n in self.names)


class _Chain(_Node):
    """(pipeline).A.B"""
    __slots__ = ("node", "names")

    def __init__(self, pos: int, node: _Node, names: list[str]) -> None:
        self.pos, self.node, self.names = pos, node, names

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return inner + "".join("." + n for n in self.names)


class _Ident(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        self.pos, self.name = pos, name

    def __str__(self) -> str:
        return self.name


class _Literal(_Node):
    """A constant: a string, number, bool, nil or dot, with the text it was written as."""
    __slots__ = ("kind", "value", "text")

    def __init__(self, pos: int, kind: str, value: object, text: str) -> None:
        self.pos, self.kind, self.value, self.text = pos, kind, value, text

    def __str__(self) -> str:
        return self.text


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        self.pos, self.args = pos, []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Pipe(_Node):
    __slots__ = ("decl", "assign", "cmds", "line")

    def __init__(self, pos: int, line: int) -> None:
        self.pos, self.line, self.decl, self.assign, self.cmds = pos, line, [], False, []

    def __str__(self) -> str:
        head = ", ".join(self.decl) + (" = " if self.assign else " := ") if self.decl else ""
        return head + " | ".join(str(c) for c in self.cmds)


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: _Pipe) -> None:
        self.pos, self.pipe = pos, pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _Control(_Node):
    """if, range or with: a pipeline, its list, and the list after {{else}} (or None)."""
    __slots__ = ("kind", "pipe", "body", "orelse")

    def __init__(self, kind: str, pipe: _Pipe, body: list, orelse: list | None) -> None:
        self.pos, self.kind, self.pipe, self.body, self.orelse = pipe.pos, kind, pipe, body, orelse

    def __str__(self) -> str:
        orelse = "" if self.orelse is None else "{{else}}" + _list_str(self.orelse)
        return "{{" + self.kind + " " + str(self.pipe) + "}}" + _list_str(self.body) + orelse + "{{end}}"


def _list_str(nodes: list) -> str:
    return "".join(n.text if isinstance(n, _Text) else str(n) for n in nodes)


class _Jump(_Node):
    """{{break}} or {{continue}} inside a range."""
    __slots__ = ("kind",)

    def __init__(self, pos: int, kind: str) -> None:
        self.pos, self.kind = pos, kind

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


class _End(_Node):
    __slots__ = ("kind",)

    def __init__(self, pos: int, kind: str) -> None:
        self.pos, self.kind = pos, kind

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


# ------------------------------------------------------------------------------------------ parser

class _Parser:
    """Go's text/template/parse, for one template named "" (docker's)."""

    def __init__(self, text: str, funcs: dict) -> None:
        self.toks = _lex(text)
        self.i = 0
        self.funcs = funcs
        self.vars = ["$"]
        self.range_depth = 0
        self.line = 1

    # tokens
    def next(self) -> _Token:
        tok = self.toks[min(self.i, len(self.toks) - 1)]  # the last token (EOF or an error) repeats
        self.i += 1
        self.line = tok.line
        return tok

    def peek(self) -> _Token:
        return self.toks[min(self.i, len(self.toks) - 1)]

    def backup(self, count: int = 1) -> None:
        self.i -= count

    def next_non_space(self) -> _Token:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> _Token:
        tok = self.next_non_space()
        self.backup()
        return tok

    def error(self, msg: str) -> TemplateError:
        return TemplateError(f"template: :{self.line}: {msg}")

    def unexpected(self, tok: _Token, context: str) -> TemplateError:
        if tok.kind == "error":
            return self.error(tok.val)
        return self.error(f"unexpected {tok} in {context}")

    # structure
    def parse(self) -> list:
        root: list = []
        while self.peek().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _End):
                raise self.error(f"unexpected {node}")
            root.append(node)
        return root

    def item_list(self) -> tuple[list, _End]:
        nodes: list = []
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _End):
                return nodes, node
            nodes.append(node)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> _Node:
        tok = self.next_non_space()
        if tok.kind == "text":
            return _Text(tok.pos, tok.val)
        if tok.kind == "left":
            return self.action()
        raise self.unexpected(tok, "input")

    def action(self) -> _Node:
        tok = self.next_non_space()
        if tok.kind == "keyword":
            word = tok.val
            if word in ("if", "range", "with"):
                return self.control(word)
            if word == "else":
                peek = self.peek_non_space()
                if peek.kind == "keyword" and peek.val in ("if", "with"):
                    return _End(peek.pos, "else")
                self.expect("right", "else")
                return _End(tok.pos, "else")
            if word == "end":
                self.expect("right", "end")
                return _End(tok.pos, "end")
            if word in ("break", "continue"):
                self.expect("right", word)
                if not self.range_depth:
                    raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}")
                return _Jump(tok.pos, word)
            raise self.error(f"{{{{{word}}}}} is not supported in corral's templates")
        self.backup()
        start = self.peek()
        return _Action(start.pos, self.pipeline("command", "right"))

    def expect(self, kind: str, context: str) -> _Token:
        tok = self.next_non_space()
        if tok.kind != kind:
            raise self.unexpected(tok, context)
        return tok

    def control(self, kind: str) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "right")
        self.range_depth += kind == "range"
        body, end = self.item_list()
        self.range_depth -= kind == "range"
        orelse = None
        if end.kind == "else":
            peek = self.peek_non_space()
            if kind in ("if", "with") and peek.kind == "keyword" and peek.val == kind:
                self.next_non_space()
                orelse = [self.control(kind)]
            else:
                orelse, end = self.item_list()
                if end.kind != "end":
                    raise self.error(f"expected end; found {end}")
        del self.vars[mark:]
        return _Control(kind, pipe, body, orelse)

    def pipeline(self, context: str, end: str) -> _Pipe:
        first = self.peek_non_space()
        pipe = _Pipe(first.pos, first.line)
        while True:  # declarations: $x :=, $i, $v :=, $x =
            v = self.peek_non_space()
            if v.kind != "variable":
                break
            save = self.i
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.kind in ("assign", "declare"):
                pipe.assign = nxt.kind == "assign"
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                break
            if nxt.kind == "char" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("variable", "right", "rparen"):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            self.i = save  # not a declaration: the variable is an operand
            break
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                if not pipe.cmds:
                    raise self.error(f"missing value for {context}")
                for i, cmd in enumerate(pipe.cmds[1:]):
                    if isinstance(cmd.args[0], _Literal):
                        raise self.error(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if tok.kind in ("bool", "charconst", "dot", "field", "identifier", "number", "nil", "rawstring", "string",
                            "variable", "lparen"):
                self.backup()
                pipe.cmds.append(self.command())
                continue
            raise self.unexpected(tok, context)

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("right", "rparen"):
                self.backup()
            elif tok.kind != "pipe":
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        pos = self.peek().pos
        names = []
        while self.peek().kind == "field":
            names.append(self.next().val[1:])
        if isinstance(node, _Field):
            return _Field(pos, node.names + names, node.var)
        if isinstance(node, _Literal):
            raise self.error(f"unexpected . after term {_go_quote(str(node))}")
        return _Chain(pos, node, names)

    def term(self) -> _Node | None:
        tok = self.next_non_space()
        kind, val = tok.kind, tok.val
        if kind == "identifier":
            if val not in self.funcs:
                raise self.error(f"function {_go_quote(val)} not defined")
            return _Ident(tok.pos, val)
        if kind == "dot":
            return _Literal(tok.pos, "dot", None, ".")
        if kind == "nil":
            return _Literal(tok.pos, "nil", None, "nil")
        if kind == "variable":
            if val not in self.vars:
                raise self.error(f"undefined variable {_go_quote(val)}")
            return _Field(tok.pos, [], val)
        if kind == "field":
            return _Field(tok.pos, [val[1:]])
        if kind == "bool":
            return _Literal(tok.pos, "bool", val == "true", val)
        if kind in ("number", "charconst"):
            return _Literal(tok.pos, "number", self.number(val), val)
        if kind == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if kind in ("string", "rawstring"):
            try:
                return _Literal(tok.pos, "string", _unquote(val), val)
            except ValueError:
                raise self.error("invalid syntax") from None
        self.backup()
        return None

    def number(self, text: str) -> int | float:
        """A number constant's value: an int when the text is an integer (or a character), else a float."""
        if text.startswith("'"):
            try:
                value = _unquote('"' + text[1:-1] + '"') if text[1:-1] != '"' else '"'
            except ValueError:
                raise self.error(f"malformed character constant: {text}") from None
            if len(value) != 1:
                raise self.error(f"malformed character constant: {text}")
            return ord(value)
        clean = text.replace("_", "")
        body = clean.lstrip("+-")
        sign = -1 if clean.startswith("-") else 1
        try:
            if len(body) > 1 and body[0] == "0" and body[1].isdecimal() and body.isdecimal():
                return sign * int(body, 8)
            return sign * int(body, 0)
        except ValueError:
            pass
        try:
            if body[:2].lower() == "0x":
                value = float.fromhex(clean)
            else:
                value = float(clean)
        except ValueError:
            raise self.error(f"illegal number syntax: {_go_quote(text)}") from None
        if value.is_integer() and not any(c in text for c in ".eEpP"):
            return int(value)
        return value


def _unquote(text: str) -> str:
    """Go's strconv.Unquote for "…" and `…` literals; ValueError on bad syntax."""
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    body, out, i = text[1:-1], [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e in "xuU" and e:
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(text)
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif e and e in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError(text)
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(text)
    return "".join(out)


def _go_quote(s: str) -> str:
    """Go's %q of a string."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif not c.isprintable():
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x80 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


# ------------------------------------------------------------------------------------------ values

def go_type(v: object) -> str:
    """The Go type a value would have in docker's data (JSON decoded into interface{})."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "[]string" if v and all(isinstance(x, str) for x in v) else "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def go_float(f: float) -> str:
    """fmt's %v of a float64: the shortest digits, in exponent form below 1e-4 or from 1e6 (1e+06)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    mantissa, _, exp = repr(abs(f)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0)  # the decimal point's place after the digits' start, before stripping
    point -= len(whole + frac) - len((whole + frac).lstrip("0"))
    frac_digits = digits.rstrip("0") or "0"
    sign = "-" if f < 0 or (f == 0 and str(f).startswith("-")) else ""
    if f == 0:
        return sign + "0"
    x = point - 1  # the exponent in d.ddd form
    if x < -4 or x >= 6:
        rest = frac_digits[1:]
        return f"{sign}{frac_digits[0]}{'.' + rest if rest else ''}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{frac_digits}"
    if point >= len(frac_digits):
        return sign + frac_digits + "0" * (point - len(frac_digits))
    return f"{sign}{frac_digits[:point]}.{frac_digits[point:]}"


def go_string(v: object) -> str:
    """fmt's %v of a value, as the template prints it: map[k:v], [a b], <nil>, true."""
    if isinstance(v, str):
        return v
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_string(k)}:{go_string(v[k])}" for k in _sorted_keys(v)) + "]"
    return str(v)


def _sorted_keys(d: dict) -> list:
    """Map keys in Go's printing and ranging order (fmtsort): numbers by value, strings by bytes."""
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def truth(v: object) -> bool:
    """Go's truth for if/with/and/or/not: the zero value of its type is false, nil and missing too."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


def to_json(v: object) -> str:
    """docker's `json` function: Go's encoding/json, compact, keys sorted, no HTML escaping."""
    import json

    return json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _jsonable(v: object) -> object:
    if v is MISSING:
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    if isinstance(v, dict):
        found = {}
        for k, x in v.items():
            if callable(x):
                x = x()
            found[str(k)] = _jsonable(x)
        return found
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return {k: _jsonable(x) for k, x in vars(v).items() if not k.startswith("_")}


# ------------------------------------------------------------------------------------------ functions

class _CallError(Exception):
    """What a function returns as its error: reported as "error calling NAME: MESSAGE"."""


def _print(*args: object) -> str:
    """fmt.Sprint: a space between two operands when neither is a string; nil prints as no value."""
    args = tuple("<no value>" if a is None else a for a in args)
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_string(a))
    return "".join(out)


def _println(*args: object) -> str:
    args = tuple("<no value>" if a is None else a for a in args)
    return " ".join(go_string(a) for a in args) + "\n"


def _printf(fmt: str, *args: object) -> str:
    """fmt.Sprintf for the verbs templates use: %v %s %d %q %t %f %e %g %x %X %o %b %c %%, with flags,
    width and precision; Go's %!verb(type=value) marks for a wrong or missing operand."""
    out: list[str] = []
    i, n, argi = 0, len(fmt), 0
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        i += 1
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width = ""
        while i < n and fmt[i].isdecimal():
            width += fmt[i]
            i += 1
        prec = None
        if i < n and fmt[i] == ".":
            i += 1
            prec = ""
            while i < n and fmt[i].isdecimal():
                prec += fmt[i]
                i += 1
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_pad(_format_one(verb, arg, flags, int(prec) if prec else (0 if prec == "" else None)),
                        int(width) if width else 0, flags, verb))
    if argi < len(args):
        extra = ", ".join(f"{go_type(a)}={go_string(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(text: str, width: int, flags: str, verb: str) -> str:
    if len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and verb in "dfeEgGxXob":
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign):].rjust(width - len(sign), "0")
    return text.rjust(width)


def _format_one(verb: str, arg: object, flags: str, prec: int | None) -> str:
    bad = f"%!{verb}(<nil>)" if arg is None else f"%!{verb}({go_type(arg)}={go_string(arg)})"
    number = isinstance(arg, (int, float)) and not isinstance(arg, bool)
    if verb == "v":
        return go_string(arg)
    if verb == "s":
        text = go_string(arg) if isinstance(arg, (str, list, tuple, dict)) else None
        if text is None:
            return bad
        return text[:prec] if prec is not None else text
    if verb == "q":
        return _go_quote(arg) if isinstance(arg, str) else (f"'{chr(arg)}'" if isinstance(arg, int) else bad)
    if verb == "t":
        return go_string(arg) if isinstance(arg, bool) else bad
    if verb in "dxXobc":
        if isinstance(arg, str) and verb in "xX":
            text = arg.encode().hex()
            return text.upper() if verb == "X" else text
        if not isinstance(arg, int) or isinstance(arg, bool):
            return bad
        if verb == "c":
            return chr(arg)
        text = {"d": str, "x": lambda v: format(v, "x"), "X": lambda v: format(v, "X"),
                "o": lambda v: format(v, "o"), "b": lambda v: format(v, "b")}[verb](abs(arg))
        sign = "-" if arg < 0 else ("+" if "+" in flags else "")
        return sign + text
    if verb in "feEgG":
        if not number:
            return bad
        f = float(arg)
        if verb in "gG" and prec is None:
            text = go_float(f)
        else:
            text = format(f, f"{'+' if '+' in flags else ''}.{6 if prec is None else prec}{verb}")
        return text
    return bad


def _eq(a: object, *others: object) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    ka = _kind(a)
    for b in others:
        kb = _kind(b)
        if ka != kb:
            if ka != "nil" and kb != "nil":
                raise _CallError("incompatible types for comparison")
            continue
        if ka == "other":
            raise _CallError(f"non-comparable type {go_string(b)}: {go_type(b)}")
        if a == b or ka == "nil":
            return True
    return False


def _kind(v: object) -> str:
    """Go's basicKind for comparisons: bool, int, float, string; nil for nil and missing values."""
    if v is None or v is MISSING:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def _lt(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in ("nil", "other") or kb in ("nil", "other"):
        raise _CallError("invalid type for comparison")
    if ka != kb:
        raise _CallError("incompatible types for comparison")
    if ka == "bool":
        raise _CallError("invalid type for comparison")
    return a < b  # type: ignore[operator]


def _le(a: object, b: object) -> bool:
    return _lt(a, b) or _eq(a, b)


def _len(v: object) -> int:
    if v is MISSING:
        raise _CallError("reflect: call of reflect.Value.Type on zero Value")
    if v is None:
        raise _CallError("len of nil pointer")
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple, dict)):
        return len(v)
    raise _CallError(f"len of type {go_type(v)}")


def _index(item: object, *keys: object) -> object:
    if item is None or item is MISSING:
        raise _CallError("index of untyped nil")
    for key in keys:
        if isinstance(item, (list, tuple, str)):
            if key is None or key is MISSING:
                raise _CallError("cannot index slice/array with nil")
            if not isinstance(key, int) or isinstance(key, bool):
                raise _CallError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item):
                raise _CallError(f"index out of range: {key}")
            item = item[key].encode()[0] if isinstance(item, str) else item[key]
        elif isinstance(item, dict):
            if not isinstance(key, str):
                raise _CallError(f"value has type {go_type(key)}; should be string")
            if key in item:
                item = item[key]
            else:  # Go's zero value of the map's element type: "" for a map of strings (labels)
                item = "" if all(isinstance(x, str) for x in item.values()) else None
        elif item is None:
            raise _CallError("index of nil pointer")
        else:
            raise _CallError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: object, *bounds: object) -> object:
    if not isinstance(item, (str, list, tuple)):
        raise _CallError(f"can't slice item of type {go_type(item)}")
    if len(bounds) > 2 + (not isinstance(item, str)):
        raise _CallError("too many slice indexes: " + str(len(bounds)))
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) > 1 else len(item)
    for b in (lo, hi):
        if not isinstance(b, int):
            raise _CallError(f"cannot index slice/array with type {go_type(b)}")
    if not 0 <= lo <= hi <= len(item):  # type: ignore[operator]
        raise _CallError(f"invalid slice index: {lo} > {hi}" if lo > hi else f"index out of range: {hi}")
    return item[lo:hi]  # type: ignore[misc]


def _html(*args: object) -> str:
    text = args[0] if len(args) == 1 and isinstance(args[0], str) else _print(*args)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;").replace("\0", "\uFFFD"))


def _js(*args: object) -> str:
    text = args[0] if len(args) == 1 and isinstance(args[0], str) else _print(*args)
    out = []
    for c in text:
        if c in "\\'\"":
            out.append("\\" + c)
        elif c in "<>&=":
            out.append(f"\\u{ord(c):04X}")
        elif c < " ":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _urlquery(*args: object) -> str:
    from urllib.parse import quote_plus

    return quote_plus(args[0] if len(args) == 1 and isinstance(args[0], str) else _print(*args))


def _call(fn: object, *args: object) -> object:
    if not callable(fn):
        raise _CallError(f"non-function of type {go_type(fn)}")
    return fn(*args)


def _title(s: str) -> str:
    """strings.Title: the first letter of each word upper case."""
    out, prev = [], " "
    for c in s:
        out.append(c.upper() if not (_alnum(prev) or prev == "'") and c.isalpha() else c)
        prev = c
    return "".join(out)


def _pad_with_space(s: str, prefix: int, suffix: int) -> str:
    return s if not s else " " * prefix + s + " " * suffix


def _truncate(s: str, length: int) -> str:
    return s if len(s) < length else s[:length]


def _split(s: str, sep: str) -> list[str]:
    if sep == "":
        return list(s)
    return s.split(sep)


# name: (function, parameter kinds, variadic kind or None). Kinds: "any" (interface{}: missing is nil),
# "value" (reflect.Value: missing stays missing), "string", "int", "[]string".
FUNCS: dict[str, tuple[Callable, tuple[str, ...], str | None]] = {
    "and": (None, ("value",), "value"), "or": (None, ("value",), "value"),  # short-circuit, in _call_func
    "not": (lambda v: not truth(v), ("value",), None),
    "len": (_len, ("value",), None),
    "index": (_index, ("value",), "value"),
    "slice": (_slice, ("value",), "value"),
    "print": (_print, (), "any"), "println": (_println, (), "any"), "printf": (_printf, ("string",), "any"),
    "html": (_html, (), "any"), "js": (_js, (), "any"), "urlquery": (_urlquery, (), "any"),
    "call": (_call, ("value",), "value"),
    "eq": (_eq, ("value",), "value"), "ne": (lambda a, b: not _eq(a, b), ("value", "value"), None),
    "lt": (_lt, ("value", "value"), None), "le": (_le, ("value", "value"), None),
    "gt": (lambda a, b: not _le(a, b), ("value", "value"), None),
    "ge": (lambda a, b: not _lt(a, b), ("value", "value"), None),
    # docker's
    "json": (to_json, ("any",), None),
    "split": (_split, ("string", "string"), None),
    "join": (lambda items, sep: sep.join(items or ()), ("[]string", "string"), None),
    "title": (_title, ("string",), None),
    "lower": (str.lower, ("string",), None),
    "upper": (str.upper, ("string",), None),
    "pad": (_pad_with_space, ("string", "int", "int"), None),
    "truncate": (_truncate, ("string", "int"), None),
}

# docker's header functions: what the table header is rendered with, each function giving back its text
HEADER_FUNCS: dict[str, tuple[Callable, tuple[str, ...], str | None]] = dict(FUNCS, **{
    "json": (lambda v: v, ("string",), None), "split": (lambda v, _: v, ("string", "string"), None),
    "join": (lambda v, _: v, ("string", "string"), None), "title": (lambda v: v, ("string",), None),
    "lower": (lambda v: v, ("string",), None), "upper": (lambda v: v, ("string",), None),
    "truncate": (lambda v, _: v, ("string", "int"), None), "pad": (lambda v, a, b: v, ("string", "int", "int"), None),
})


# ------------------------------------------------------------------------------------------ execution

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, text: str, funcs: dict, data: object) -> None:
        self.text = text
        self.funcs = funcs
        self.vars: list[list] = [["$", data]]
        self.out: list[str] = []
        self.node: _Node | None = None

    def error(self, msg: str) -> TemplateError:
        node = self.node
        if node is None:
            return TemplateError(f"template: : {msg}")
        before = self.text[:node.pos]
        nl = before.rfind("\n")
        col = node.pos if nl < 0 else node.pos - nl - 1
        line = 1 + before.count("\n")
        return TemplateError(f'template: :{line}:{col}: executing "" at <{node}>: {msg}')

    def var(self, name: str) -> object:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.error(f"undefined variable: {name}")

    # walking
    def walk(self, dot: object, nodes: list) -> None:
        for node in nodes:
            self.node = node
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.node = node
                    self.out.append(go_string(value))
            elif isinstance(node, _Control):
                self.control(dot, node)
            elif isinstance(node, _Jump):
                raise _Break() if node.kind == "break" else _Continue()

    def control(self, dot: object, node: _Control) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            if node.kind == "range":
                self.range(dot, node, value)
            elif truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark:]

    def range(self, dot: object, node: _Control, value: object) -> None:
        decl = node.pipe.decl
        if isinstance(value, dict):
            items = [(k, value[k]) for k in _sorted_keys(value)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(decl) > 1:
                self.node = node
                raise self.error(f"can't use {value} to iterate over more than one variable")
            items = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            items = []
        else:
            self.node = node
            raise self.error(f"range can't iterate over {go_string(value)}")
        mark = len(self.vars)
        for key, elem in items:
            if decl:
                self.vars[mark - 1][1] = elem
            if len(decl) > 1:
                self.vars[mark - 2][1] = key
            try:
                self.walk(elem, node.body)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del self.vars[mark:]
        if not items and node.orelse is not None:
            self.walk(dot, node.orelse)

    # evaluation
    def pipeline(self, dot: object, pipe: _Pipe) -> object:
        self.node = pipe
        value: object = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.assign:
                for entry in reversed(self.vars):
                    if entry[0] == name:
                        entry[1] = value
                        break
                else:
                    raise self.error(f"undefined variable: {name}")
            else:
                self.vars.append([name, value])
        return value

    def command(self, dot: object, cmd: _Command, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, _Field):
            return self.field(dot, first, cmd.args, final)
        if isinstance(first, _Chain):
            self.node = first
            return self.chain(dot, self.arg(dot, "any", first.node, plain=True), first, first.names, cmd.args, final)
        if isinstance(first, _Ident):
            return self.function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, _Literal):
            if first.kind == "dot":
                return dot
            if first.kind == "nil":
                raise self.error("nil is not a command")
            return first.value
        raise self.error(f"can't evaluate command {_go_quote(str(first))}")

    def not_a_function(self, args: list, final: object) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.error(f"can't give argument to non-function {args[0]}")

    def field(self, dot: object, node: _Field, args: list, final: object) -> object:
        self.node = node
        if node.var is not None:
            value = self.var(node.var)
            if not node.names:
                self.not_a_function(args, final)
                return value
            return self.chain(dot, value, node, node.names, args, final)
        return self.chain(dot, dot, node, node.names, args, final)

    def chain(self, dot: object, receiver: object, node: _Node, names: list[str], args: list,
              final: object) -> object:
        iface = False  # whether the receiver came out of a map or slice (Go's interface {})
        for i, name in enumerate(names):
            last = i == len(names) - 1
            nxt = self.lookup(dot, receiver, name, node, args if last else [node], final if last else _NO_FINAL,
                              iface)
            iface = isinstance(receiver, dict)
            receiver = nxt
        return receiver

    def lookup(self, dot: object, receiver: object, name: str, node: _Node, args: list, final: object,
               iface: bool) -> object:
        """Go's evalField: a method, a map's key or an object's attribute of receiver."""
        if receiver is MISSING:
            return MISSING
        typ = "interface {}" if iface else go_type(receiver)
        if receiver is None:
            raise self.error(f"nil pointer evaluating {typ}.{name}")
        has_args = len(args) > 1 or final is not _NO_FINAL
        if isinstance(receiver, dict):
            if type(receiver) is not dict and not name.startswith("_") and not hasattr(dict, name):
                method = getattr(receiver, name, None)  # a method of a dict subclass, found first as in Go
                if callable(method):
                    return self.call(dot, method, node, name, args, final, None)
            value = receiver.get(name, MISSING)
            if callable(value):  # a lazy field, or a method kept in the map
                return self.call(dot, value, node, name, args, final, None)
            if has_args:
                raise self.error(f"{name} is not a method but has arguments")
            return value
        if not isinstance(receiver, (list, tuple, str, int, float, bool)) and not name.startswith("_"):
            value = getattr(receiver, name, MISSING)
            if value is not MISSING:
                if callable(value):
                    return self.call(dot, value, node, name, args, final, None)
                if has_args:
                    raise self.error(f"{name} has arguments but cannot be invoked as function")
                return value
        raise self.error(f"can't evaluate field {name} in type {typ}")

    def function(self, dot: object, ident: _Ident, cmd: _Node, args: list, final: object) -> object:
        self.node = ident
        fn, params, variadic = self.funcs[ident.name]
        if ident.name in ("and", "or"):
            return self.and_or(dot, ident.name, args, final)
        return self.call(dot, fn, cmd, ident.name, args, final, (params, variadic))

    def and_or(self, dot: object, name: str, args: list, final: object) -> object:
        given = args[1:]
        if not given and final is _NO_FINAL:
            raise self.error(f"wrong number of args for {name}: want at least 1 got 0")
        value: object = MISSING
        for arg in given:
            value = self.arg(dot, "value", arg)
            if truth(value) == (name == "or"):
                return value
        if final is not _NO_FINAL:
            value = final
        return value

    def call(self, dot: object, fn: Callable, node: _Node, name: str, args: list, final: object,
             signature: tuple[tuple[str, ...], str | None] | None) -> object:
        """Call a template function (with its signature) or a data method (any arguments)."""
        given = args[1:]
        count = len(given) + (final is not _NO_FINAL)
        if signature is None:
            kinds = ["any"] * count
        else:
            params, variadic = signature
            if variadic is not None:
                if count < len(params):
                    raise self.error(f"wrong number of args for {name}: want at least {len(params)} got {len(given)}")
            elif count != len(params):
                raise self.error(f"wrong number of args for {name}: want {len(params)} got {count}")
            kinds = [params[i] if i < len(params) else variadic for i in range(count)]
        values = [self.arg(dot, kinds[i], a) for i, a in enumerate(given)]
        if final is not _NO_FINAL:
            values.append(self.check(final, kinds[-1]))
        try:
            return fn(*values)
        except _CallError as e:
            self.node = node
            raise self.error(f"error calling {name}: {e}") from None
        except TypeError as e:
            if signature is not None:
                raise
            self.node = node
            raise self.error(f"wrong number of args for {name}: {e}") from None

    def arg(self, dot: object, kind: str, node: _Node, plain: bool = False) -> object:
        """An argument's value, checked against the parameter's kind (Go's evalArg)."""
        self.node = node
        if isinstance(node, _Literal):
            if node.kind == "dot":
                return self.check(dot, kind)
            if node.kind == "nil":
                if kind in ("any", "value", "[]string"):
                    return None
                raise self.error(f"cannot assign nil to {kind}")
            expected = {"string": ("string", "string"), "int": ("number", "integer")}.get(kind)
            value = node.value
            if kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)  # Go takes 3.0 where an int is wanted
            if expected and (node.kind != expected[0] or (kind == "int" and not isinstance(value, int))):
                raise self.error(f"expected {expected[1]}; found {node}")
            if kind == "[]string":
                raise self.error(f"can't handle {node} for arg of type []string")
            return value
        if isinstance(node, _Field):
            value = self.field(dot, node, [node], _NO_FINAL)
        elif isinstance(node, _Pipe):
            value = self.pipeline(dot, node)
        elif isinstance(node, _Ident):
            value = self.function(dot, node, node, [node], _NO_FINAL)
        elif isinstance(node, _Chain):
            self.node = node
            value = self.chain(dot, self.arg(dot, "any", node.node, plain=True), node, node.names, [node],
                               _NO_FINAL)
        else:
            raise self.error(f"can't handle {node} for arg of type {kind}")
        self.node = node
        return value if plain else self.check(value, kind)

    def check(self, value: object, kind: str) -> object:
        """Go's validateType: a missing value is nil where a nil fits, else an error; types must match."""
        if value is MISSING:
            if kind == "value":
                return MISSING
            if kind in ("any", "[]string"):
                return None
            raise self.error(f"invalid value; expected {kind}")
        ok = {"string": lambda v: isinstance(v, str), "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "[]string": lambda v: v is None or (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))}
        if kind in ok and not ok[kind](value):
            got = "interface {}" if value is None else go_type(value)
            raise self.error(f"wrong type for value; expected {kind}; got {got}")
        return value


_NO_FINAL = object()  # no value comes in from an earlier command of the pipeline


class Template:
    """A parsed template: parse once (errors then), execute per object."""

    def __init__(self, text: str, funcs: dict | None = None) -> None:
        self.text = text
        self.funcs = FUNCS if funcs is None else funcs
        self.root = _Parser(text, self.funcs).parse()

    def apply(self, data: object, funcs: dict | None = None) -> str:
        """The output for data; TemplateError for an execution error (the partial output is lost)."""
        ex = _Exec(self.text, self.funcs if funcs is None else funcs, data)
        ex.walk(data, self.root)
        return "".join(ex.out)

    def apply_partial(self, data: object, funcs: dict | None = None) -> str:
        """The output for data up to where it failed, if it did (docker's table header)."""
        ex = _Exec(self.text, self.funcs if funcs is None else funcs, data)
        try:
            ex.walk(data, self.root)
        except TemplateError:
            pass
        return "".join(ex.out)


def parse(text: str) -> Template:
    """A template, or TemplateError("template parsing error: …") as docker reports it."""
    try:
        return Template(text)
    except TemplateError as e:
        raise TemplateError(f"template parsing error: {e}") from None


def render(text: str, data: object) -> str:
    """Parse and execute, both reported as docker reports them ("template parsing error: …")."""
    return apply(parse(text), data)


def apply(tmpl: Template, data: object) -> str:
    try:
        return tmpl.apply(data)
    except TemplateError as e:
        raise TemplateError(f"template parsing error: {e}") from None
