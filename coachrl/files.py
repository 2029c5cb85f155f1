"""Small file helpers shared by the scripts: writable folders and atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def check_writable(folder: str | os.PathLike[str]) -> Path:
    """Creates `folder` if needed and checks a file can be written there (raises OSError)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
        pass
    return folder


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Writes `data` to `path` through a temporary file and a rename: never half a file."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a written file is an ordinary one
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
