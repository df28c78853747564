"""Shell-word expansion of Dockerfile arguments, as BuildKit's shell lexer (frontend/dockerfile/shell/lex.go).

Why a module of its own: expansion is the one step that needs the build's
ARG/ENV scope, so it runs in the executor, step by step, while the parser
only keeps words as written. The parser uses the same lexer without a scope
(`literal_words`) to find the heredocs a line opens, because BuildKit decides
that with its lexer too and the two must agree on quotes and escapes.
"""
from __future__ import annotations

from corral.errors import InvalidArgument


def expand(word: str, env: dict[str, str], escape: str = "\\", *, quotes: bool = True) -> str:
    """Expand variables in one word and remove its quotes, as BuildKit's `ProcessWord`.

    $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt},
    ${VAR:?msg}, ${VAR?msg}, ${VAR#pat}, ${VAR##pat}, ${VAR%pat}, ${VAR%%pat},
    ${VAR/pat/repl}, ${VAR//pat/repl}; an escaped `\\$` stays literal, single
    quotes prevent expansion, double quotes allow it. Undefined variables are
    "". With quotes=False quote characters are ordinary text (BuildKit's
    SkipProcessQuotes, used on COPY heredoc bodies).
    """
    try:
        return _Lex(word, env, escape, quotes=quotes).word()
    except LexError as e:
        raise InvalidArgument(f'failed to process "{word}": {e}') from None


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Expand then split into words on unquoted whitespace, as BuildKit's `ProcessWords` (used for EXPOSE)."""
    try:
        return _Lex(text, env, escape).words()
    except LexError as e:
        raise InvalidArgument(f'failed to process "{text}": {e}') from None


def literal_words(text: str, *, raw_quotes: bool = False, raw_escapes: bool = False) -> list[str]:
    """The words of `text` with every variable left as written, as BuildKit's lexer with SkipUnsetEnv
    and no scope; raw_quotes / raw_escapes keep quotes / escapes in the words. Raises LexError.

    The parser asks this to find heredoc names (`<<EOF`, `<<'EOF'`): whether the name was quoted is
    the difference between the words with and without raw_quotes.
    """
    return _Lex(text, {}, "\\", skip_unset=True, raw_quotes=raw_quotes, raw_escapes=raw_escapes).words()


class LexError(Exception):
    """Text the lexer cannot read (an unterminated quote, a bad ${...}); `expand` reports it as InvalidArgument."""


class _Words:
    """Word splitting alongside expansion: expanded values split on spaces, quoted text never does."""

    __slots__ = ("buf", "words", "in_word")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add(self, text: str) -> None:
        for ch in text:
            if ch.isspace():
                if self.in_word and self.buf:
                    self.words.append("".join(self.buf))
                    self.buf, self.in_word = [], False
            else:
                self.buf.append(ch)
                self.in_word = True

    def add_raw(self, text: str) -> None:
        if text:
            self.buf.append(text)
        self.in_word = True

    def result(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf, self.in_word = [], False
        return self.words


class _Lex:
    """One pass over a word: `$` expansion, quotes, escapes, word splitting (BuildKit's shell.Lex)."""

    __slots__ = ("s", "pos", "env", "escape", "raw_quotes", "raw_escapes", "skip_unset", "quotes")

    def __init__(self, s: str, env: dict[str, str], escape: str, *, raw_quotes: bool = False,
                 raw_escapes: bool = False, skip_unset: bool = False, quotes: bool = True) -> None:
        self.s, self.pos, self.env, self.escape = s, 0, env, escape
        self.raw_quotes, self.raw_escapes, self.skip_unset, self.quotes = raw_quotes, raw_escapes, skip_unset, quotes

    def word(self) -> str:
        return self._until("", self.raw_escapes)[0]

    def words(self) -> list[str]:
        return self._until("", self.raw_escapes)[1]

    def _peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def _next(self) -> str:
        ch = self._peek()
        self.pos += 1 if ch else 0
        return ch

    def _until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._scan(stop)
        finally:
            self.raw_escapes = saved

    def _scan(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.pos < len(self.s):
            ch = self.s[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(result), words.result()
            if ch == "$":
                text = self._dollar()
                result.append(text)
                words.add(text)
            elif ch == "<":
                text = self._maybe_heredoc()
                result.append(text)
                words.add_raw(text)
            elif self.quotes and ch == "'":
                text = self._single_quoted()
                result.append(text)
                words.add_raw(text)
            elif self.quotes and ch == '"':
                text = self._double_quoted()
                result.append(text)
                words.add_raw(text)
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    if self.pos >= len(self.s):
                        break  # an escape at the very end is dropped
                    ch = self.s[self.pos]
                    self.pos += 1
                    words.add_raw(ch)
                else:
                    words.add(ch)
                result.append(ch)
        if stop:
            raise LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def _single_quoted(self) -> str:
        quote = self._next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self._next()
            if not ch:
                raise LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quoted(self) -> str:
        out: list[str] = []
        ch = self._next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self._peek()
            if not ch:
                raise LexError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self._peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch)

    def _maybe_heredoc(self) -> str:
        self.pos += 1
        if self._peek() != "<":
            return "<"
        self.pos += 1
        start = self.pos
        while self._peek() in (" ", "\t", "\r"):
            self.pos += 1
        return "<<" + self.s[start:self.pos]

    def _name(self) -> str:
        start = self.pos
        ch = self._peek()
        if ch and ch.isdecimal():
            while self._peek() and self._peek().isdecimal():
                self.pos += 1
            return self.s[start:self.pos]
        if ch and ch in "@*#?-$!0":
            self.pos += 1
            return ch
        while self._peek() and (self._peek().isalpha() or self._peek().isdecimal() or self._peek() == "_"):
            self.pos += 1
        return self.s[start:self.pos]

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._lookup(name)
            return "$" + name if not found and self.skip_unset else value
        self.pos += 1
        ch = self._peek()
        if not ch:
            raise LexError("syntax error: missing '}'")
        if ch in "{}:":
            raise LexError("syntax error: bad substitution")
        name = self._name()
        op = self._next()
        if op == "}":
            value, found = self._lookup(name)
            return "${" + name + "}" if not found and self.skip_unset else value
        if op == "/":
            return self._replace(name)
        if not op:
            raise LexError("syntax error: missing '}'")
        null_is_unset = op == ":"
        if null_is_unset:
            op = self._next()
        spelled = (":" if null_is_unset else "") + op
        if op not in ("+", "-", "?", "#", "%") and op:
            # consume the rest like BuildKit does before it reports the modifier
            self._until_brace(False)
            raise LexError(f"unsupported modifier ({spelled}) in substitution")
        if null_is_unset and op in ("#", "%"):
            raise LexError(f"unsupported modifier ({spelled}) in substitution")
        word = self._until_brace(op in ("#", "%"))
        value, found = self._lookup(name)
        if not found and self.skip_unset:
            return "${" + name + spelled + word + "}"
        empty = not found or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if not found:
                raise LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word[:1] == op
        if greedy:
            word = word[1:]
        if op == "#":
            return _trim_prefix(word, value, greedy)
        return _trim_suffix(word, value, greedy)

    def _until_brace(self, raw_escapes: bool) -> str:
        try:
            return self._until("}", raw_escapes)[0]
        except LexError:
            if self.pos >= len(self.s):
                raise LexError("syntax error: missing '}'") from None
            raise

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern = self._until("/", True)[0]
        except LexError:
            if self.pos >= len(self.s):
                raise LexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._until_brace(True)
        value, found = self._lookup(name)
        if not found and self.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        return regex.sub(lambda m: replacement, value, count=0 if replace_all else 1)


def _shell_pattern(pattern: str, greedy: bool, anchored: bool):  # noqa: ANN202
    """A ${VAR#...}-style pattern (`*`, `?`, `\\` escapes; no brackets) as a compiled regex."""
    import re

    out = ["^"] if anchored else []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < n and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < n else ""
            i += 1
            if nxt not in ("*", "?", "\\") or not nxt:
                raise LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _shell_pattern(pattern, greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """Shortest/longest suffix match, done as a prefix match on the reversed text and pattern."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    reversed_pattern = "".join(reversed(tokens))
    return _trim_prefix(reversed_pattern, value[::-1], greedy)[::-1]
