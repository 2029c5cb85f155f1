"""Tests for coachrl.loggers."""

import glob
import io
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from coachrl import loggers


def test_csv_round_trip(tmp_path):
    path = tmp_path / "nested" / "logs.csv"
    with loggers.CSVLogger(path) as logger:
        logger.write(0, {"loss": 1.5, "return": -2.0})
        logger.write(10, {"loss": 0.25, "return": 3.0})
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["step", "loss", "return"]
    assert frame["step"].tolist() == [0, 10]
    assert frame["loss"].tolist() == [1.5, 0.25]
    assert frame["return"].tolist() == [-2.0, 3.0]


def test_csv_flushes_every_write(tmp_path):
    path = tmp_path / "logs.csv"
    logger = loggers.CSVLogger(path)
    logger.write(1, {"x": 0.5})
    assert path.read_text().splitlines() == ["step,x", "1,0.5"]
    logger.close()


def test_csv_resume_appends_and_keeps_old_rows(tmp_path):
    path = tmp_path / "logs.csv"
    with loggers.CSVLogger(path) as logger:
        logger.write(0, {"a": 1.0, "b": 2.0})
    with loggers.CSVLogger(path) as logger:
        assert logger.fieldnames == ["step", "a", "b"]
        logger.write(1, {"a": 3.0, "b": 4.0})
    frame = pd.read_csv(path)
    assert frame.to_dict("list") == {"step": [0, 1], "a": [1.0, 3.0], "b": [2.0, 4.0]}


def test_csv_resume_checks_header(tmp_path):
    path = tmp_path / "logs.csv"
    with loggers.CSVLogger(path) as logger:
        logger.write(0, {"a": 1.0})
    with loggers.CSVLogger(path) as logger:
        with pytest.raises(ValueError, match=r"\['z'\]"):
            logger.write(1, {"a": 2.0, "z": 3.0})
    (tmp_path / "other.csv").write_text("epoch,a\n0,1\n")
    with pytest.raises(ValueError, match="does not start with 'step'"):
        loggers.CSVLogger(tmp_path / "other.csv")


def test_csv_new_key_raises_and_missing_key_is_blank(tmp_path):
    path = tmp_path / "logs.csv"
    with loggers.CSVLogger(path) as logger:
        logger.write(0, {"a": 1.0, "b": 2.0})
        with pytest.raises(ValueError, match=r"\['c', 'd'\]"):
            logger.write(1, {"a": 1.0, "d": 0.0, "c": 0.0})
        logger.write(2, {"b": 5.0})
    frame = pd.read_csv(path)
    assert frame["step"].tolist() == [0, 2]
    assert math.isnan(frame["a"][1])
    assert frame["b"].tolist() == [2.0, 5.0]


def test_csv_step_is_a_reserved_key(tmp_path):
    with loggers.CSVLogger(tmp_path / "logs.csv") as logger:
        with pytest.raises(ValueError, match="step"):
            logger.write(0, {"step": 1.0})


def test_numpy_and_jax_scalars_and_nan(tmp_path):
    import jax.numpy as jnp

    path = tmp_path / "logs.csv"
    with loggers.CSVLogger(path) as logger:
        logger.write(
            np.int64(7),
            {
                "np32": np.float32(0.5),
                "np_int": np.int64(3),
                "np_0d": np.array(2.25),
                "jax": jnp.asarray(1.75, dtype=jnp.float32),
                "nan": float("nan"),
                "inf": np.inf,
            },
        )
    assert path.read_text().splitlines()[1] == "7,0.5,3.0,2.25,1.75,nan,inf"
    row = pd.read_csv(path).iloc[0]
    assert math.isnan(row["nan"]) and math.isinf(row["inf"])


def test_terminal_logger_format_and_every():
    stream = io.StringIO()
    logger = loggers.TerminalLogger(every=10, stream=stream)
    logger.write(0, {"loss": 0.123456, "return": 12345.6})
    logger.write(5, {"loss": 1.0})  # Within 10 steps of the last printed write: skipped.
    logger.write(10, {"loss": np.float32(2.0), "kl": float("nan")})
    assert stream.getvalue().splitlines() == [
        "step=0 loss=0.1235 return=1.235e+04",
        "step=10 loss=2 kl=nan",
    ]
    with pytest.raises(ValueError):
        loggers.TerminalLogger(every=0)


def _read_tb_scalars(logdir):
    import tensorflow as tf

    scalars = {}
    for event_file in glob.glob(str(logdir / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    return scalars


def test_tensorboard_logger_writes_readable_scalars(tmp_path):
    logger = loggers.TensorBoardLogger(tmp_path / "tb")
    logger.write(3, {"loss": 0.5, "return": np.float32(-1.25)})
    logger.write(4, {"loss": 0.25})
    logger.close()
    assert _read_tb_scalars(tmp_path / "tb") == {
        ("loss", 3): 0.5,
        ("return", 3): -1.25,
        ("loss", 4): 0.25,
    }


def test_multi_logger_fans_out():
    class Recorder:
        def __init__(self):
            self.rows, self.closed = [], False

        def write(self, step, values):
            self.rows.append((step, dict(values)))

        def close(self):
            self.closed = True

    first, second = Recorder(), Recorder()
    with loggers.MultiLogger([first, second]) as logger:
        logger.write(1, {"x": 1.0})
        logger.write(2, {"x": 2.0})
    for recorder in (first, second):
        assert recorder.rows == [(1, {"x": 1.0}), (2, {"x": 2.0})]
        assert recorder.closed


def test_make_default_logger(tmp_path, capsys):
    logger = loggers.make_default_logger(tmp_path, tensorboard=True, terminal=True)
    logger.write(1, {"loss": 0.5})
    logger.close()
    assert pd.read_csv(tmp_path / "logs.csv").to_dict("list") == {"step": [1], "loss": [0.5]}
    assert _read_tb_scalars(tmp_path / "tb") == {("loss", 1): 0.5}
    assert capsys.readouterr().out == "step=1 loss=0.5\n"


def test_make_default_logger_csv_only(tmp_path):
    logger = loggers.make_default_logger(tmp_path, tensorboard=False)
    assert [type(sub) for sub in logger.loggers] == [loggers.CSVLogger]
    logger.close()


def test_progress_iterates_all_items():
    assert list(loggers.progress(range(7), desc="items")) == list(range(7))
    stream = io.StringIO()
    assert list(loggers.progress(["a", "b"], disable=False, file=stream)) == ["a", "b"]
    assert "2/2" in stream.getvalue()
    with loggers.progress(5, desc="steps", disable=False, file=io.StringIO()) as bar:
        bar.update(5)
        assert bar.n == bar.total == 5


def test_importing_loggers_does_not_import_tensorflow():
    code = (
        "import coachrl.loggers, sys; "
        "heavy = [m for m in ('tensorflow', 'reverb', 'ray') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
