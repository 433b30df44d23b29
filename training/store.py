"""Store an evaluation in the dashboard's database (``evaluate --db``)."""

from __future__ import annotations

from pathlib import Path


def store_evaluation(url: str, model_path: str, split: str, tta: bool, result: dict) -> None:
    # The one place training reaches the database: the admin's model page reads these rows.
    from db import connect
    from db.repository import store_evaluation as store

    with connect(url)() as s:
        store(s, model_name=Path(model_path).stem, split=split, tta=tta, result=result)
