"""Locust users for the dashboards' load test (driven by ``benchmarks/load.py``; not run by hand).

A simulated user logs in through Superset's login form as one of the demo users (the role mix of the plan file),
then, again and again, opens one of its role's dashboards as the browser does: the dashboard page, the
dashboard's metadata requests, then every chart-data request that role's page sent when it was recorded (row-level
security applies: a county user's requests return its county), and reads the dashboard for a think time.

Input, from the environment: ``YIBAO_LOAD_PLAN`` (JSON: users with password, weight and dashboards, each
dashboard's recorded requests with their class, think time) and ``YIBAO_LOAD_SAMPLES`` (where every request's
latency is written when Locust quits: ``[step, dashboard, milliseconds, ok, seconds since the last user started]``).
"""

from __future__ import annotations

import json
import os
import random
import re
import time

from locust import FastHttpUser, between, events, task

PLAN = json.load(open(os.environ["YIBAO_LOAD_PLAN"], encoding="utf-8"))
SAMPLES: list[list] = []
_spawned_at: list[float] = []


@events.spawning_complete.add_listener
def _spawned(user_count, **_kw):
    _spawned_at.append(time.time())


@events.request.add_listener
def _sample(request_type, name, response_time, response_length, exception, context, **_kw):
    since = time.time() - _spawned_at[0] if _spawned_at else None   # None: during the ramp-up
    SAMPLES.append([name, (context or {}).get("dashboard", ""), round(response_time, 1), exception is None, since])


@events.quitting.add_listener
def _dump(environment, **_kw):
    with open(os.environ["YIBAO_LOAD_SAMPLES"], "w", encoding="utf-8") as f:
        json.dump({"samples": SAMPLES, "spawned_at": _spawned_at[0] if _spawned_at else None}, f)


def _pick_user() -> dict:
    users = PLAN["users"]
    return random.choices(users, weights=[u["weight"] for u in users])[0]  # nosec B311: load mix, not security


class DashboardUser(FastHttpUser):
    wait_time = between(*PLAN["think_s"])

    def on_start(self) -> None:
        self.user = _pick_user()
        ctx = {"dashboard": ""}
        with self.client.get("/login/", name="login", context=ctx, catch_response=True) as r:
            m = re.search(r'id="csrf_token"[^>]*value="([^"]+)"', r.text or "")
            if not m:
                r.failure("no CSRF token on the login page")
                return
        with self.client.post("/login/", name="login", context=ctx, catch_response=True, allow_redirects=False,
                              data={"username": self.user["username"], "password": self.user["password"],
                                    "csrf_token": m.group(1)}) as r:
            if r.status_code not in (302, 303):
                r.failure(f"login refused: {r.status_code}")
        with self.client.get("/api/v1/security/csrf_token/", name="login", context=ctx, catch_response=True) as r:
            try:
                self.csrf = r.json()["result"]
            except Exception:
                r.failure(f"no CSRF token: {r.status_code}")

    @task
    def open_dashboard(self) -> None:
        slug = random.choice(self.user["dashboards"])  # nosec B311
        dash = PLAN["dashboards"][slug]
        ctx = {"dashboard": slug}
        self._get(f"/superset/dashboard/{slug}/", "dashboard page", ctx, html=True)
        for path in ("", "/charts", "/datasets"):
            self._get(f"/api/v1/dashboard/{slug}{path}", "dashboard api", ctx)
        for req in dash["requests"]:
            with self.client.post("/api/v1/chart/data", name=f"chart data: {req['class']}", context=ctx,
                                  json=req["body"], catch_response=True,
                                  headers={"X-CSRFToken": getattr(self, "csrf", ""), "Referer": self.host}) as r:
                if r.status_code != 200:
                    r.failure(f"{req['chart']}: HTTP {r.status_code} {(r.text or '')[:200]}")
                    continue
                try:
                    res = r.json()["result"]
                except Exception:
                    r.failure(f"{req['chart']}: not JSON")
                    continue
                err = next((q.get("error") for q in res if q.get("error")), None)
                if err:
                    r.failure(f"{req['chart']}: {err}"[:300])

    def _get(self, path: str, name: str, ctx: dict, html: bool = False) -> None:
        with self.client.get(path, name=name, context=ctx, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{path}: HTTP {r.status_code}")
            elif html and "dashboard" not in (r.text or ""):
                r.failure(f"{path}: not the dashboard page")
