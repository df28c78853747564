""".dockerignore matching with Docker's exact rules (moby/patternmatcher, as BuildKit's context walker uses it).

Each pattern is cleaned like Go's filepath.Clean, a leading "/" is dropped,
"!" makes it an exception. Syntax is Go's filepath.Match (`*` and `?` never
cross a "/", `[...]` classes, `\\` escapes) plus `**`, which matches any
number of directories. A pattern that matches a directory also excludes
everything under it. The last pattern that matches a path decides.

Directories are evaluated the way the walker does (MatchesUsingParentResults):
a path inherits, pattern by pattern, whether its parent directory matched, so
`excluded()` answers what `docker build` would send, and
`may_contain_exceptions()` tells the walker when it must still descend into an
excluded directory because a "!" pattern can re-include something inside.
"""
from __future__ import annotations

from corral.errors import InvalidArgument

_WILDCARDS = "*[]?^\\"  # characters that make a "!" pattern more than a plain prefix (as BuildKit's fsutil)


def clean(path: str) -> str:
    """Go's path.Clean: no empty, "." or resolvable ".." components; "" becomes "."."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    return "/" + out if rooted else (out or ".")


class _Pattern:
    """One cleaned pattern, matched the way patternmatcher does: exact, prefix (`a/**`), suffix (`**/a`), regex."""

    __slots__ = ("text", "exclusion", "kind", "regex")

    def __init__(self, text: str, exclusion: bool) -> None:
        self.text, self.exclusion = text, exclusion
        self.kind = ""
        self.regex = None

    def __repr__(self) -> str:
        return f"_Pattern({'!' if self.exclusion else ''}{self.text})"

    def matches(self, path: str) -> bool:
        if not self.kind:
            self._compile()
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self.regex.match(path) is not None  # type: ignore[union-attr]

    def _compile(self) -> None:
        import re
        import warnings

        out = ["^"]
        kind = "exact"
        text, i, n, step = self.text, 0, len(self.text), 0
        while i < n:
            ch = text[i]
            i += 1
            if ch == "*":
                if i < n and text[i] == "*":
                    i += 1
                    if i < n and text[i] == "/":
                        i += 1
                    if i >= n:  # trailing "**" matches everything below
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            out.append(".*")
                            kind = "regex"
                    else:  # "**/" matches any number of directories, even none
                        out.append("(.*/)?")
                        kind = "regex"
                    if step == 0:
                        kind = "suffix"
                else:
                    out.append("[^/]*")
                    kind = "regex"
            elif ch == "?":
                out.append("[^/]")
                kind = "regex"
            elif ch == "\\":
                if i < n:
                    out.append(re.escape(text[i]))
                    i += 1
                    kind = "regex"
                else:
                    out.append(re.escape(ch))
            elif ch in "[]":
                out.append(ch)
                kind = "regex"
            elif ch in ".+()|{}$":
                out.append("\\" + ch)
            else:
                out.append(ch)
            step += 1
        self.kind = kind
        if kind == "regex":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Python warns on `[[` that Go accepts silently
                try:
                    self.regex = re.compile("".join(out) + r"\Z")
                except re.error:
                    raise InvalidArgument(f'invalid exclude pattern "{self.text}": syntax error in pattern') from None


class Ignore:
    """A .dockerignore (or COPY --exclude) pattern list; `excluded(rel)` says whether a context path is left out."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = _normalize(raw)
            if not text:
                continue
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                text = text[1:]
            _check_syntax(text)
            self.patterns.append(_Pattern(text, exclusion))
        self.has_exceptions = any(p.exclusion for p in self.patterns)
        self._prefix_exceptions = [_without_trailing_glob(p.text) for p in self.patterns if p.exclusion]
        self._only_prefix_exceptions = not any(c in _WILDCARDS for p in self._prefix_exceptions for c in p)
        self._dirs: dict[str, list[bool]] = {}

    def __repr__(self) -> str:
        return f"Ignore({[('!' if p.exclusion else '') + p.text for p in self.patterns]!r})"

    @classmethod
    def from_file(cls, path: str) -> "Ignore":
        """Read a .dockerignore: a missing file matches nothing; lines starting with # are comments."""
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except FileNotFoundError:
            return cls([])
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = [line.rstrip("\r") for line in text.split("\n")]
        try:
            return cls([line for line in lines if not line.startswith("#")])
        except InvalidArgument as e:
            raise InvalidArgument(f"{path}: {e}") from None

    def excluded(self, rel: str) -> bool:
        """Whether the slash-separated context path `rel` is left out of the build context."""
        if not self.patterns:
            return False
        rel = clean(rel).lstrip("/")
        if rel in (".", ""):
            return False
        return self._evaluate(rel)[0]

    def may_contain_exceptions(self, rel_dir: str) -> bool:
        """Whether a "!" pattern could re-include something under the excluded directory `rel_dir`.

        False means the walker can skip the whole directory. As BuildKit, any
        exception with a wildcard (beyond a trailing `/*` or `/**`) forces a descent.
        """
        if not self.has_exceptions:
            return False
        if not self._only_prefix_exceptions:
            return True
        prefix = clean(rel_dir).lstrip("/").rstrip("/") + "/"
        return any((p + "/").startswith(prefix) for p in self._prefix_exceptions)

    def _evaluate(self, path: str) -> tuple[bool, list[bool]]:
        """(excluded, which patterns matched) for `path`, given its parent directory's results."""
        parent, _, _ = path.rpartition("/")
        inherited = self._dir_results(parent) if parent else None
        matched = False
        results = []
        for i, pattern in enumerate(self.patterns):
            hit = inherited[i] if inherited else False
            if not hit:
                if pattern.exclusion != matched:
                    results.append(False)  # cannot change the outcome: not evaluated, as Docker
                    continue
                hit = pattern.matches(path)
            results.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, results

    def _dir_results(self, path: str) -> list[bool]:
        results = self._dirs.get(path)
        if results is None:
            results = self._dirs[path] = self._evaluate(path)[1]
        return results


def _normalize(raw: str) -> str:
    """A pattern as .dockerignore reading and the matcher leave it: trimmed, cleaned, relative, "!" kept."""
    text = raw.strip()
    if not text:
        return ""
    exclusion = text.startswith("!")
    if exclusion:
        text = text[1:].strip()
    if text:
        text = clean(text)
        if len(text) > 1 and text.startswith("/"):
            text = text[1:]
    return "!" + text if exclusion else text


def _without_trailing_glob(text: str) -> str:
    for suffix in ("/**", "/*"):
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def _check_syntax(text: str) -> None:
    """Reject what Go's filepath.Match calls ErrBadPattern: a dangling `\\`, an empty or unclosed `[...]`."""
    bad = InvalidArgument(f'invalid exclude pattern "{text}": syntax error in pattern')
    i, n = 0, len(text)

    def class_char(j: int) -> int:
        if j >= n or text[j] in "-]":
            raise bad
        if text[j] == "\\":
            j += 1
            if j >= n:
                raise bad
        return j + 1

    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                raise bad
            i += 2
        elif ch == "[":
            i += 1
            if i < n and text[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and text[i] == "]" and ranges:
                    i += 1
                    break
                i = class_char(i)
                if i < n and text[i] == "-":
                    i = class_char(i + 1)
                ranges += 1
        else:
            i += 1
