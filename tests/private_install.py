"""Installing test packages into a private folder, never into the running environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def isolated_env(site: Path) -> dict[str, str]:
    """Environment for a subprocess that sees the packages installed in ``site`` and every plugin."""
    env = {k: v for k, v in os.environ.items() if k != "PATCHFLOW_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def pip_install_to(site: Path, *projects: Path) -> None:
    """Install ``projects`` into the folder ``site`` (not into the running environment), offline."""
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                             "--no-build-isolation", "--target", str(site), *map(str, projects)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
