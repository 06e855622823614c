"""User-facing errors: each prints as one line, ``simrl: error: <what> (<hint>)``, and exits 2.

A bug is any other exception: a traceback and exit 1.
"""

from __future__ import annotations


class SimrlError(Exception):
    """A user mistake: bad input, a missing or corrupt file. Never a bug."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def line(self) -> str:
        """The one line the CLI prints."""
        text = " ".join(self.what.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return f"simrl: error: {text}"


class ConfigError(SimrlError):
    """An unknown key, a value of the wrong type or out of range, an unparsable file."""


class EnvError(SimrlError):
    """An unknown env id or parameter, a parameter value outside its bounds."""


class CheckpointError(SimrlError):
    """A run folder, model or buffer that is missing, truncated or from something else."""


class Interrupted(BaseException):  # a signal, not an error: a BaseException, as KeyboardInterrupt is
    """SIGINT or SIGTERM arrived; the CLI exits 128 + the signal's number (130, 143)."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum
