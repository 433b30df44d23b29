"""The "What do these numbers mean?" panel of the report and live pages: how engagement and
confusion are computed, what they cannot tell, and how accurate the expression model was when it
was measured. The figures are read, not written here: the rules' settings from the engine's
shipped ``engine/config.toml`` (read as a file: the dashboard does not import the engine) and the
accuracy from the model's card (``models/<name>.json``, :mod:`dashboard.model_cards`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import streamlit as st

from dashboard import analytics, context, data, model_cards

ENGINE_CONFIG = Path(__file__).resolve().parents[1] / "engine" / "config.toml"
DEFAULT_MODEL = "fer_fast"  # the engine's default model (models/fer_fast.keras)
TITLE = "What do these numbers mean?"


def engine_settings(path: Path = ENGINE_CONFIG) -> dict:
    """The engine's shipped settings, by section; empty when the file cannot be read."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def card_for(models_dir: Path, model_version: str | None) -> model_cards.ModelCard | None:
    """The card of the model a session ran with (its ``model_version`` starts with the model's file
    name, e.g. "fer_fast.keras (PrivateTest 0.690)"), else the engine's default model's card."""
    cards = model_cards.read_cards(models_dir)
    wanted = (model_version or "").split(" ")[0]
    for card in cards:
        if wanted in (f"{card.path.stem}.keras", card.path.stem, card.name):
            return card
    return next((c for c in cards if c.path.stem == DEFAULT_MODEL), None)


def _accuracy_text(card: model_cards.ModelCard | None) -> str:
    if card is None:
        return ("No model card was found, so the model's measured accuracy cannot be shown here "
                "(an admin can see the models on the Model evaluation page).")
    test = card.raw.get("private_test") or {}
    accuracy, top2, recall = test.get("accuracy"), test.get("top2"), test.get("recall") or {}
    if accuracy is None:
        return f"The card of the model ({card.name}) holds no test accuracy."
    text = (f"The expression model ({card.name}) named the right one of seven expressions for "
            f"**{accuracy:.0%}** of the {_n_faces(test)} test faces of FER2013 (PrivateTest)")
    text += f", and had it among its two first guesses for {top2:.0%}." if top2 is not None else "."
    if recall:
        ordered = sorted(recall.items(), key=lambda kv: -kv[1])
        text += (" How often each expression was recognised when it was truly shown: "
                 + ", ".join(f"{name} {share:.0%}" for name, share in ordered) + ".")
    text += (" Those are posed and spontaneous photos of adults from the web, one face filling each picture; "
             "pupils filmed by a classroom camera were not measured and are likely read less well. "
             "People agree with each other on these photos only about 65 % of the time.")
    return text


def _n_faces(test: dict) -> str:
    n = test.get("n")
    return f"{int(n):,}" if isinstance(n, int | float) else "3,589"


def explanation(settings: dict, card: model_cards.ModelCard | None, emotions: bool = True) -> str:
    """The panel's text (Markdown), from the engine's settings and the model card."""
    s, q = settings.get("scoring", {}), settings.get("quality", {})
    window = s.get("window_s", 20)
    parts = [
        f"**Engagement (0 to 1)** is where heads point, not attention itself. Over the last {window:g} seconds "
        f"it is the share of time a student faced the front: a head turned more than {s.get('away_yaw_deg', 30):g}° "
        f"sideways or {s.get('away_pitch_deg', 25):g}° up or down, closed eyes, or being out of view count "
        "against it. A student reading or writing with their head down counts as looking away; a student "
        "looking ahead while day-dreaming counts as engaged. For small faces the camera cannot see eyes or "
        "the head's tilt, and they count as engaged.",
    ]
    if emotions:
        parts += [
            f"**Confusion (0 to 1)** is read from facial expressions only: the model's probability of fear, "
            f"sadness, anger and surprise, averaged over {window:g} seconds; {s.get('confusion_floor', 0.4):g} or "
            f"less counts as 0 and {s.get('confusion_ceiling', 0.8):g} or more as 1. On large faces a furrowed brow "
            "(compared with the student's own usual) adds to it. Looking puzzled is not the same as being "
            "confused, and some faces look sad or stern at rest: the report therefore also compares each "
            "student with their own usual for the session.",
            f"**Readable faces only.** Emotion and confusion count only faces of at least "
            f"{q.get('min_face_px', 24):g} pixels, turned less than {q.get('max_yaw_deg', 40):g}° to the side, not "
            f"bent down more than {q.get('max_pitch_deg', 30):g}°, and sharp and bright enough. Other moments are "
            "\"not readable\": a head down over a book is not read as sad. The report says for how much of the "
            "time expressions could be read.",
            "**Emotion** is the most likely of seven expressions (angry, disgust, fear, happy, sad, surprise, "
            "neutral), smoothed over about a second.",
            _accuracy_text(card),
        ]
    else:
        parts.append("This class was recorded **attention-only**: no expression was read, so there is no emotion "
                     "or confusion.")
    parts.append(
        "**What the numbers cannot tell:** what a student feels, thinks or understands, or why. They describe "
        "faces on a camera, with errors, and are best read for the class as a whole and over minutes, as a "
        "prompt to look up and ask, never to grade or discipline a student.")
    return "\n\n".join(parts)


def numbers_panel(models_dir: Path, model_version: str | None, emotions: bool = True) -> None:
    """The collapsed panel, with the text for the session's model (or the default model)."""
    with st.expander(TITLE, icon=":material/help:"):
        st.markdown(explanation(engine_settings(), card_for(models_dir, model_version) if emotions else None,
                                emotions))


def coverage(session_id: int, last_t: float | None) -> analytics.Coverage | None:
    """How much of a session's time in view expressions were readable (the report's note)."""
    return analytics.coverage(_quality_counts(context.settings().db_url, session_id, last_t))


@st.cache_data(show_spinner=False, max_entries=32)
def _quality_counts(url: str, session_id: int, last_t: float | None) -> dict[str | None, int]:
    # ``url`` and ``last_t`` are only in the key: a running session's new observations move last_t.
    return data.quality_counts(context.factory(), session_id)
