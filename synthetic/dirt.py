"""Realistic dirt applied to values as departments write them (all vectorised over numpy arrays)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ids, names

CERT_KINDS = ("LOWER_X", "FULLWIDTH", "SPACES", "LEGACY15", "TYPO", "MISSING")


def certno_variant(certno: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply the requested certno dirt where applicable; returns (values, kind actually applied)."""
    c = np.asarray(certno, dtype=object).copy()
    k = np.asarray(kind, dtype=object).copy()
    ends_x = np.array([s.endswith("X") for s in c], dtype=bool)
    old = np.array([s[6:8] == "19" and s[6:10] < "1985" for s in c], dtype=bool)
    k[(k == "LOWER_X") & ~ends_x] = ""
    k[(k == "LEGACY15") & ~old] = ""
    m = k == "LOWER_X"
    c[m] = [s[:17] + "x" for s in c[m]]
    m = k == "FULLWIDTH"
    if m.any():
        c[m] = ids.fullwidth(c[m])
    m = k == "SPACES"
    pos = rng.integers(0, 3, len(c))
    c[m] = [(" " + s) if p == 0 else (s + " ") if p == 1 else (s[:6] + " " + s[6:14] + " " + s[14:])
            for s, p in zip(c[m], pos[m])]
    m = k == "LEGACY15"
    if m.any():
        c[m] = ids.to_legacy15(c[m].astype("U18")).astype(object)
    m = k == "TYPO"
    if m.any():
        c[m] = ids.mistype(c[m].astype("U18"), rng).astype(object)
    m = k == "MISSING"
    c[m] = None
    return c, k


def sample_cert_kinds(rng: np.random.Generator, n: int, rate: float,
                      kinds=("LOWER_X", "FULLWIDTH", "SPACES"), p=None) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    hit = rng.random(n) < rate
    out[hit] = rng.choice(np.array(kinds, dtype=object), hit.sum(), p=p)
    return out


def name_variant(name: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """HOMOPHONE (one character), NAME_SPACE (a stray ASCII space), NAME_FULLWIDTH (a full-width space)."""
    out = np.asarray(name, dtype=object).copy()
    m = kind == "HOMOPHONE"
    if m.any():
        out[m] = names.homophone_variant(out[m], rng)
    m = kind == "NAME_SPACE"
    out[m] = [s[0] + " " + s[1:] if len(s) > 1 else s for s in out[m]]
    m = kind == "NAME_FULLWIDTH"
    out[m] = [s[0] + "\u3000" + s[1:] if len(s) > 1 else s for s in out[m]]
    return out


def phone_variant(tel: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Phone formats seen in exchange files: plain (most), +86, dashes, spaces."""
    t = np.asarray(tel, dtype=object)
    out = t.copy()
    m1 = (u >= 0.80) & (u < 0.86)
    m2 = (u >= 0.86) & (u < 0.93)
    m3 = u >= 0.93
    out[m1] = ["+86" + s for s in t[m1]]
    out[m2] = [s[:3] + "-" + s[3:7] + "-" + s[7:] for s in t[m2]]
    out[m3] = [s[:3] + " " + s[3:7] + " " + s[7:] for s in t[m3]]
    return out


def fmt_dates(d: np.ndarray, compact: np.ndarray | None = None) -> np.ndarray:
    """datetime64[D] → 'YYYY-MM-DD' (or 'YYYYMMDD' where compact); NaT → None."""
    d = np.asarray(d, dtype="datetime64[D]")
    if d.size == 0:
        return np.array([], dtype=object)
    s = np.datetime_as_string(d, unit="D").astype(object)
    nat = np.isnat(d)
    if compact is not None:
        m = compact & ~nat
        s[m] = [x.replace("-", "") for x in s[m]]
    s[nat] = None
    return s


def fmt_ts(d: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """datetime64[D] + seconds of day → 'YYYY-MM-DD HH:MM:SS'; NaT → None."""
    d = np.asarray(d, dtype="datetime64[D]")
    nat = np.isnat(d)
    if d.size == 0:
        return np.array([], dtype=object)
    ts = d.astype("datetime64[s]") + np.asarray(seconds, dtype=np.int64).astype("timedelta64[s]")
    s = np.char.replace(np.datetime_as_string(ts, unit="s"), "T", " ").astype(object)
    s[nat] = None
    return s


_CENTS = np.array([f".{k:02d}" for k in range(100)], dtype=object)


def fmt_money(cents: np.ndarray) -> np.ndarray:
    """Integer cents → 'yuan.cc' strings (Arrow casts the yuan part; the cents come from a lookup table)."""
    c = np.asarray(cents, dtype=np.int64)
    if c.size == 0:
        return np.array([], dtype=object)
    a = np.abs(c)
    whole = pc.cast(pa.array(a // 100), pa.string())
    s = pc.binary_join_element_wise(whole, pa.array(_CENTS[a % 100], type=pa.string()), "")
    if (c < 0).any():
        s = pc.if_else(pa.array(c < 0), pc.binary_join_element_wise(pa.scalar("-"), s, ""), s)
    return np.asarray(s.to_numpy(zero_copy_only=False), dtype=object)


def zcat(prefix, nums, width: int) -> np.ndarray:
    """prefix (str or array) + zero-padded numbers; safe on empty input (numpy's np.char is not)."""
    nums = np.asarray(nums)
    if nums.size == 0:
        return np.array([], dtype=object)
    pre = prefix if isinstance(prefix, str) else np.asarray(prefix).astype("U")
    return np.char.add(pre, np.char.zfill(nums.astype(f"U{width}"), width)).astype(object)


# ----------------------------------------------------------------------------- field dirt on written values
INVALID_CODES = np.array(["0", "A", "99"], dtype=object)


def trailing_space(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Append one ASCII space where ``mask`` (nulls stay null): codes and names as exchange files carry them."""
    out = np.asarray(values, dtype=object).copy()
    m = np.asarray(mask, dtype=bool) & np.array([v is not None for v in out], dtype=bool) if len(out) else np.zeros(0, bool)
    out[m] = [v + " " for v in out[m]]
    return out


def null_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    out[np.asarray(mask, dtype=bool)] = None
    return out


def band(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Rows whose fixed per-row uniform falls in [lo, hi): disjoint bands give disjoint kinds of dirt, and the
    same row gets the same dirt in every batch (views stay pure functions of the latent state)."""
    u = np.asarray(u, dtype=float)
    return (u >= lo) & (u < hi)


def invalid_code(u: np.ndarray) -> np.ndarray:
    """A code outside every code table ('0', 'A', '99'), picked from a per-row uniform."""
    u = np.asarray(u, dtype=float)
    return INVALID_CODES[np.minimum((u * 1e6).astype(np.int64) % 3, 2)]
