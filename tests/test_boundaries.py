"""The maps' county outlines (dashboards/boundaries.py): ECharts' compressed geometry decoded, outlines matched to
the divisions seed by code, by a recorded code change and by name, a bureau's own GeoJSON file read, and the
default source (the pinned PyPI archive) covering every county of the province."""

import json

import pytest

from yibao.dashboards import boundaries as B
from yibao.dashboards.readpath import DIVISIONS_SEED
from yibao.regions import divisions


def _encode(points, scale=1024):
    """ECharts' encoding (the inverse of decode_ring), to build test input."""
    ints = [(round(x * scale), round(y * scale)) for x, y in points]
    out, (px, py) = [], ints[0]
    for x, y in ints:
        for d in (x - px, y - py):
            z = (d << 1) ^ (d >> 31)          # zig-zag
            out.append(chr(z + 64))
        px, py = x, y
    return "".join(out), [ints[0][0], ints[0][1]]


def test_decode_ring_reverses_the_echarts_encoding():
    ring = [(108.5, 34.25), (108.75, 34.25), (108.75, 34.5), (108.5, 34.5), (108.5, 34.25)]
    enc, off = _encode(ring)
    assert B.decode_ring(enc, off) == [list(p) for p in ring]
    # negative steps and a step of more than one unit
    ring = [(100.0, 30.0), (99.0, 29.5), (99.001953125, 29.5)]
    enc, off = _encode(ring)
    assert B.decode_ring(enc, off) == [list(p) for p in ring]


def test_an_echarts_map_file_is_read_with_quoted_keys_and_escaped_strings():
    enc, off = _encode([(108.5, 34.25), (108.75, 34.25), (108.75, 34.5), (108.5, 34.25)])
    js = ('!function(B,A){A.registerMap("咸阳",{type:"FeatureCollection",features:[{type:"Feature",id:"610402",'
          'properties:{name:"秦都区",cp:[108.7,34.3],childNum:1},geometry:{type:"Polygon",coordinates:['
          + json.dumps(enc) + '],encodeOffsets:[' + json.dumps(off) + ']}}],UTF8Encoding:!0})}')
    (f,) = B.echarts_features(js)
    assert f["id"] == "610402" and f["properties"]["name"] == "秦都区"
    assert f["geometry"]["type"] == "MultiPolygon"
    assert f["geometry"]["coordinates"][0][0][1] == [108.75, 34.25]


def _square(x, y, d=0.1):
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def test_match_by_code_by_recorded_change_and_by_name_and_report_the_rest():
    counties = {"610402": {"name": "秦都区"}, "610482": {"name": "彬州市"}, "610881": {"name": "神木市"},
                "610117": {"name": "高陵区"}, "610999": {"name": "无轮廓县"}}
    features = [
        {"type": "Feature", "properties": {"adcode": 610402}, "geometry": {"type": "Polygon", "coordinates": _square(108, 34)}},
        {"type": "Feature", "id": "610427", "properties": {"name": "彬县"},
         "geometry": {"type": "MultiPolygon", "coordinates": [_square(108, 35), _square(108.2, 35)]}},
        {"type": "Feature", "properties": {"code": "610821", "name": "神木县"},   # renamed: same stem in the same city
         "geometry": {"type": "Polygon", "coordinates": _square(110, 38)}},
        {"type": "Feature", "properties": {"code": "610126", "name": "高陵县"},   # 高陵 -> 高陵区 (name stem)
         "geometry": {"type": "Polygon", "coordinates": _square(109, 34.5)}},
        {"type": "Feature", "properties": {"code": "620102", "name": "城关区"},   # another province: ignored
         "geometry": {"type": "Polygon", "coordinates": _square(103, 36)}},
        {"type": "Feature", "properties": {"adcode": "610402"}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
    ]
    b = B.match(features, counties, "test")
    assert set(b.shapes) == {"610402", "610482", "610881", "610117"}
    assert len(b.shapes["610482"]) == 2
    assert b.unmatched == ["610999"]
    rows = b.rows()
    assert [(r[0], r[1]) for r in rows] == [("610117", 0), ("610402", 0), ("610482", 0), ("610482", 1), ("610881", 0)]
    assert json.loads(rows[1][2]) == [[108, 34], [108.1, 34], [108.1, 34.1], [108, 34.1], [108, 34]]


def test_simplify_keeps_the_shape_and_drops_points_on_a_straight_line():
    ring = [[0, 0]] + [[i / 100, 0] for i in range(1, 100)] + [[1, 0], [1, 1], [0, 1], [0, 0]]
    out = B.simplify(ring, 0.001)
    assert out == [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    assert B.simplify(ring[:4]) == ring[:4]


def test_a_bureau_file_is_read_and_a_broken_one_fails_clearly(tmp_path):
    rows = divisions(DIVISIONS_SEED)
    county = sorted(B.province_counties(rows))[0]
    path = tmp_path / "standard_map.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": county}, "geometry": {"type": "Polygon", "coordinates": _square(108, 34)}}]}),
        encoding="utf-8")
    b = B.load(path, tmp_path / "cache", rows)
    assert b.source == str(path) and set(b.shapes) == {county}
    assert len(b.unmatched) == len(B.province_counties(rows)) - 1
    assert not (tmp_path / "cache").exists()       # a configured file never fetches the default
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError):
        B.load(path, tmp_path / "cache", rows)


def test_the_default_source_outlines_every_county_of_the_province(tmp_path):
    """The pinned archive (fetched once into the user's cache, checksum checked) covers all the province's counties
    inside Shaanxi's extent, in a few hundred kB once simplified."""
    rows = divisions(DIVISIONS_SEED)
    b = B.load(None, B.cache_dir(), rows)
    counties = B.province_counties(rows)
    assert b.unmatched == [] and set(b.shapes) == set(counties)
    pts = [p for polys in b.shapes.values() for poly in polys for p in poly[0]]
    assert 105 < min(x for x, _ in pts) and max(x for x, _ in pts) < 112
    assert 31 < min(y for _, y in pts) and max(y for _, y in pts) < 40
    size = sum(len(r[2]) for r in b.rows())
    assert 50_000 < size < 1_000_000, size
    # a wrong checksum is refused and nothing is kept
    with pytest.raises(ValueError, match="checksum"):
        B.fetch_default(tmp_path, sha256="0" * 64)
    assert not list(tmp_path.iterdir())
