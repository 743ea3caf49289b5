"""One configuration entry point, documented in one table.

README.md's section "Configuration" is rendered from ``yibao.config`` (``python -m yibao.config --write-readme``);
these tests fail when it is stale, when a setting has no row, when the code (anywhere in the repository: stages,
benchmarks, notebooks, dbt files, tests) reads an environment variable that the section does not document, and
when a module reads a setting's variable itself instead of going through :func:`yibao.config.load_settings`.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path

from yibao import config
from yibao.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"var", "target", "dbt_packages", "logs", "node_modules", "__pycache__"}
SUFFIXES = {".py", ".ipynb", ".yml", ".yaml", ".toml", ".sql", ".sh", ".cfg", ".ini"}
# any YIBAO_ name (not the bundle's placeholder __YIBAO_READ_PATH__, not the bare prefix "YIBAO_")
PROJECT_VAR = re.compile(r"(?<![A-Za-z0-9_])YIBAO_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])")
_NAME = r"""\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']"""
# reads of a named variable: os.environ.get / os.getenv / setdefault (set unless already set: the environment
# wins) / os.environ[name] not assigned to / name in os.environ / dbt's env_var(name)
ENV_READ = re.compile(rf"""\bos\.environ\.get{_NAME}|\bos\.getenv{_NAME}|\bos\.environ\.setdefault{_NAME}"""
                      rf"""|\bos\.environ\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\](?!\s*=[^=])"""
                      rf"""|["']([A-Za-z_][A-Za-z0-9_]*)["']\s+in\s+os\.environ\b|\benv_var{_NAME}""")
# a module that reads a setting's variable itself although the setting exists (none left: add an entry only with
# a reason, and remove it once the module goes through the settings)
PENDING: set[tuple[str, str]] = set()


def code_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if (d == ".ci" or not d.startswith(".")) and d not in SKIP_DIRS
                       and not d.endswith(".egg-info")]
        for f in filenames:
            p = Path(dirpath, f)
            if p.suffix in SUFFIXES or f == "Makefile" or p.parent.name == ".ci":
                yield p


def env_reads(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in ENV_READ.finditer(text)}


def env_names_in_code(root: Path) -> dict[str, set[str]]:
    """{variable: {file, ...}} for every YIBAO_ name and every variable read by name in the code under root."""
    out: dict[str, set[str]] = {}
    for p in code_files(root):
        text = p.read_text(encoding="utf-8", errors="replace")
        for name in set(PROJECT_VAR.findall(text)) | env_reads(text):
            out.setdefault(name, set()).add(str(p.relative_to(root)))
    return out


def undocumented(root: Path, section: str) -> dict[str, set[str]]:
    documented = config.documented_names(section)
    return {k: v for k, v in env_names_in_code(root).items() if k not in documented}


def _section() -> str:
    return config.readme_section((REPO / "README.md").read_text(encoding="utf-8"))


def test_readme_configuration_is_rendered_from_the_code():
    assert _section() == config.render_docs(), "README.md is stale: run python -m yibao.config --write-readme"


def test_every_setting_has_a_row_with_its_variable():
    section = _section()
    for f in fields(Settings):
        assert f"\n| {f.name} | `{config._ENV[f.name]}` |" in section, f.name
    assert set(config.SETTINGS) == {f.name for f in fields(Settings)}


def test_every_environment_variable_read_in_the_code_is_documented():
    found = env_names_in_code(REPO)
    assert {"YIBAO_CONFIG", "YIBAO_FAULT_AT", "YIBAO_USER", "YIBAO_CHROMIUM", "DBT_INDIRECT_SELECTION"} <= set(found)
    missing = undocumented(REPO, _section())
    assert not missing, f"environment variables read in the code but not in README.md's Configuration: {missing}"


def test_the_check_catches_an_undocumented_variable(tmp_path):
    # (the names are assembled so that this file itself reads none of them)
    name, other, dbt_var = "YIBAO_" + "NOT_DOCUMENTED", "OTHER_" + "TOOL_HOME", "DBT_" + "HOST_X"
    get, getenv, env_var = "os.environ" + ".get", "os" + ".getenv", "env" + "_var"
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "mod.py").write_text(f'import os\nx = {get}("{name}")\ny = {getenv}("{other}")\n'
                                               'os.environ["WRITTEN"] = "1"\n')
    (tmp_path / "profiles.yml").write_text(f"host: \"{{{{ {env_var}('{dbt_var}') }}}}\"\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "ignored.py").write_text(f'import os\n{get}("IN_A_VENV")\n')
    missing = undocumented(tmp_path, config.render_docs())
    assert missing == {name: {"stage/mod.py"}, other: {"stage/mod.py"}, dbt_var: {"profiles.yml"}}
    # documented variables pass
    (tmp_path / "stage" / "mod.py").write_text(f'import os\n{get}("YIBAO_STEWARDS")\n')
    (tmp_path / "profiles.yml").write_text(f"host: \"{{{{ {env_var}('SPARK_REMOTE') }}}}\"\n")
    assert undocumented(tmp_path, config.render_docs()) == {}


def test_settings_variables_are_read_only_through_yibao_config():
    setting_vars = set(config._ENV.values())
    direct = set()
    for p in code_files(REPO):
        rel = str(p.relative_to(REPO))
        if p.suffix == ".py" and rel != "yibao/config.py":
            direct |= {(rel, v) for v in env_reads(p.read_text(encoding="utf-8", errors="replace")) & setting_vars}
    assert direct - PENDING == set(), "read these through yibao.config.load_settings()"
    assert PENDING <= direct, f"routed through the settings now: remove from PENDING: {PENDING - direct}"


def test_file_locations_are_settings(tmp_path, monkeypatch):
    default = load_settings(env={})
    assert default.quality_rules_file == REPO / "quality" / "rules.toml"
    assert default.stewards_file == REPO / "quality" / "stewards.toml"
    assert default.fraud_config_file == REPO / "models" / "fraud" / "rules.toml"
    assert default.dbt_project == REPO / "dbt_project"
    assert all(p.exists() for p in (default.quality_rules_file, default.stewards_file, default.fraud_config_file,
                                    default.dbt_project / "dbt_project.yml"))
    toml = tmp_path / "yibao.toml"
    toml.write_text(f'stewards = "{tmp_path / "s.toml"}"\nquality_rules = "{tmp_path / "q.toml"}"\n'
                    f'fraud_config = "{tmp_path / "f.toml"}"\n')
    s = load_settings(toml, env={"YIBAO_QUALITY_RULES": str(tmp_path / "env.toml")})
    assert s.stewards_file == tmp_path / "s.toml"              # from the file
    assert s.quality_rules_file == tmp_path / "env.toml"       # the environment wins

    from yibao.fraud import config as fraud_config
    from yibao.quality import reference, stewards, suites
    from yibao.transform import runner

    monkeypatch.setenv("YIBAO_CONFIG", str(toml))
    monkeypatch.setenv("YIBAO_DBT_PROJECT_DIR", str(tmp_path / "dbt"))
    assert stewards.stewards_file() == tmp_path / "s.toml"
    assert suites.rules_file() == tmp_path / "q.toml"
    assert runner.project_dir() == tmp_path / "dbt"
    assert fraud_config.config_path() == tmp_path / "f.toml"
    assert reference.seeds_dir() == tmp_path / "dbt" / "seeds"


def test_readme_check_command(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Configuration\n\n{config.BEGIN}\nold table\n{config.END}\n\n## Next\n")
    monkeypatch.setattr(config, "README", readme)
    assert config.main(["--check-readme"]) == 1
    assert config.main(["--write-readme"]) == 0
    assert config.main(["--check-readme"]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n## Configuration\n\n") and text.endswith(f"{config.END}\n\n## Next\n")
