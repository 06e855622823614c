"""A private PostgreSQL server for tests: its own cluster in a temporary folder, 127.0.0.1 on a free port only.

``initdb`` refuses to run as root, so under root the cluster is made and run by the ``postgres`` user that
Debian's package creates (``runuser``), in a folder it owns. Trust authentication: the server listens on
the loopback address (and a socket inside its folder) and lives as long as the tests that use it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

DATABASE = "simrl"
USER = "simrl"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries (or no user to run them as): a reason to skip, not a failure."""


def find_binaries() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version(Path(p).parent.name))
    for folder in reversed(folders):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> list[str]:
    """The command prefix that runs a server binary: nothing, or ``runuser -u postgres --`` under root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable("running as root and there is no 'postgres' user to run the server as") from None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    raise ServerUnavailable("running as root without runuser or setpriv to drop to the 'postgres' user")


@contextlib.contextmanager
def private_server(timeout: float = 60) -> Iterator[str]:
    """Start a throw-away server; yields the URL of its empty database ``simrl`` (user ``simrl``, no password).

    Raises:
        ServerUnavailable: no server binaries here.
    """
    bin_dir = find_binaries()
    if bin_dir is None:
        raise ServerUnavailable("no PostgreSQL server found (initdb, pg_ctl; Debian: apt-get install postgresql)")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="simrl-pg-"))
    if prefix:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(*args: str) -> None:
        p = subprocess.run([*prefix, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({p.returncode}): {p.stderr.strip()}\n{tail}")

    started = False
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8")
        for _ in range(5):  # another process may take the free port before the server binds it
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=50"
            try:
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start")
            except RuntimeError:
                if "could not bind" in (log.read_text() if log.is_file() else ""):
                    continue
                raise
            started = True
            break
        else:
            raise RuntimeError(f"could not start PostgreSQL on a free port:\n{log.read_text()[-2000:]}")
        createdb = bin_dir / "createdb"
        run(str(createdb), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
        yield f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            with contextlib.suppress(Exception):
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(root, ignore_errors=True)
