"""The engine: video/camera -> faces -> students -> expressions and attention -> scores ->
database. Entry points: ``python -m engine`` (engine/cli.py) and
:func:`engine.pipeline.run`. Modules, in the order data flows through them: sources, detect,
track, reid, align, classify, attention, scoring, recorder, pipeline."""
