"""SB3 logger outputs for a run folder: progress.csv that survives resume, and TensorBoard."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from simrl.utils import atomic


def truncate_progress(path: Path, max_step: int) -> None:
    """Keep the rows of progress.csv logged at or before ``max_step`` (for a resumed run)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header = rows[0]
    col = header.index("time/total_timesteps") if "time/total_timesteps" in header else None
    keep = [header]
    for row in rows[1:]:
        try:
            if col is None or float(row[col]) <= max_step:
                keep.append(row)
        except (ValueError, IndexError):
            continue
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(keep)
    atomic.write_text(path, buf.getvalue())


def make_logger(run_dir: Path):
    """An SB3 Logger writing progress.csv (appending to an existing one) and tensorboard/."""
    from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

    class AppendingCSV(CSVOutputFormat):
        """SB3's CSV output, but continuing an existing file instead of truncating it."""

        def __init__(self, filename: str) -> None:
            path = Path(filename)
            if not path.is_file() or path.stat().st_size == 0:
                super().__init__(filename)
                return
            self.file = open(filename, "r+")  # noqa: SIM115  owned by the logger, closed by it
            header = self.file.readline().rstrip("\n")
            self.keys = header.split(",") if header else []
            self.separator = ","
            self.quotechar = '"'
            self.file.seek(0, io.SEEK_END)

    outputs = [AppendingCSV(str(run_dir / "progress.csv")), TensorBoardOutputFormat(str(run_dir / "tensorboard"))]
    return Logger(str(run_dir), outputs)
