"""Makes one rendition in a process of its own, so no web worker waits for the encoder:

    python -m archive.media.render MARKER TARGET ffmpeg ARGS… SCRATCH

ffmpeg writes SCRATCH (its last argument); a complete file is renamed to TARGET, and MARKER, which
tells other processes the rendition is being made, is removed whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def render(marker: str, target: str, command: list[str]) -> int:
    scratch = Path(command[-1])
    try:
        result = subprocess.run(command, capture_output=True, timeout=24 * 3600, check=False)
        if result.returncode == 0 and scratch.exists():
            os.replace(scratch, target)
        return result.returncode
    finally:
        scratch.unlink(missing_ok=True)
        Path(marker).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(render(sys.argv[1], sys.argv[2], sys.argv[3:]))
