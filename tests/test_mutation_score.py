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


def test_the_gate_fails_below_the_bar_on_unjudged_survivors_and_on_mutants_not_run() -> None:
    """`--fail-under` passes a module at the bar with every survivor judged, and names each failure."""
    judged = mutation_score.Survivor("m.f__mutmut_1", "m.py:1", "a", "b", "survived", "not worth killing")
    unjudged = mutation_score.Survivor("m.f__mutmut_2", "m.py:2", "a", "b", "survived")
    at_the_bar = mutation_score.ModuleScore("m.py", killed=9, survivors=[judged])
    assert mutation_score.gate([at_the_bar], 90) == []

    below = mutation_score.ModuleScore("m.py", killed=8, survivors=[judged, judged])
    assert mutation_score.gate([below], 90) == ["m.py: 80% of behaviour-changing mutants killed, below 90%"]

    new_survivor = mutation_score.ModuleScore("m.py", killed=99, survivors=[unjudged])
    [failure] = mutation_score.gate([new_survivor], 90)
    assert "1 survivors have no verdict" in failure and "m.f__mutmut_2" in failure

    interrupted = mutation_score.ModuleScore("m.py", killed=10, not_checked=3)
    assert mutation_score.gate([interrupted], 90) == ["m.py: 3 mutants were not run"]


def test_a_scope_names_measured_functions_of_its_own_module() -> None:
    """Each [scope] entry is a measured module, and its patterns name mutants of that module only."""
    for path, patterns in mutation_score.scopes().items():
        assert path in mutation_score.MODULES.values(), path
        assert patterns
        for pattern in patterns:
            assert pattern.startswith(mutation_score.module_name(path) + "."), pattern
