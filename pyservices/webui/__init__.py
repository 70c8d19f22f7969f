"""The web client: static HTML, CSS and ES modules, served by the gateway at `/`.

No build step and nothing fetched from the internet: the page works on an air-gapped
cluster. `STATIC_DIR` is the directory to mount.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR"]
