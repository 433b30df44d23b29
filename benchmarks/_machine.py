"""One line describing the machine a benchmark ran on, printed with every figure."""

from __future__ import annotations

import os
import platform

from training.machine import cpu_name


def describe() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, load average {load:.1f} at start")
