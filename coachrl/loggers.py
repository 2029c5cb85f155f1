"""Scalar metric loggers: CSV, TensorBoard, terminal, and a fan-out.

Every component writes its metrics through a `Logger`:

    logger = make_default_logger("runs/exp1")
    logger.write(step, {"loss": loss, "episode_return": ret})
    logger.close()

Values go through `float()`, so Python, NumPy and JAX scalars all work;
non-finite values are written as they are (``nan``, ``inf``). TensorFlow is
imported only when a `TensorBoardLogger` is built, so importing this module
stays cheap (DESIGN.md, import discipline).
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, Protocol

from tqdm import tqdm

StrPath = str | os.PathLike[str]


class Logger(Protocol):
    """Writes one row of named scalars per step."""

    def write(self, step: int, values: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


def _as_floats(values: Mapping[str, Any]) -> dict[str, float]:
    return {str(key): float(value) for key, value in values.items()}


class _ClosingMixin:
    """Lets a logger be used as a context manager that closes it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()  # type: ignore[attr-defined]


class CSVLogger(_ClosingMixin):
    """Appends rows to a CSV file whose first column is ``step``.

    The header is ``step`` plus the keys of the first write. A later write may
    leave keys out (their cells stay empty) but may not add new ones: that
    raises ValueError. An existing file is resumed, never truncated: its header
    is read back and later writes are checked against it. Every write is
    flushed.
    """

    def __init__(self, path: StrPath):
        self.path = os.fspath(path)
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._fieldnames = self._read_header()
        self._file: IO[str] | None = open(self.path, "a", newline="")
        self._writer: csv.DictWriter | None = None
        if self._fieldnames is not None:
            self._writer = csv.DictWriter(self._file, fieldnames=self._fieldnames, restval="")

    def _read_header(self) -> list[str] | None:
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return None
        with open(self.path, newline="") as f:
            header = next(csv.reader(f), [])
        if not header or header[0] != "step":
            raise ValueError(
                f"{self.path} exists but its header {header} does not start with 'step'; "
                "refusing to append to it"
            )
        return header

    @property
    def fieldnames(self) -> list[str] | None:
        """The CSV header, or None before the first write of a new file."""
        return None if self._fieldnames is None else list(self._fieldnames)

    def write(self, step: int, values: Mapping[str, float]) -> None:
        if self._file is None:
            raise ValueError(f"CSVLogger for {self.path} is closed")
        row = _as_floats(values)
        if "step" in row:
            raise ValueError("'step' is the CSV logger's own column; pass it as `step`")
        if self._writer is None:
            self._fieldnames = ["step", *row]
            self._writer = csv.DictWriter(self._file, fieldnames=self._fieldnames, restval="")
            self._writer.writeheader()
        else:
            new_keys = sorted(set(row) - set(self._fieldnames))
            if new_keys:
                raise ValueError(
                    f"keys {new_keys} are not in the header of {self.path} "
                    f"({self._fieldnames}); the header is fixed by the first write"
                )
        self._writer.writerow({"step": int(step), **row})
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardLogger(_ClosingMixin):
    """Writes each value as a TensorBoard scalar under ``logdir``.

    TensorFlow is imported here, in the constructor, and nowhere else.
    """

    def __init__(self, logdir: StrPath):
        import tensorflow as tf  # Lazy: costs seconds, and `import coachrl` must not pay it.

        self.logdir = os.fspath(logdir)
        self._tf = tf
        self._writer = tf.summary.create_file_writer(self.logdir)

    def write(self, step: int, values: Mapping[str, float]) -> None:
        with self._writer.as_default():
            for key, value in _as_floats(values).items():
                self._tf.summary.scalar(key, value, step=int(step))

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


class TerminalLogger(_ClosingMixin):
    """Prints ``step=... key=value ...`` lines, values to 4 significant digits.

    Prints the first write, then at most one write per ``every`` steps.
    ``stream`` defaults to the current ``sys.stdout``.
    """

    def __init__(self, every: int = 1, stream: IO[str] | None = None):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = every
        self._stream = stream
        self._last_step: int | None = None

    def write(self, step: int, values: Mapping[str, float]) -> None:
        step = int(step)
        if self._last_step is not None and step - self._last_step < self.every:
            return
        self._last_step = step
        parts = [f"step={step}"] + [f"{k}={v:.4g}" for k, v in _as_floats(values).items()]
        print(" ".join(parts), file=self._stream or sys.stdout, flush=True)

    def close(self) -> None:
        pass


class MultiLogger(_ClosingMixin):
    """Sends every write to each of several loggers."""

    def __init__(self, loggers: Sequence[Logger]):
        self.loggers = list(loggers)

    def write(self, step: int, values: Mapping[str, float]) -> None:
        for logger in self.loggers:
            logger.write(step, values)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def make_default_logger(
    workdir: StrPath, tensorboard: bool = True, terminal: bool = False
) -> MultiLogger:
    """CSV at ``workdir/logs.csv``, plus TensorBoard at ``workdir/tb`` and the terminal."""
    loggers: list[Logger] = [CSVLogger(os.path.join(workdir, "logs.csv"))]
    if tensorboard:
        loggers.append(TensorBoardLogger(os.path.join(workdir, "tb")))
    if terminal:
        loggers.append(TerminalLogger())
    return MultiLogger(loggers)


def progress(
    iterable_or_total: Iterable[Any] | int,
    desc: str | None = None,
    disable: bool | None = None,
    **kwargs: Any,
) -> tqdm:
    """A tqdm progress bar over an iterable, or over a count updated by hand.

    ``disable=None`` keeps tqdm's own rule (no bar when the output is not a
    TTY). Extra keyword arguments go to tqdm.

        for batch in progress(batches, desc="eval"):
            ...

        with progress(num_steps, desc="train") as bar:
            bar.update(steps_done)
    """
    kwargs.setdefault("mininterval", 0.5)
    if isinstance(iterable_or_total, int):
        return tqdm(total=iterable_or_total, desc=desc, disable=disable, **kwargs)
    return tqdm(iterable_or_total, desc=desc, disable=disable, **kwargs)
