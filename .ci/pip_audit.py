"""pip-audit on both virtual environments (issue 20; SECURITY.md): the pipeline's installed packages and Superset's
pinned requirements.  Exit 1 when a known vulnerability is found that SECURITY.md does not accept (its ids are
listed in .ci/pip_audit_accepted.txt with the reason in SECURITY.md).

pip-audit asks an advisory service (PyPI's JSON API or OSV) about every package.  Where neither is reachable (the
build machines of this project reach only PyPI's package index), pip-audit cannot audit anything and would still
print "No known vulnerabilities found"; this script says instead, loudly, that the environment was NOT audited, and
exits 0: a machine that cannot see the advisories cannot fail on them.  Run `make audit` where the service is
reachable before a release.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ACCEPTED = REPO / ".ci" / "pip_audit_accepted.txt"


def audit(label: str, args: list[str]) -> tuple[list[str], int, int]:
    """(findings not accepted, packages audited, packages skipped) of one pip-audit run."""
    accepted = {line.split("#")[0].strip() for line in ACCEPTED.read_text().splitlines()} - {""}
    res = subprocess.run([sys.executable, "-m", "pip_audit", "-f", "json", "--progress-spinner", "off", *args],
                         capture_output=True, text=True, timeout=1800)
    try:
        report = json.loads(res.stdout)
    except json.JSONDecodeError:
        print(f"[{label}] pip-audit failed: {res.stderr.strip()[-2000:]}")
        return [f"{label}: pip-audit did not run"], 0, 0
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    findings = [f"{label}: {d['name']} {d['version']} {v['id']} (fix: {', '.join(v.get('fix_versions') or []) or '-'})"
                for d in deps for v in d.get("vulns", [])
                if v["id"] not in accepted and not set(v.get("aliases", [])) & accepted]
    return findings, len(deps) - len(skipped), len(skipped)


def main() -> int:
    from yibao.dashboards.serve import ensure_venv

    superset = ensure_venv(log=lambda *a, **k: None)   # the tests build it anyway; idempotent
    site = next((superset / "lib").glob("python3*/site-packages"))
    runs = [("pipeline venv", ["-l"]), ("superset venv", ["--path", str(site)])]
    failed = []
    for label, args in runs:
        findings, audited, skipped = audit(label, args)
        failed += findings
        if audited == 0 and skipped:
            print(f"[{label}] NOT AUDITED: the advisory service is unreachable from this machine "
                  f"({skipped} packages skipped); see SECURITY.md")
        else:
            print(f"[{label}] {audited} packages audited, {skipped} skipped, {len(findings)} unaccepted findings")
    for f in failed:
        print("VULNERABLE:", f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
