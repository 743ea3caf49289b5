"""The maps' background without a tile server: every tile is one plain colour (dark for the big screen, light for
the analysts' dashboards).  The maps (deck.gl polygons, dashboards/authoring.py ``region_map``) name
``tile:///yibao/tiles/<style>/{z}/{x}/{y}.png`` as their base map, so a bureau's network never sees a request to
an outside map server, and the county outlines carry the geography."""

import struct
import zlib

COLOURS = {"dark": (7, 26, 51), "light": (242, 244, 247)}   # the big screen's background; a pale grey
SIZE = 256


def png(rgb: tuple[int, int, int], size: int = SIZE) -> bytes:
    """A ``size`` x ``size`` PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * size
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * size, 9)) + chunk(b"IEND", b""))


TILES = {style: png(rgb) for style, rgb in COLOURS.items()}


def install(app) -> None:
    from flask import Response, abort

    def tile(style: str, z: int, x: int, y: int):
        if style not in TILES:
            abort(404)
        return Response(TILES[style], mimetype="image/png", headers={"Cache-Control": "public, max-age=86400"})

    app.add_url_rule("/yibao/tiles/<style>/<int:z>/<int:x>/<int:y>.png", "yibao_tile", tile)
