"""``command``: a program run from an argv template, never through a shell."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from warden.errors import ExecutorError
from warden.execute.executors import OUTPUT_LIMIT_BYTES, ExecutorResult, Job, cap
from warden.execute.executors._template import names_in, render, values_of


def render_argv(template: Sequence[str], values: dict[str, str]) -> list[str]:
    """One argv element per template element, whatever the values hold: spaces, quotes,
    ``;`` or ``$(...)`` stay literal text inside their element. Refused: a value with a
    NUL byte, a value that makes an element start with ``-`` where the template's does
    not (it would turn into an option), a value with a ``.`` or ``..`` segment
    (``render``), and an element that values make ``.`` or ``..`` as a whole."""
    argv: list[str] = []
    for element in template:
        names = names_in(element)
        for name in names:
            if "\0" in values.get(name, ""):
                raise ExecutorError(f"{name} holds a NUL byte", recoverable=False)
        rendered = render(element, values)
        if names and rendered.startswith("-") and not element.startswith("-"):
            raise ExecutorError(
                f"argv element {element!r} would start with '-' ({rendered!r}): refused as "
                "an option injection", recoverable=False)
        if names and rendered in (".", ".."):
            raise ExecutorError(
                f"argv element {element!r} would be {rendered!r}: '.' and '..' are refused as "
                "an argument", recoverable=False)
        argv.append(rendered)
    if not argv or not argv[0]:
        raise ExecutorError("the command is empty", recoverable=False)
    return argv


@dataclass(frozen=True, slots=True)
class Completed:
    """How a program ended: its exit code (None when it was killed at the timeout) and the
    first bytes of its merged stdout and stderr."""

    returncode: int | None
    output: bytes
    dropped_bytes: int


def run_argv(argv: Sequence[str], *, path: str, timeout_s: float,
             limit_bytes: int = OUTPUT_LIMIT_BYTES) -> Completed:
    """Run ``argv`` without a shell, stdin closed, with only ``PATH=path`` (and a UTF-8
    locale) in its environment, in its own process group; kill the group at the timeout.
    Keeps at most ``limit_bytes`` of output and drains the rest so the program never
    blocks on a full pipe. Raises ``ExecutorError`` when the program cannot be started."""
    program = shutil.which(argv[0], path=path) if os.sep not in argv[0] else argv[0]
    if program is None:
        raise ExecutorError(f"{argv[0]!r} is not on the command path {path!r}",
                            recoverable=False)
    try:
        proc = subprocess.Popen(
            list(argv), executable=program, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={"PATH": path, "LANG": "C.UTF-8"}, start_new_session=True, shell=False,
        )
    except OSError as exc:
        raise ExecutorError(f"cannot start {argv[0]!r}: {exc}", recoverable=False) from exc
    kept = bytearray()
    dropped = 0

    def drain() -> None:
        nonlocal dropped
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            room = limit_bytes - len(kept)
            kept.extend(chunk[:max(room, 0)])
            dropped += max(len(chunk) - max(room, 0), 0)

    reader = threading.Thread(target=drain, daemon=True, name="warden-command-output")
    reader.start()
    try:
        returncode: int | None = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        returncode = None
    # A child that outlives the program may hold the pipe open; do not wait for it.
    reader.join(timeout=1.0)
    if not reader.is_alive() and proc.stdout is not None:
        proc.stdout.close()
    return Completed(returncode, bytes(kept), dropped)


class CommandExecutor:
    """Runs the rendered ``spec.argv`` (see ``render_argv`` and ``run_argv``); exit code 0
    is success. ``path`` is the only ``PATH`` the program sees (``WARDEN_COMMAND_PATH``)."""

    def __init__(self, *, path: str) -> None:
        self.path = path

    def run(self, job: Job) -> ExecutorResult:
        argv = render_argv(job.spec.argv, values_of(job.action))
        if job.dry_run:
            return ExecutorResult(True, f"dry run: would run {shlex.join(argv)}")
        done = run_argv(argv, path=self.path, timeout_s=job.timeout_s)
        text = cap(done.output)
        if done.dropped_bytes:
            text += f"\n[... {done.dropped_bytes} more bytes not kept]"
        if done.returncode is None:
            raise ExecutorError(
                f"$ {shlex.join(argv)}\nkilled after {job.timeout_s:g} s; it may have done "
                f"part of its work\n{text}", recoverable=True)
        return ExecutorResult(done.returncode == 0,
                              f"$ {shlex.join(argv)}\nexit {done.returncode}\n{text}".rstrip("\n"))
