"""Text that looks like the GraphScope bulk loader's glog output, for jobs' `log` field."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Labels of the graphs people load in GraphScope examples (modern graph, LDBC SNB).
VERTEX_LABELS = ("person", "software", "comment", "post", "forum", "organisation", "place", "tag")
EDGE_LABELS = ("knows", "created", "hasCreator", "likes", "replyOf", "containerOf", "hasMember", "hasTag")

_DATA_DIR = "/home/graphscope/data"


@dataclass(frozen=True)
class Labels:
    """The vertex and edge labels one loading job works through, in order."""

    vertices: tuple[str, ...]
    edges: tuple[str, ...]


def pick_labels(rng: random.Random) -> Labels:
    """A plausible small schema to load."""
    return Labels(
        tuple(rng.sample(VERTEX_LABELS, rng.randint(2, 4))),
        tuple(rng.sample(EDGE_LABELS, rng.randint(1, 4))),
    )


def labels_from_mapping(mapping: Mapping[str, object], rng: random.Random) -> Labels:
    """The labels a SchemaMapping names, or a random schema when it names none we can read."""
    vertices = tuple(_names(mapping.get("vertex_mappings"), ("type_name",)))
    edges = tuple(_names(mapping.get("edge_mappings"), ("type_triplet", "edge")))
    if not vertices and not edges:
        return pick_labels(rng)
    return Labels(vertices, edges)


def _names(entries: object, keys: Sequence[str]) -> list[str]:
    names: list[str] = []
    if not isinstance(entries, list):
        return names
    for entry in entries:
        value: object = entry
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            names.append(value[:64])
    return names


def line(ts: float, pid: int, source: str, text: str, level: str = "I") -> str:
    """One glog line: `I0611 10:13:20.123456  4242 bulk_loader.cc:109] text`."""
    t = time.gmtime(ts)
    micros = int((ts % 1) * 1_000_000)
    return (
        f"{level}{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{micros:06d}"
        f" {pid:>6} {source}] {text}\n"
    )


def opening(start: float, pid: int, graph_id: str, labels: Labels) -> str:
    """What the loader prints in its first moments, before any data is read."""
    return "".join(
        (
            line(
                start,
                pid,
                "bulk_loader.cc:109",
                f"Loading graph {graph_id}, parallelism: 4, build_csr_in_mem: 1",
            ),
            line(
                start + 0.004,
                pid,
                "loading_config.cc:452",
                "Loading config: data_source: file, delimiter: '|', header_row: true, import_option: init",
            ),
            line(
                start + 0.011,
                pid,
                "schema.cc:1002",
                f"Schema loaded: {len(labels.vertices)} vertex labels, {len(labels.edges)} edge labels",
            ),
        )
    )


def progress(
    rng: random.Random, start: float, end: float, pid: int, labels: Labels
) -> list[tuple[float, str]]:
    """Timestamped lines spread over the run: each label's file is started, then finished."""
    steps = [("vertices", label) for label in labels.vertices] + [("edges", label) for label in labels.edges]
    if not steps:
        return []
    span = max(end - start, 0.0) * 0.9 / len(steps)
    lines: list[tuple[float, str]] = []
    for index, (kind, label) in enumerate(steps):
        begun = start + 0.05 + index * span
        done = begun + span * rng.uniform(0.5, 0.95)
        path = f"{_DATA_DIR}/{label}.csv"
        source = "abstract_arrow_fragment_loader.cc:" + ("187" if kind == "vertices" else "263")
        lines.append((begun, line(begun, pid, source, f"Start loading {kind} of label {label} from {path}")))
        rows = rng.randint(1_000, 5_000_000)
        lines.append(
            (
                done,
                line(
                    done,
                    pid,
                    source,
                    f"Finish loading {kind} of label {label}: {rows} rows, {done - begun:.2f}s",
                ),
            )
        )
    return lines


def ending(rng: random.Random, start: float, end: float, pid: int, graph_id: str, status: str) -> str:
    """The loader's last words: a summary on SUCCESS, an error and an abort on FAILED, else nothing."""
    before = max(start, end - 0.02)
    if status == "SUCCESS":
        return line(
            before, pid, "mutable_property_fragment.cc:223", f"Dumping fragment of graph {graph_id}"
        ) + line(end, pid, "bulk_loader.cc:183", f"Finished bulk loading in {end - start:.1f}s")
    if status == "FAILED":
        label = rng.choice(EDGE_LABELS)
        got = rng.randint(1, 3)
        return (
            line(
                before,
                pid,
                "abstract_arrow_fragment_loader.cc:302",
                f"Failed to read {_DATA_DIR}/{label}.csv: Invalid: CSV parse error: "
                f"Expected 4 columns, got {got}: 933|2010-03-",
                level="E",
            )
            + line(
                end,
                pid,
                "bulk_loader.cc:171",
                "Check failed: status.ok() Loading failed, aborting",
                level="F",
            )
            + "*** Check failure stack trace: ***\n"
        )
    return ""


class HistoryLogs:
    """Fast, varied logs of roughly `log_bytes` for seeding a long job history."""

    def __init__(self, rng: random.Random, log_bytes: int) -> None:
        self._rng = rng
        self._log_bytes = max(0, log_bytes)
        # A pool of pre-rendered line bodies: each job takes a window of it, so seeding 100k jobs
        # costs a join per job instead of formatting every line.
        pool: list[str] = []
        for _ in range(512):
            kind, label = rng.choice((("vertices", VERTEX_LABELS), ("edges", EDGE_LABELS)))
            name = rng.choice(label)
            pool.append(
                f"abstract_arrow_fragment_loader.cc:{rng.randint(150, 320)}] Finish loading {kind} of label "
                f"{name} from {_DATA_DIR}/{name}_{rng.randint(0, 99)}.csv: "
                f"{rng.randint(1_000, 9_000_000)} rows, {rng.uniform(0.01, 40):.2f}s"
            )
        self._pool = pool
        self._pool_twice = pool + pool
        self._average = sum(len(text) for text in pool) / len(pool) + 24

    def log(self, start: float, end: float, pid: int, graph_id: str, status: str) -> str:
        """One finished (or abandoned) job's whole log."""
        if self._log_bytes == 0:
            return ""
        # Hand-rolled stamps and one f-string per part: this runs 100,000 times when seeding.
        begun, ended, who = _stamp(start), _stamp(end), f"{pid:>6}"
        head = (
            f"I{begun}.000118 {who} bulk_loader.cc:109] Loading graph {graph_id}, parallelism: 4, "
            "build_csr_in_mem: 1\n"
            f"I{begun}.004163 {who} loading_config.cc:452] Loading config: data_source: file, "
            "delimiter: '|', header_row: true, import_option: init\n"
        )
        if status == "SUCCESS":
            tail = f"I{ended}.981022 {who} bulk_loader.cc:183] Finished bulk loading in {end - start:.1f}s\n"
        elif status == "FAILED":
            tail = (
                f"E{ended}.970310 {who} abstract_arrow_fragment_loader.cc:302] Failed to read "
                f"{_DATA_DIR}/knows.csv: Invalid: CSV parse error: Expected 4 columns, got 2: 933|2010-03-\n"
                f"F{ended}.981022 {who} bulk_loader.cc:171] Check failed: status.ok() "
                "Loading failed, aborting\n"
            )
        else:
            tail = ""
        count = max(1, int((self._log_bytes - len(head) - len(tail)) / self._average))
        first = self._rng.randrange(len(self._pool))
        if count <= len(self._pool):
            window = self._pool_twice[first : first + count]
        else:
            window = [self._pool[(first + i) % len(self._pool)] for i in range(count)]
        prefix = f"I{begun}.{first * 1951 % 1_000_000:06d} {who} "
        return head + prefix + ("\n" + prefix).join(window) + "\n" + tail


def _stamp(ts: float) -> str:
    t = time.gmtime(ts)
    return f"{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
