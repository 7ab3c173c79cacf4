"""Mutation score of the modules that carry authorization, the cancel workflow, the notifier and the store.

    python -m benchmarks.mutation_score [--modules authz,handlers] [--subset ci] [--max-children 2]
                                        [--report-only] [--fail-under 90]

Runs mutmut (`pip install -e '.[mutation]'`) over the chosen modules with the unit-level tests that
cover them (configured in pyproject.toml, [tool.mutmut]), then prints per module: killed /
behaviour-changing mutants, and every survivor as file:line, the mutation, and the verdict recorded
for it in benchmarks/mutation_survivors.toml (equivalent / needs a test / not worth killing).

A mutant counts as killed when a test failed, timed out or crashed with it. A mutant no selected test
reaches counts as a survivor. Equivalent mutants (no input, through the module's interface, can tell
them from the original) are listed in mutation_survivors.toml with the argument why, and left out of
the denominator; "not worth killing" ones stay in it, so the score never hides them.

--subset ci mutates only the functions listed under [ci] in mutation_survivors.toml: a fixed set
small enough to run in a few minutes. --report-only prints the last run's results without running.
--fail-under P makes it a gate (CI runs it so): it exits 1 when a module scores below P percent, or
when a survivor has no verdict yet - a new survivor is either killed by a test or judged, never ignored.
mutmut keeps its work in mutants/ (ignored by git); delete it to start from scratch.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERDICTS_FILE = Path(__file__).resolve().parent / "mutation_survivors.toml"

# The modules of the issue, by short name; each maps to its source file.
MODULES = {
    "authz": "jobbot/authz.py",
    "problems": "jobbot/render/problems.py",
    "handlers": "jobbot/handlers.py",
    "cancellation": "jobbot/cancellation.py",
    "loop": "jobbot/notifier/loop.py",
    "observe": "jobbot/notifier/observe.py",
    "deliver": "jobbot/notifier/deliver.py",
    "transitions": "jobbot/notifier/transitions.py",
    "live": "jobbot/notifier/live.py",
    "cards": "jobbot/notifier/cards.py",
    "base": "jobbot/store/base.py",
    "tracking": "jobbot/store/tracking.py",
    "ledger": "jobbot/store/ledger.py",
    "claims": "jobbot/store/claims.py",
    "audit": "jobbot/store/audit.py",
    "store_cards": "jobbot/store/cards.py",
    "sql": "jobbot/store/sql.py",
    "sqlite": "jobbot/store/sqlite.py",
    "postgres": "jobbot/store/postgres.py",
}

# mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into what the score needs.
KILLED = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}
SURVIVED = {0, 5, 33}


@dataclass
class Survivor:
    name: str
    location: str
    removed: str
    added: str
    status: str
    verdict: str = "unjudged"
    reason: str = ""


@dataclass
class ModuleScore:
    path: str
    killed: int = 0
    by_mypy: int = 0
    equivalent: int = 0
    not_checked: int = 0
    survivors: list[Survivor] = field(default_factory=list)

    @property
    def behaviour_changing(self) -> int:
        return self.killed + len(self.survivors)


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def function_spans(source: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(class name or "", function name) -> first and last line, for top-level functions and methods."""
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spans[("", node.name)] = (node.lineno, node.end_lineno or node.lineno)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    spans[(node.name, item.name)] = (item.lineno, item.end_lineno or item.lineno)
    return spans


def split_key(key: str, module: str) -> tuple[str, str]:
    """mutmut's key `jobbot.authz.xǁAccessǁcheck_cancel__mutmut_3` -> ("Access", "check_cancel")."""
    local = key.removeprefix(module + ".").rsplit("__mutmut_", 1)[0]
    if local.startswith("xǁ"):
        _, klass, function = local.split("ǁ")
        return klass, function
    return "", local.removeprefix("x_")


def describe(
    key: str, path: str, source_lines: list[str], spans: dict[tuple[str, str], tuple[int, int]]
) -> tuple[str, str, str]:
    """file:line, the original line and the mutated one, from mutmut's diff of the function."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(key, path=str(ROOT / "mutants" / path)).splitlines()
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    klass, function = split_key(key, module_name(path))
    first, last = spans.get((klass, function), (1, len(source_lines)))
    line_number = first
    # The line before the first change, from the diff's context: it tells apart lines that read the same.
    before = ""
    for line in diff:
        if line.startswith("-") and not line.startswith("---"):
            break
        if line.startswith(" "):
            before = line[1:].strip()
    if removed:
        wanted = removed[0].strip()
        stripped = [text.strip() for text in source_lines[first - 1 : last]]
        candidates = [first + i for i, text in enumerate(stripped) if text == wanted]
        if candidates:
            after_context = [n for n in candidates if source_lines[n - 2].strip() == before]
            line_number = (after_context or candidates)[0]
        else:
            close = difflib.get_close_matches(wanted, stripped, 1)
            if close:
                line_number = first + stripped.index(close[0])
    return (
        f"{path}:{line_number}",
        " / ".join(s.strip() for s in removed),
        " / ".join(s.strip() for s in added),
    )


def load_verdicts() -> dict[str, dict[str, str]]:
    """Mutant name -> {"verdict", "reason"}, from the [[judged]] groups of mutation_survivors.toml."""
    with VERDICTS_FILE.open("rb") as f:
        data = tomllib.load(f)
    verdicts: dict[str, dict[str, str]] = {}
    for group in data.get("judged", []):
        for name in group["mutants"]:
            verdicts[name] = {"verdict": group["verdict"], "reason": group["reason"]}
    return verdicts


def scopes() -> dict[str, list[str]]:
    """Module path -> the mutant patterns its score covers, for modules measured in part ([scope])."""
    with VERDICTS_FILE.open("rb") as f:
        return {path: list(patterns) for path, patterns in tomllib.load(f).get("scope", {}).items()}


def ci_functions() -> list[str]:
    with VERDICTS_FILE.open("rb") as f:
        return list(tomllib.load(f).get("ci", {}).get("functions", []))


def score(path: str, verdicts: dict[str, dict[str, str]], only: list[str] | None) -> ModuleScore:
    meta = ROOT / "mutants" / (path + ".meta")
    result = ModuleScore(path)
    if not meta.exists():
        return result
    exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    source = (ROOT / path).read_text()
    source_lines = source.splitlines()
    spans = function_spans(source)
    for key, code in sorted(exit_codes.items(), key=lambda item: natural(item[0])):
        if only is not None and not any(matches(key, pattern) for pattern in only):
            continue
        verdict = verdicts.get(key, {})
        if code is None:
            result.not_checked += 1
        elif verdict.get("verdict") == "equivalent":
            result.equivalent += 1
        elif code in KILLED:
            result.killed += 1
            result.by_mypy += code == 37
        else:
            location, removed, added = describe(key, path, source_lines, spans)
            status = "not reached by the selected tests" if code in {5, 33} else "survived"
            if code not in SURVIVED:
                status = f"suspicious (exit {code})"
            result.survivors.append(
                Survivor(
                    key,
                    location,
                    removed,
                    added,
                    status,
                    verdict.get("verdict", "unjudged"),
                    verdict.get("reason", ""),
                )
            )
    return result


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def natural(key: str) -> tuple[str, int]:
    stem, _, number = key.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def matches(key: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(key, pattern)


def run_mutmut(patterns: list[str], max_children: int) -> float:
    """Run mutmut on the mutants matching `patterns`; its progress goes to mutants/run.log."""
    (ROOT / "mutants").mkdir(exist_ok=True)
    started = time.monotonic()
    # mutmut runs the type_check_command by name: the venv's mypy first.
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    with (ROOT / "mutants" / "run.log").open("w") as log:
        subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *patterns],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--modules",
        default=",".join(MODULES),
        help="comma-separated: " + ",".join(MODULES),
    )
    parser.add_argument("--subset", choices=["ci"], help="only the fixed functions listed for CI")
    parser.add_argument("--max-children", type=int, default=2, help="mutmut worker processes")
    parser.add_argument(
        "--report-only", action="store_true", help="print the last run's results, run nothing"
    )
    parser.add_argument(
        "--fail-under",
        type=float,
        metavar="PERCENT",
        help="exit 1 if a module scores below PERCENT or a survivor has no verdict",
    )
    args = parser.parse_args(argv)

    paths = [MODULES[name.strip()] for name in args.modules.split(",") if name.strip()]
    only = ci_functions() if args.subset == "ci" else None
    if only is not None:
        paths = [p for p in paths if any(pattern.startswith(module_name(p) + ".") for pattern in only)]
    scope = scopes()
    if only is None:
        patterns = [p for path in paths for p in scope.get(path, [module_name(path) + ".*"])]
    else:
        patterns = only
    if not args.report_only:
        elapsed = run_mutmut(patterns, args.max_children)
        print(f"mutmut ran {' '.join(patterns)} in {elapsed:.0f} s with {args.max_children} workers")

    verdicts = load_verdicts()
    print()
    print(
        "| module | killed / behaviour-changing | score | by tests alone | killed by mypy | equivalent "
        "(left out) | not run |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    scores = [score(path, verdicts, only if only is not None else scope.get(path)) for path in paths]

    def label(path: str) -> str:
        return f"{path} (the part in [scope])" if only is None and path in scope else path

    for s in scores:
        tested = s.behaviour_changing - s.by_mypy
        print(
            f"| {label(s.path)} | {s.killed} / {s.behaviour_changing} "
            f"| {percent(s.killed, s.behaviour_changing)} "
            f"| {s.killed - s.by_mypy} / {tested} ({percent(s.killed - s.by_mypy, tested)}) | {s.by_mypy} "
            f"| {s.equivalent} | {s.not_checked} |"
        )
    for s in scores:
        if not s.survivors:
            continue
        print(f"\nSurvivors in {s.path} (grouped by line; mutant number, verdict, the mutated line):")
        by_line: dict[str, list[Survivor]] = {}
        for v in s.survivors:
            by_line.setdefault(v.location, []).append(v)
        for location, group in sorted(by_line.items(), key=lambda item: int(item[0].rpartition(":")[2])):
            print(f"  {location}  - {group[0].removed}")
            said = ""
            for v in group:
                number = v.name.rpartition("__mutmut_")[2]
                function = ".".join(part for part in split_key(v.name, module_name(s.path)) if part)
                note = "" if v.status == "survived" else f" ({v.status})"
                print(f"      {function} #{number} [{v.verdict}]{note}  + {v.added}")
                if v.reason and v.reason != said:
                    print(f"          why: {v.reason}")
                said = v.reason
    if args.fail_under is None:
        return 0
    failures = gate(scores, args.fail_under)
    print()
    for failure in failures:
        print(f"FAILED: {failure}")
    if not failures:
        print(f"Passed: every module scores at least {args.fail_under:g}% and every survivor is judged.")
    return 1 if failures else 0


def gate(scores: list[ModuleScore], fail_under: float) -> list[str]:
    """What fails the gate: a score below the bar, a survivor without a verdict, a run that did not finish."""
    failures: list[str] = []
    for s in scores:
        if s.not_checked:
            failures.append(f"{s.path}: {s.not_checked} mutants were not run")
        if s.behaviour_changing and 100 * s.killed / s.behaviour_changing < fail_under:
            failures.append(
                f"{s.path}: {percent(s.killed, s.behaviour_changing)} of behaviour-changing mutants "
                f"killed, below {fail_under:g}%"
            )
        unjudged = [v.name for v in s.survivors if v.verdict == "unjudged"]
        if unjudged:
            failures.append(
                f"{s.path}: {len(unjudged)} survivors have no verdict in {VERDICTS_FILE.name} "
                f"(kill each with a test, or judge it): {', '.join(unjudged)}"
            )
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
