"""Container names: Docker's rules, and a readable random name when none is given."""
from __future__ import annotations

import os

from corral.errors import Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

_FIRST = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REST = _FIRST | set("_.-")
# Generated names in docker's style (its pkg/namesgenerator: adjective_surname, a digit appended on a
# retry); the words are corral's own list of adjectives and of scientists' and engineers' surnames.
_ADJECTIVES = (
    "admiring", "agile", "amazing", "ample", "ardent", "awesome", "blissful", "bold", "brave", "bright", "brisk",
    "busy", "calm", "candid", "careful", "charming", "cheerful", "clever", "cool", "cozy", "crisp", "curious",
    "dapper", "daring", "dazzling", "determined", "diligent", "dreamy", "eager", "earnest", "ecstatic", "elastic",
    "elated", "elegant", "eloquent", "epic", "fervent", "festive", "fierce", "focused", "fond", "friendly",
    "frosty", "funny", "gallant", "gentle", "gifted", "glad", "gracious", "great", "happy", "hardy", "hopeful",
    "humble", "hungry", "inspiring", "intelligent", "jolly", "jovial", "keen", "kind", "laughing", "lively",
    "loving", "lucid", "lucky", "magical", "merry", "mighty", "modest", "musing", "mystifying", "nice", "nifty",
    "noble", "nostalgic", "optimistic", "patient", "peaceful", "pensive", "playful", "polite", "practical",
    "priceless", "quirky", "quiet", "radiant", "relaxed", "reverent", "romantic", "serene", "sharp", "shy",
    "silly", "sleepy", "smart", "snappy", "solid", "steady", "stoic", "sunny", "sweet", "tender", "thirsty",
    "tidy", "trusting", "upbeat", "vibrant", "vigilant", "vigorous", "vivid", "warm", "wise", "witty", "wizardly",
    "youthful", "zealous", "zen",
)
_SURNAMES = (
    "agnesi", "allen", "archimedes", "babbage", "backus", "bardeen", "bartik", "bell", "berners_lee", "bohr",
    "boole", "bose", "brahmagupta", "brattain", "burnell", "carson", "cerf", "chandrasekhar", "clarke", "cohen",
    "colden", "conway", "copernicus", "cori", "curie", "darwin", "dijkstra", "dirac", "easley", "edison",
    "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin",
    "gagarin", "galileo", "galois", "gauss", "germain", "goldberg", "goodall", "hamilton", "hawking",
    "heisenberg", "hertz", "hodgkin", "hofstadter", "hopper", "hoover", "hubble", "huffman", "hypatia",
    "jackson", "jennings", "johnson", "joliot", "kalam", "kapitsa", "kepler", "kernighan", "khorana", "kilby",
    "knuth", "kowalevski", "lamarr", "lamport", "leakey", "leavitt", "lehmann", "lovelace", "lumiere", "mayer",
    "mccarthy", "mcclintock", "meitner", "mendel", "mendeleev", "minsky", "mirzakhani", "moore", "morse",
    "napier", "nash", "newton", "nobel", "noether", "noyce", "ohm", "pascal", "pasteur", "perlman", "planck",
    "poincare", "ptolemy", "raman", "ramanujan", "riemann", "ride", "ritchie", "rosalind", "rutherford", "sagan",
    "salk", "shannon", "shockley", "sinoussi", "stallman", "stonebraker", "sutherland", "swartz", "tesla",
    "thompson", "torvalds", "turing", "varahamihira", "volta", "wescoff", "wiles", "williams", "wilson", "wing",
    "wirth", "wozniak", "wright", "yalow", "yonath",
)
_FIRST = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REST = _FIRST | set("_.-")


def validate(name: str) -> str:
    bare = name[1:] if name.startswith("/") else name
    if len(bare) < 2 or bare[0] not in _FIRST or any(c not in _REST for c in bare):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return bare


def generate(retry: int = 0) -> str:
    """adjective_surname as docker names containers; from the second try on a digit is appended,
    as docker's GetRandomName(retry) does, so that a crowded store still finds a free name."""
    a, b, c = os.urandom(3)
    name = f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_SURNAMES[(b << 8 | c) % len(_SURNAMES)]}"
    if name == "boring_wozniak":  # docker's one exception, kept: Steve Wozniak is not boring
        return generate(retry)
    return name + str(os.urandom(1)[0] % 10) if retry else name


def free_name(taken: "Callable[[str], bool]", tries: int = 10) -> str:
    """A generated name that `taken` says is free, retried as docker retries on a clash."""
    for retry in range(tries):
        name = generate(retry)
        if not taken(name):
            return name
    raise Conflict(f"no free container name after {tries} tries: give one with --name")
