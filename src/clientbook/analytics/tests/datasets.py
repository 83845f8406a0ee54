"""Where the third-party reference datasets live (see ``SOURCES.md`` there).

Tests that need one fail loudly when it is missing: a skipped reference test
would let a wrong fit pass unnoticed.
"""

import os
from pathlib import Path

DATASETS = Path(
    os.environ.get(
        "CLIENTBOOK_DATASETS",
        Path(__file__).resolve().parents[5] / "shared" / "datasets",
    )
)


def dataset(relative: str) -> Path:
    """Path of a reference dataset file; raise if it is not there."""
    path = DATASETS / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"reference dataset {path} is missing: the analytics reference tests "
            "need ../shared/datasets (or set CLIENTBOOK_DATASETS)"
        )
    return path
