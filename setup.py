"""Build for CoachRL. Install with the pins: pip install -c constraints.txt -e '.[dev]'."""

import pathlib
import re

from setuptools import find_packages, setup

_ROOT = pathlib.Path(__file__).parent


def _version() -> str:
    text = (_ROOT / "coachrl" / "__init__.py").read_text()
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("coachrl/__init__.py defines no __version__")
    return match.group(1)


setup(
    name="coachrl",
    version=_version(),
    description="Reinforcement-learning coaches trained in simulation.",
    packages=find_packages(include=["coachrl", "coachrl.*"]),
    python_requires=">=3.11,<3.12",
    install_requires=[
        "jax",
        "jaxlib",
        "dm-haiku",
        "optax",
        "rlax",
        "chex",
        "distrax",
        "tensorflow-probability",
        "dm-env",
        "numpy",
        "scipy",
        "pandas",
        "pyyaml",
        "absl-py",
        "matplotlib",
        "gymnasium",
        "tqdm",
        "tensorflow-cpu",
        "dm-reverb",
        "ray[default]",
        "bsuite",
        "sqlalchemy",
        "defusedxml",
        "alembic",
        "psycopg[binary]",
        "fastapi",
        "uvicorn",
        "httptools",
        "uvloop",
        "python-multipart",
        "garmin-fit-sdk",
        "icalendar",
    ],
    entry_points={"console_scripts": ["coachrl = coachrl.cli:entry"]},
    extras_require={"dev": ["pytest", "pytest-xdist", "ruff", "httpx", "selenium"]},
)
