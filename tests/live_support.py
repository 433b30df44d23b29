"""Helpers shared by the tests/test_live_*.py files (not a conftest: imported explicitly)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_demo_module():
    """assets/make_demo_class.py as a module (assets/ is not a package)."""
    if "make_demo_class" in sys.modules:
        return sys.modules["make_demo_class"]
    spec = importlib.util.spec_from_file_location("make_demo_class", REPO / "assets" / "make_demo_class.py")
    demo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = demo  # its dataclasses look their module up while being created
    spec.loader.exec_module(demo)
    return demo
