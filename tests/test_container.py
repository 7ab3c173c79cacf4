"""The container image without Docker: the Dockerfile's own install steps run here, on this Python, and
the installed jobbot serves, passes the image's HEALTHCHECK and stops on SIGTERM; the build context holds
no secret; the compose example names only real settings and emulator options."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from jobbot.config import Settings
from jobbot.emulator import Emulator
from jobbot.emulator.__main__ import build_parser
from tests import dockerfile
from tests.fakes import FakeSlack, FakeSocketMode
from tests.jobbot_child import BOT_TOKEN, http_mode_env
from tests.support import child_env, free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
# Steps of the runtime stage that set up the image's own user and directories: they need root and the
# image's filesystem, so this test leaves them to Docker (hadolint in .ci/run checks how they are written).
SYSTEM_STEPS = ("useradd", "chown")


def test_the_build_context_is_the_package_and_no_secret() -> None:
    """Only what the image is built from is sent to Docker: never .env, a local database, .venv or .git."""
    sent = {path.as_posix() for path in dockerfile.context_files(ROOT)}
    assert {"pyproject.toml", "README.md", "LICENSE", "jobbot/__main__.py"} <= sent
    assert not {p for p in sent if not (p.startswith("jobbot/") or "/" not in p)}
    assert not {p for p in sent if p.startswith((".env", ".venv", ".git", "tests/")) or p.endswith(".db")}
    assert not {p for p in sent if "__pycache__" in p}


def test_the_image_runs_jobbot_as_pid_1_unprivileged_with_a_healthcheck() -> None:
    """Exec-form ENTRYPOINT (SIGTERM reaches jobbot itself), a numeric non-root user, /healthz checked."""
    *_, runtime = dockerfile.parse(ROOT / "Dockerfile")
    assert runtime.one("ENTRYPOINT").exec_form == ["jobbot"]
    user = runtime.one("USER").arguments.split(":")[0]
    assert user.isdigit() and user != "0"
    check = runtime.one("HEALTHCHECK").exec_form
    assert check is not None and "/healthz" in check[-1]
    assert runtime.base.endswith(("-slim", "-slim-bookworm"))


@pytest.mark.slow
def test_the_dockerfiles_install_steps_give_a_jobbot_that_serves_and_stops(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Each stage's COPY and RUN steps, run as written (container paths mapped under a directory per
    stage, the image's Python played by a new virtualenv): the runtime stage's jobbot then starts with the
    image's ENV, answers the HEALTHCHECK, writes its store under WORKDIR and exits 0 on SIGTERM."""
    build, runtime = dockerfile.parse(ROOT / "Dockerfile")
    context = tmp_path / "context"
    for relative in dockerfile.context_files(ROOT):
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, context / relative)
    stage_roots = {build.name: tmp_path / "build", None: tmp_path / "runtime"}
    pythons = {}
    for stage in (build, runtime):
        root = stage_roots[stage.name]
        pythons[stage.name] = _new_python(tmp_path / f"python-{stage.name or 'runtime'}")
        _run_stage(stage, root, context, stage_roots, pythons[stage.name])

    # The image holds the PostgreSQL driver, for replicas (JOBBOT_DATABASE_URL=postgresql://...).
    driver = subprocess.run([pythons[None] / "bin" / "python", "-c", "import psycopg"], capture_output=True)
    assert driver.returncode == 0, driver.stderr
    runtime_root = stage_roots[None]
    # The image's SQLite path (/data/jobbot.db) lands under the runtime stage's directory too.
    image_env = {
        name: value.replace("sqlite:////", f"sqlite:///{runtime_root}/")
        for name, value in runtime.env().items()
    }
    image = _Image(runtime, runtime_root, pythons[None] / "bin", image_env)

    # HTTP mode, then Socket Mode (the manifest's default): the image's PORT (here a free one, as
    # `docker run -p` would map it) carries the probes in both, so the HEALTHCHECK holds in both.
    port = free_port()
    image.serve(http_mode_env(fake_slack.api_url, emulator.url, port), port)
    socket_server = FakeSocketMode().start()
    fake_slack.socket_url = socket_server.url
    try:
        port = free_port()
        socket_mode = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": "xapp-1-image-test",
            "SLACK_API_URL": fake_slack.api_url,
            "INTERACTIVE_ADMIN_ENDPOINT": emulator.url,
            "PORT": str(port),
        }
        image.serve(socket_mode, port, connected=socket_server.wait_connected)
    finally:
        socket_server.stop()


class _Image:
    """The installed runtime stage: its entry point started with its ENV and WORKDIR."""

    def __init__(self, stage: dockerfile.Stage, root: Path, bin_dir: Path, env: dict[str, str]) -> None:
        self.stage, self.bin_dir, self.env = stage, bin_dir, env
        self.workdir = _inside(root, stage.all("WORKDIR")[-1].arguments)
        assert "PORT" in env

    def serve(
        self, settings: dict[str, str], port: int, connected: Callable[[], object] = lambda: None
    ) -> None:
        """Start the image's ENTRYPOINT with `settings` over the image's ENV; the HEALTHCHECK passes while
        it runs, its store is under WORKDIR, SIGTERM stops it with 0, and the HEALTHCHECK then fails."""
        env = child_env(self.env | settings)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env['PATH']}"
        entrypoint = self.stage.one("ENTRYPOINT").exec_form
        healthcheck = self.stage.one("HEALTHCHECK").exec_form
        assert entrypoint is not None and healthcheck is not None
        process = subprocess.Popen(
            [str(self.bin_dir / entrypoint[0]), *entrypoint[1:]],
            env=env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until_listening(port, process)
            connected()
            passed = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
            assert passed.returncode == 0, passed.stderr
            assert (self.workdir / "jobbot.db").exists()
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output
        failed = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
        assert failed.returncode != 0


def _new_python(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    return path


def _inside(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


def _run_stage(
    stage: dockerfile.Stage, root: Path, context: Path, roots: dict[str | None, Path], python: Path
) -> None:
    workdir = root
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = _inside(root, instruction.arguments)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            _copy(instruction.arguments, workdir, root, context, roots)
        elif instruction.keyword == "RUN":
            for step in instruction.arguments.split(" && "):
                if step.split()[0] in SYSTEM_STEPS:
                    continue
                # Container paths (/wheels, /data) land under this stage's directory.
                command = re.sub(r"(?<=\s)/(?=\w)", f"{root}/", " " + step).strip()
                env = {**os.environ, "PATH": f"{python / 'bin'}{os.pathsep}{os.environ['PATH']}"}
                done = subprocess.run(
                    command, shell=True, cwd=workdir, env=env, capture_output=True, text=True, timeout=900
                )
                assert done.returncode == 0, f"{step}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _copy(arguments: str, workdir: Path, root: Path, context: Path, roots: dict[str | None, Path]) -> None:
    words = arguments.split()
    source_root = context
    if words[0].startswith("--from="):
        source_root = roots[words.pop(0).removeprefix("--from=")]
    *sources, destination = words
    target = _inside(root, destination) if destination.startswith("/") else workdir / destination
    for source in sources:
        origin = _inside(source_root, source) if source.startswith("/") else source_root / source
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)


def test_the_compose_example_names_real_settings_and_emulator_options() -> None:
    """docker-compose.yml: jobbot's environment holds only variables jobbot knows, its database URL
    matches the postgres service, and the emulator's command is one its parser accepts."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    jobbot = services["jobbot"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(jobbot["environment"]) <= known
    postgres = services["postgres"]["environment"]
    url = jobbot["environment"]["JOBBOT_DATABASE_URL"]
    user, password, db = postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]
    assert url == f"postgresql://{user}:{password}@postgres:5432/{db}"
    emulator = services["emulator"]
    assert emulator["entrypoint"] == ["python", "-m", "jobbot.emulator"]
    options = build_parser().parse_args(emulator["command"])
    assert jobbot["environment"]["INTERACTIVE_ADMIN_ENDPOINT"] == f"http://emulator:{options.port}"
    assert options.host == "0.0.0.0"
    assert jobbot["depends_on"]["postgres"]["condition"] == "service_healthy"
    *_, runtime = dockerfile.parse(ROOT / "Dockerfile")
    assert f"{runtime.env()['PORT']}:{runtime.env()['PORT']}" in jobbot["ports"]


def test_the_image_python_meets_the_package_requirement() -> None:
    """The image's Python is one the package supports (requires-python in pyproject.toml)."""
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(part) for part in requires.removeprefix(">=").split("."))
    for stage in dockerfile.parse(ROOT / "Dockerfile"):
        found = re.match(r"python:(\d+)\.(\d+)", stage.base)
        assert found and (int(found[1]), int(found[2])) >= minimum
    assert sys.version_info >= minimum
