"""Runs inside Superset's virtual environment: log in as users and render dashboards in headless Chromium.

Usage: ``<venv>/bin/python render.py job.json result.json`` with
``job = {"url", "out_dir", "visits": [{"username", "password", "dashboards": [slug, ...]}]}``.
For every visit it records per dashboard: load time, each chart's data request (the JSON the page posted) and
response (status, row count, the first rows), error messages shown on the page, and a 1920x1080 screenshot.  A visit with ``"full_page": true``
also scrolls through the whole dashboard (Superset only draws the charts near the viewport), records what each
drawn chart holds (``drawn``: canvas / svg / table rows / text per chart name) and takes a full-page screenshot.
A visit with ``"maps": true`` also screenshots every map and measures what it painted (``maps``: :func:`map_colours`).
A visit with ``"clicks": {slug: {"chart": name, "text": cell text}}`` (or ``"row"`` / ``"col"``: the cell at that
position of the first page) then clicks that cell of that table chart
(a cross-filter, the dashboards' drill-down) and records the chart data requests and responses that follow
(``after_click``, per chart name: the filters the page sent and the rows it got) and a screenshot.
Chromium is Debian's ``/usr/bin/chromium`` (``YIBAO_CHROMIUM`` to change); Playwright never downloads one.
"""

import json
import os
import re
import sys
import time

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--lang=zh-CN"]
ERROR_SELECTORS = ['[data-test="error-message"]', ".alert-danger", '[role="alert"]', ".ant-alert-error",
                   '[data-test="chart-error"]']
LOADING = '.loading, [data-test="loading-indicator"], [aria-label="Loading"]'


def login(context, url, username, password):
    page = context.new_page()
    page.goto(f"{url}/login/")
    token = page.locator("#csrf_token").first.get_attribute("value")
    r = context.request.post(f"{url}/login/", form={"username": username, "password": password, "csrf_token": token})
    me = context.request.get(f"{url}/api/v1/me/")
    page.close()
    if me.status != 200:
        raise RuntimeError(f"login of {username} failed: {r.status} / me {me.status}")
    return me.json()["result"]


DRAWN_JS = """() => Array.from(document.querySelectorAll('[data-test-chart-name]')).map(el => ({
    name: el.getAttribute('data-test-chart-name'), viz: el.getAttribute('data-test-viz-type'),
    canvas: el.querySelectorAll('canvas').length, svg: el.querySelectorAll('svg').length,
    rows: el.querySelectorAll('tbody tr').length, text: (el.innerText || '').slice(0, 2000)}))"""


# hue bands (degrees) of the four risk colours the maps paint with (dashboards/authoring.py RISK_COLOURS)
HUES = {"red": (345, 12), "orange": (20, 38), "yellow": (42, 60), "green": (100, 150)}


def map_colours(page, shot_prefix):
    """What each map (deck.gl polygon chart) painted: a screenshot of the chart and, of its pixels, the share that is
    coloured (saturated, not the plain background nor text) and how many fall in each risk colour's hue band."""
    import colorsys
    import io

    from PIL import Image

    out = {}
    for k, el in enumerate(page.locator('[data-test-viz-type="deck_polygon"]').all()):
        el.scroll_into_view_if_needed()
        page.wait_for_timeout(2500)     # deck.gl draws after the tiles and the data arrived
        name = el.get_attribute("data-test-chart-name") or f"map{k}"
        path = f"{shot_prefix}__map{k}.png"
        img = Image.open(io.BytesIO(el.screenshot(path=path))).convert("RGB")
        img.thumbnail((480, 480))
        pixels = list(img.getdata())
        hues = dict.fromkeys(HUES, 0)
        coloured = 0
        for r, g, b in pixels:
            h, sat, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
            if sat < 0.08 or v < 0.35:      # the plain backgrounds, white outlines, grey text
                continue
            coloured += 1
            deg = h * 360
            for hue, (lo, hi) in HUES.items():
                if (lo <= deg <= hi) if lo < hi else (deg >= lo or deg <= hi):
                    hues[hue] += 1
        out[name] = {"screenshot": path, "coloured_share": round(coloured / max(len(pixels), 1), 4), "hues": hues}
    return out


def _scroll_through(page, step=700, wait_ms=700, limit=60):
    """Scroll the dashboard to its end (window and any scrolled container) so that every chart is drawn."""
    for _ in range(limit):
        moved = page.evaluate("""(step) => {
            let moved = false;
            const els = [document.scrollingElement, ...document.querySelectorAll('*')].filter(e => e &&
                e.scrollHeight > e.clientHeight + 5 && getComputedStyle(e).overflowY !== 'hidden' &&
                getComputedStyle(e).overflowY !== 'visible' || e === document.scrollingElement);
            for (const e of els) {
                const before = e.scrollTop;
                e.scrollTop = before + step;
                if (e.scrollTop !== before) moved = true;
            }
            return moved;
        }""", step)
        page.wait_for_timeout(wait_ms)
        if not moved:
            break
    page.evaluate("""() => [document.scrollingElement, ...document.querySelectorAll('*')]
        .forEach(e => { if (e && e.scrollTop) e.scrollTop = 0; })""")


def chart_names(page, url, slug, attempts=3) -> dict:
    """Chart id (as a string) -> name, of every chart of the dashboard.

    Asked before the dashboard loads (its chart queries would otherwise compete with this request for the server's
    workers) with a generous timeout, and asked again when a busy test machine lets it time out."""
    for attempt in range(1, attempts + 1):
        try:
            meta = page.request.get(f"{url}/api/v1/dashboard/{slug}/charts", timeout=120_000)
        except Exception:   # playwright's TimeoutError or a dropped connection
            if attempt == attempts:
                raise
            page.wait_for_timeout(2000 * attempt)
            continue
        return {str(c["id"]): c.get("slice_name") for c in (meta.json().get("result", []) if meta.status == 200 else [])}
    return {}


def first_result(js) -> dict:
    """The first query result of a chart data response ({} when there is none)."""
    res = (js.get("result") or [{}]) if isinstance(js, dict) else [{}]
    return res[0] if res else {}


def render(page, url, slug, shot, timeout_s=90, full_page=False, maps=False):
    responses = []

    def on_response(resp):
        if "/api/v1/chart/data" in resp.url and resp.request.method == "POST":
            try:
                body = resp.request.post_data_json or {}
            except Exception:
                body = {}
            slice_id = (body.get("form_data") or {}).get("slice_id")
            try:
                js = resp.json()
            except Exception:
                js = {"error": resp.text()[:500]}
            try:   # milliseconds from sending the request to the end of the response: the server's share
                tm = resp.request.timing
                data_ms = tm["responseEnd"] - tm["requestStart"] if tm["responseEnd"] > 0 else None
            except Exception:
                data_ms = None
            responses.append({"slice_id": slice_id, "status": resp.status, "json": js, "data_ms": data_ms,
                              "at_s": time.time() - t0, "request": body})

    names = chart_names(page, url, slug)
    t0 = time.time()
    page.on("response", on_response)
    r = page.goto(f"{url}/superset/dashboard/{slug}/?standalone=1", wait_until="domcontentloaded")
    status = r.status if r else None
    n_charts = len(names)
    deadline = t0 + timeout_s
    while time.time() < deadline:
        if len({x["slice_id"] for x in responses}) >= n_charts and page.locator(LOADING).count() == 0:
            break
        page.wait_for_timeout(250)
    load_s = time.time() - t0
    page.wait_for_timeout(1500)   # let the charts' animations finish before the screenshot
    drawn = None
    if full_page:
        _scroll_through(page)
        page.wait_for_timeout(1500)
        drawn = page.evaluate(DRAWN_JS)
        page.set_viewport_size({"width": 1920, "height": max(1080, page.evaluate(
            "Math.max(...[document.scrollingElement, ...document.querySelectorAll('*')]"
            ".map(e => e ? e.scrollHeight : 0))"))})
        page.wait_for_timeout(2000)
        page.screenshot(path=shot, full_page=True)
    else:
        page.screenshot(path=shot)
    page.remove_listener("response", on_response)
    painted = map_colours(page, shot[:-4]) if maps else None
    dom_errors = []
    for sel in ERROR_SELECTORS:
        for el in page.locator(sel).all():
            txt = el.inner_text().strip()
            if txt:
                dom_errors.append(txt[:300])
    if full_page:
        page.set_viewport_size({"width": 1920, "height": 1080})
    charts = {}
    for x in responses:
        js = x["json"]
        first = first_result(js)
        charts[str(x["slice_id"])] = {
            "status": x["status"], "error": (js.get("message") or js.get("errors") or first.get("error")) if isinstance(js, dict) else None,
            "slice_name": names.get(str(x["slice_id"])), "rowcount": first.get("rowcount"), "colnames": first.get("colnames"), "data": (first.get("data") or [])[:200],
            "data_s": round(x["data_ms"] / 1000, 3) if x.get("data_ms") is not None else None,
            # the request the page sent: what the load benchmark (benchmarks/load.py) replays
            "request": x["request"]}
    data_s = [c["data_s"] for c in charts.values() if c.get("data_s") is not None]
    first_at = min((x["at_s"] - (x["data_ms"] or 0) / 1000 for x in responses), default=None)
    return {"slug": slug, "http_status": status, "n_charts": n_charts, "load_s": round(load_s, 2),
            # when the first chart request went out (front-end bootstrap), and the slowest chart data request
            "first_chart_request_s": round(first_at, 2) if first_at is not None else None,
            "max_chart_data_s": max(data_s) if data_s else None,
            "charts": charts, "dom_errors": dom_errors, "screenshot": shot, "drawn": drawn, "maps": painted}


def click_cell(page, url, slug, spec, shot, settle_ms=2500, timeout_s=60):
    """Click the first cell reading ``spec["text"]`` in the chart named ``spec["chart"]`` and collect the chart data
    requests the click causes (a cross-filter re-queries every chart in its scope)."""
    seen = []

    def on_response(resp):
        if "/api/v1/chart/data" in resp.url and resp.request.method == "POST":
            try:
                body = resp.request.post_data_json or {}
                js = resp.json()
            except Exception:
                body, js = {}, {}
            seen.append((time.time(), body, resp.status, js))

    names = chart_names(page, url, slug)
    box = page.locator(f'[data-test-chart-name="{spec["chart"]}"]')
    box.scroll_into_view_if_needed()
    if spec.get("text"):
        cell = box.locator("td").filter(has_text=re.compile("^" + re.escape(spec["text"]) + "$")).first
    else:     # the cell at (row, col) of the table's first page
        cell = box.locator("tbody tr").nth(int(spec.get("row", 0))).locator("td").nth(int(spec.get("col", 0)))
    text = cell.inner_text(timeout=60_000).strip()
    page.on("response", on_response)
    cell.click()
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        page.wait_for_timeout(250)
        last = seen[-1][0] if seen else None
        if last and time.time() - last > settle_ms / 1000 and page.locator(LOADING).count() == 0:
            break
    page.remove_listener("response", on_response)
    page.wait_for_timeout(1000)
    page.screenshot(path=shot)
    out = {}
    for _, body, status, js in seen:
        sid = str((body.get("form_data") or {}).get("slice_id"))
        first = first_result(js)
        queries = body.get("queries") or [{}]
        out[names.get(sid, sid)] = {"status": status, "filters": queries[0].get("filters"),
                                    "extras": queries[0].get("extras"), "rowcount": first.get("rowcount"),
                                    "data": (first.get("data") or [])[:200]}
    return {"chart": spec["chart"], "text": text, "charts": out, "screenshot": shot}


def main(job_path, result_path):
    job = json.load(open(job_path, encoding="utf-8"))
    url, out = job["url"], job["out_dir"]
    os.makedirs(out, exist_ok=True)
    results = []
    # Playwright gives every launch a fresh temporary profile (its own --user-data-dir).
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("YIBAO_CHROMIUM", "/usr/bin/chromium"), args=FLAGS)
        for visit in job["visits"]:
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            me = login(ctx, url, visit["username"], visit["password"])
            page = ctx.new_page()
            for slug in visit["dashboards"]:
                shot = os.path.join(out, f"{visit['username']}__{re.sub(r'[^a-z0-9_-]', '_', slug)}.png")
                res = render(page, url, slug, shot, full_page=bool(visit.get("full_page")), maps=bool(visit.get("maps")))
                res["username"] = me.get("username")
                if slug in (visit.get("clicks") or {}):
                    res["after_click"] = click_cell(page, url, slug, visit["clicks"][slug], shot.replace(".png", "__click.png"))
                results.append(res)
            ctx.close()
        browser.close()
    json.dump(results, open(result_path, "w", encoding="utf-8"), ensure_ascii=False, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
