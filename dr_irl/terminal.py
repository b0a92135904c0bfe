"""Where the run's output goes: the console, and the run's log file next to it (``<run dir>/train.log``);
progress bars on a terminal only, a line per trainer otherwise (``python train.py > run.log``)."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def interactive(stream: Any = None) -> bool:
    """Whether ``stream`` (default: stderr, where progress bars go) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def log_line(line: str) -> str:
    """A console line as the log file keeps it: colour codes removed, a bar redrawn with carriage returns
    reduced to its last state."""
    segments = [s for s in _ANSI.sub("", line).split("\r") if s.strip()]
    return segments[-1].rstrip() if segments else ""


class Tee(io.TextIOBase):
    """A text stream that writes to ``stream`` as it is and to ``log`` line by line (:func:`log_line`);
    everything else (``isatty``, ``fileno``, ``encoding``) is ``stream``'s, so libraries see the console."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        super().__init__()
        self.stream, self.log = stream, log
        self._pending = ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            kept = [log_line(line) for line in lines]
            self.log.write("".join(line + "\n" for line in kept if line))
            self.log.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def finish(self) -> None:
        """Write the last unterminated line to the log."""
        line = log_line(self._pending)
        self._pending = ""
        if line:
            self.log.write(line + "\n")
        self.log.flush()

    def isatty(self) -> bool:
        return interactive(self.stream)

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def run_log(path: str | Path) -> Iterator[Path]:
    """Copy what this process prints on stdout and stderr to ``path`` (appended) while the block runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        out, err = sys.stdout, sys.stderr
        tees = Tee(out, log), Tee(err, log)
        sys.stdout, sys.stderr = tees
        try:
            yield path
        finally:
            for tee in tees:
                try:
                    tee.flush()
                except (OSError, ValueError):
                    pass
                tee.finish()
            sys.stdout, sys.stderr = out, err
