"""An emulator of the GraphScope Interactive admin API (jobs routes), for tests, demos and benchmarks.

By default it does what the real server (upstream 41c16144) does, harsh parts included; each kinder
behaviour is an explicit option (`Quirks` field, `Emulator` argument, or CLI flag):

- A cancel kills the stored process id unless the job is SUCCESS, FAILED or CANCELLED: an UNKNOWN
  job is killed too. A pid <= 0 answers 500 "Invalid process id: 0" before the status is read.
- The killed loader's thread races the cancel: a cancelled job often ends FAILED, before or just after
  the cancel's reply, decided per job from the seed (`Emulator.cancel_fate`).
  Off: `Quirks(cancel_ends_failed=0)`, `--cancel-ends-failed 0`.
- A job stranded RUNNING by a restart keeps a pid that may now be nobody's (500 "No such process"),
  another user's (500 "Operation not permitted") or one of the server's own (200, an unrelated process
  dies: `Emulator.killed_strangers`), decided per job. Choose: `mark_stale(job_id, fate=PID_GONE)`,
  `add_job(stale_pid=True, pid_fate=...)`.
- A RUNNING job's end_time is whatever the unwritten field holds (0, an old time, any 64-bit value).
  Off: `Quirks(running_end_time_zero=True)`, `--running-end-time-zero`.
- Any status text but the four real ones reads back as UNKNOWN.
  Off: `Quirks(raw_status_text=True)`, `--raw-status-text`.
- A log lives in a file that can be cleaned away: `lose_log()`, `restart(lose_logs=True)`; it then reads "".
- Data loading: a graph outside `graphs` is 404 (code 4); the served graph and a graph already loading
  are 400 (code 111). Choose: `Emulator(graphs=..., serving=None)`, `--graphs`, `--serving`.
- `GET /v1/job/` lists like `GET /v1/job`; `lose_counter()` makes every new load fail with 500
  "got an existing key".
"""

from jobbot.emulator.demo import DemoRunner
from jobbot.emulator.faults import Faults
from jobbot.emulator.jobs import (
    PID_GONE,
    PID_OTHER_USER,
    PID_REUSED,
    EmulatedJob,
    ExistingKey,
    GraphLocked,
    InvalidProcessId,
    JobNotRunning,
    KillFailed,
    UnknownGraph,
    UnknownJob,
)
from jobbot.emulator.model import (
    CANCEL_FAILED_AT_ONCE,
    CANCEL_FAILED_LATER,
    CANCEL_STAYS,
    Emulator,
)
from jobbot.emulator.quirks import Quirks
from jobbot.emulator.routes import CANCEL_JOB, DATALOADING, GET_JOB, LIST_JOBS

__all__ = [
    "CANCEL_FAILED_AT_ONCE",
    "CANCEL_FAILED_LATER",
    "CANCEL_JOB",
    "CANCEL_STAYS",
    "DATALOADING",
    "GET_JOB",
    "LIST_JOBS",
    "PID_GONE",
    "PID_OTHER_USER",
    "PID_REUSED",
    "DemoRunner",
    "EmulatedJob",
    "Emulator",
    "ExistingKey",
    "Faults",
    "GraphLocked",
    "InvalidProcessId",
    "JobNotRunning",
    "KillFailed",
    "Quirks",
    "UnknownGraph",
    "UnknownJob",
]
