"""The mutation-score command stays runnable and its configuration stays consistent (mutmut not needed)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from benchmarks import mutation_score

ROOT = Path(__file__).resolve().parent.parent


def test_help_runs_without_mutmut_installed() -> None:
    """`python -m benchmarks.mutation_score --help` exits 0, so the README's command keeps working."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.mutation_score", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--subset" in result.stdout


def test_mutmut_mutates_exactly_the_modules_the_score_reports() -> None:
    """pyproject's [tool.mutmut] only_mutate lists the same files as the command's module table."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        only_mutate = tomllib.load(f)["tool"]["mutmut"]["only_mutate"]
    assert sorted(only_mutate) == sorted(mutation_score.MODULES.values())


def test_every_judged_mutant_names_a_measured_module_and_a_known_verdict() -> None:
    """Each verdict in mutation_survivors.toml is one of the three and names a mutant of a measured module."""
    modules = tuple(mutation_score.module_name(path) + "." for path in mutation_score.MODULES.values())
    with mutation_score.VERDICTS_FILE.open("rb") as f:
        groups = tomllib.load(f).get("judged", [])
    for group in groups:
        assert group["verdict"] in {"equivalent", "needs a test", "not worth killing"}
        assert group["reason"].strip()
        for name in group["mutants"]:
            assert name.startswith(modules), name
            assert "__mutmut_" in name, name


def test_a_mutant_key_names_its_class_and_function() -> None:
    """mutmut's mangled key is read back as (class, function), which places a survivor on its line."""
    assert mutation_score.split_key("jobbot.authz.xǁAccessǁcheck_cancel__mutmut_3", "jobbot.authz") == (
        "Access",
        "check_cancel",
    )
    assert mutation_score.split_key("jobbot.handlers.x_explain__mutmut_12", "jobbot.handlers") == (
        "",
        "explain",
    )
