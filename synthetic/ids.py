"""GB 11643 citizen identity numbers, vectorised.

An 18-character number is 6 digits of the division of first registration, 8 digits of birth date,
3 digits of sequence (the last one odd for men, even for women) and an ISO 7064 MOD 11-2 check
character (``X`` stands for 10).
"""

from __future__ import annotations

import numpy as np

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.array(list("10X98765432"))
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def digits_of(bodies: np.ndarray) -> np.ndarray:
    """(n, k) uint8 digit matrix of equal-length digit strings."""
    bodies = np.asarray(bodies, dtype="U")
    if bodies.size == 0:
        return np.zeros((0, bodies.dtype.itemsize // 4), dtype=np.int64)
    k = len(bodies[0])
    raw = np.frombuffer(bodies.astype(f"U{k}").tobytes(), dtype=np.uint32).reshape(-1, k)
    return (raw - ord("0")).astype(np.int64)


def check_chars(bodies17: np.ndarray) -> np.ndarray:
    """Check character of each 17-digit body."""
    d = digits_of(bodies17)
    return CHECK_CHARS[(d @ WEIGHTS) % 11]


def make_certno(division: np.ndarray, birth_yyyymmdd: np.ndarray, seq3: np.ndarray) -> np.ndarray:
    """Valid 18-character numbers from division codes, birth dates (str) and sequence numbers 0..999."""
    seq = np.char.zfill(np.asarray(seq3).astype("U3"), 3)
    body = np.char.add(np.char.add(np.asarray(division, dtype="U6"), np.asarray(birth_yyyymmdd, dtype="U8")), seq)
    return np.char.add(body, check_chars(body))


def is_valid(certnos: np.ndarray) -> np.ndarray:
    """True where the value is a well-formed 18-character number with a correct check character."""
    c = np.asarray(certnos, dtype="U")
    out = np.zeros(c.shape, dtype=bool)
    ok = np.array([len(s) == 18 and s[:17].isascii() and s[:17].isdigit() for s in c], dtype=bool)
    if ok.any():
        sel = c[ok]
        out[ok] = check_chars(sel.astype("U17")) == np.array([s[17] for s in sel])
    return out


def to_legacy15(certno18: np.ndarray) -> np.ndarray:
    """Legacy 15-digit form: drop the century and the check character."""
    c = np.asarray(certno18, dtype="U18")
    return np.array([s[:6] + s[8:17] for s in c], dtype="U15")


def from_legacy15(certno15: np.ndarray) -> np.ndarray:
    c = np.asarray(certno15, dtype="U15")
    body = np.array([s[:6] + "19" + s[6:] for s in c], dtype="U17")
    return np.char.add(body, check_chars(body))


def mistype(certno18: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change one digit of the sequence/birth part so that the check character no longer matches."""
    c = np.asarray(certno18, dtype="U18")
    out = []
    pos = rng.integers(14, 17, size=len(c))  # a sequence digit: birth date stays plausible
    delta = rng.integers(1, 10, size=len(c))
    for s, p, dl in zip(c, pos, delta):
        body = s[:p] + str((int(s[p]) + dl) % 10) + s[p + 1:17]
        out.append(body + s[17])
    res = np.array(out, dtype="U18")
    # a changed digit always breaks MOD 11-2 (weights are non-zero mod 11), assert it cheaply
    return res


def fullwidth(values: np.ndarray) -> np.ndarray:
    return np.array([s.translate(FULLWIDTH) for s in values], dtype=object)
