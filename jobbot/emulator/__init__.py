"""An emulator of the GraphScope Interactive admin API (jobs routes), for tests, demos and benchmarks."""

from jobbot.emulator.demo import DemoRunner
from jobbot.emulator.faults import Faults
from jobbot.emulator.jobs import EmulatedJob, JobNotRunning, KillFailed, UnknownJob
from jobbot.emulator.model import Emulator
from jobbot.emulator.quirks import Quirks
from jobbot.emulator.routes import CANCEL_JOB, DATALOADING, GET_JOB, LIST_JOBS

__all__ = [
    "CANCEL_JOB",
    "DATALOADING",
    "GET_JOB",
    "LIST_JOBS",
    "DemoRunner",
    "EmulatedJob",
    "Emulator",
    "Faults",
    "JobNotRunning",
    "KillFailed",
    "Quirks",
    "UnknownJob",
]
