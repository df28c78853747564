"""Walking Kubernetes objects as hostile input: each key known, warned about or refused by its path, each
value of the type the schema says, quantities ("64Mi", "500m") read as Kubernetes reads them."""
from __future__ import annotations

import re


class Report:
    """What the walk found: refusals (by path) and warnings."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def keys(self, obj: object, where: str, supported: set[str], cluster_only: set[str] = frozenset(),
             silent: set[str] = frozenset()) -> dict:
        """obj as a mapping, each of its keys refused or warned about unless supported; {} if no mapping."""
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            self.errors.append(f"{where}: must be a mapping, not {type(obj).__name__}")
            return {}
        for key in obj:
            path = f"{where}.{key}" if where else str(key)
            if key in supported or key in silent:
                continue
            if key in cluster_only:
                self.warnings.append(f"{path}: has no effect on one machine: ignored")
            else:
                self.errors.append(f"{path}: not supported")
        return obj

    def typed(self, value: object, where: str, kind: type | tuple, default: object = None) -> object:
        if value is None:
            return default
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            names_ = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.errors.append(f"{where}: must be a {names_.replace('str', 'string').replace('int', 'integer')}")
            return default
        return value

    def texts(self, value: object, where: str) -> dict[str, str]:
        """A mapping of strings to strings (labels, annotations, selectors, a ConfigMap's data); {} if none."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.errors.append(f"{where}: must be a mapping of strings")
            return {}
        found = {}
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                self.errors.append(f"{where}.{key}: must be a string, as its value")
            else:
                found[key] = item
        return found

    def items(self, value: object, where: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.errors.append(f"{where}: must be a list")
            return []
        return value


def strings(value: object, where: str, report: Report) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                              for v in value):
        report.errors.append(f"{where}: must be a list of strings")
        return None
    return [str(v) for v in value]


def quantity(text: object) -> float:
    """A Kubernetes quantity ("64Mi", "500m", "1.5", "1e3", "2G") as a number; ValueError if none."""
    m = re.fullmatch(r"([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?", str(text).strip())
    if not m or m.group(1).count(".") > 1 or m.group(1) in (".", "+.", "-."):
        raise ValueError(text)
    number, suffix = float(m.group(1)), m.group(2) or ""
    factors = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9,
               "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    return number * (factors[suffix] if suffix in factors else 10 ** int(suffix[1:]))


def quantity_in(value: object, where: str, report: Report) -> float:
    try:
        found = quantity(value)
    except ValueError:
        report.errors.append(f"{where}: {value!r} is no quantity (e.g. 64Mi, 500m)")
        return 0
    if found < 0:
        report.errors.append(f"{where}: cannot be negative")
        return 0
    return found
