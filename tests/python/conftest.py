import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ptd():
    """Runs the ptd binary named by PTD_BIN (scripts/test-all.sh sets it)."""
    binary = os.environ.get("PTD_BIN", str(ROOT / "target" / "debug" / "ptd"))
    if not Path(binary).is_file():
        pytest.fail(
            f"ptd binary not found at {binary}: build it with cargo build, or set PTD_BIN"
        )

    def run(*args):
        out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        if out.returncode != 0:
            raise AssertionError(
                f"ptd {' '.join(map(str, args))} failed:\n{out.stderr}"
            )
        return out.stdout

    return run
