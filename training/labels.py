"""The emotion label contract: FER2013 order, everywhere (DESIGN.md)."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)

# Names seen in the common image-folder editions of FER2013 and similar sets
# (FER+, RAF-DB exports, Kaggle re-uploads), mapped onto our labels.
_SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "contempt": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
}


def label_index(name: str) -> int | None:
    """Index of a label name or synonym (case-insensitive), or None when unknown.

    Folder editions also use the numeric class as the folder name ("0".."6").
    """
    key = name.strip().lower()
    if key.isdigit() and int(key) < NUM_CLASSES:
        return int(key)
    canonical = _SYNONYMS.get(key)
    return EMOTIONS.index(canonical) if canonical else None
