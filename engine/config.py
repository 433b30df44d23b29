"""Engine settings: ``engine/config.toml`` holds the defaults, ``--config PATH`` overrides
them key by key. Every section becomes a frozen dataclass so the modules downstream get
typed values, and a typo in a user's file is an error instead of a silent no-op."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.toml"


class ConfigError(Exception):
    """A settings file that cannot be read or holds unknown keys / wrong types."""


@dataclass(frozen=True)
class SamplingConfig:
    fps: float
    frame_budget_s: float  # live sources: wall seconds a frame may take; 0 = 1 / fps
    max_side: int  # video and live frames are analysed with their longer side at most this; 0 = as they come

    @property
    def budget_s(self) -> float:
        return self.frame_budget_s if self.frame_budget_s > 0 else 1.0 / self.fps


@dataclass(frozen=True)
class DetectorConfig:
    mode: str
    min_score: float
    min_face_px: int
    max_aspect: float
    nms_iou: float
    nms_containment: float
    tile_face_ratio: float
    min_tile_px: int
    tile_overlap: float
    full_range_share: float
    recalibrate_s: float
    recalibrate_empty_s: float
    verify_below: float
    verify_mean: float
    verify_crop_ratios: tuple[float, ...]
    detect_every_s: float
    detect_every_still_s: float
    occupied_every_s: float
    refind_every_s: float
    follow_min_match: float
    threads: int


@dataclass(frozen=True)
class TrackerConfig:
    lost_seconds: float
    activation_score: float
    matching_iou: float
    reattach_seconds: float
    reattach_iou: float
    reattach_containment: float
    confirm_hits: int


@dataclass(frozen=True)
class AlignConfig:
    margin: float
    center_up: float
    rotate_min_deg: float


@dataclass(frozen=True)
class AttentionConfig:
    mesh_min_face_px: int
    mesh_interval_s: float
    mesh_max_per_frame: int
    mesh_keep_s: float
    eye_closed_ear: float
    eye_open_ear: float


@dataclass(frozen=True)
class QualityConfig:
    """The floor under which a face's expression is not read into emotion, confusion or alerts
    (engine/quality.py)."""

    min_face_px: float
    max_yaw_deg: float
    max_pitch_deg: float
    min_blur: float
    min_brightness: float
    min_contrast: float


@dataclass(frozen=True)
class ScoringConfig:
    smoothing_s: float
    window_s: float
    away_yaw_deg: float
    away_pitch_deg: float
    closed_eyes: float
    confusion_floor: float
    confusion_ceiling: float
    brow_weight: float
    brow_furrow_drop: float
    min_window_s: float
    brow_baseline_s: float
    brow_baseline_min: int


@dataclass(frozen=True)
class AlertConfig:
    on_threshold: float
    off_threshold: float
    min_on_s: float
    min_off_s: float
    absent_s: float
    class_share: float
    class_off_share: float
    class_min_present: int


@dataclass(frozen=True)
class ClassifyConfig:
    flip_average: bool
    read_every_s: float
    max_reads_per_s: float


@dataclass(frozen=True)
class RecorderConfig:
    flush_seconds: float
    flush_rows: int
    retry_s: float
    heartbeat_s: float


@dataclass(frozen=True)
class PrivacyConfig:
    emotions: bool  # False = attention-only: no expression model, no emotion or confusion values


@dataclass(frozen=True)
class EngineConfig:
    sampling: SamplingConfig
    detector: DetectorConfig
    tracker: TrackerConfig
    align: AlignConfig
    classify: ClassifyConfig
    attention: AttentionConfig
    quality: QualityConfig
    scoring: ScoringConfig
    alerts: AlertConfig
    recorder: RecorderConfig
    privacy: PrivacyConfig

    def replace(self, section: str, **values: Any) -> EngineConfig:
        """A copy with some keys of one section changed (CLI flags such as --fps use this)."""
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **values)})


_SECTION_TYPES = {
    "sampling": SamplingConfig, "detector": DetectorConfig, "tracker": TrackerConfig, "align": AlignConfig,
    "classify": ClassifyConfig, "attention": AttentionConfig, "quality": QualityConfig,
    "scoring": ScoringConfig, "alerts": AlertConfig,
    "recorder": RecorderConfig, "privacy": PrivacyConfig,
}


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _merge(base: dict, override: dict, path: Path) -> dict:
    merged = {name: dict(values) for name, values in base.items()}
    for section, values in override.items():
        if section not in _SECTION_TYPES or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}]; sections are {', '.join(_SECTION_TYPES)}")
        for key, value in values.items():
            if key not in merged[section]:
                raise ConfigError(f"{path}: unknown key {key!r} in [{section}]")
            old = merged[section][key]
            # TOML ints are fine where floats are expected; anything else must keep its type.
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(old, list) and isinstance(value, list) and all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                value = [float(v) for v in value]
            if type(value) is not type(old):
                raise ConfigError(f"{path}: [{section}] {key} must be {type(old).__name__}, not {value!r}")
            merged[section][key] = value
    return merged


def load_config(path: str | Path | None = None) -> EngineConfig:
    """The shipped defaults, overridden by ``path`` when given."""
    raw = _read(DEFAULT_CONFIG)
    if path is not None:
        raw = _merge(raw, _read(Path(path)), Path(path))
    try:
        cfg = EngineConfig(**{name: cls(**_tuples(raw[name])) for name, cls in _SECTION_TYPES.items()})
    except (KeyError, TypeError) as exc:  # the shipped file itself is out of step with the dataclasses
        raise ConfigError(f"{DEFAULT_CONFIG} does not match the engine's settings: {exc}") from exc
    _check(cfg)
    return cfg


def _tuples(section: dict) -> dict:
    """TOML arrays as tuples: the dataclasses are frozen, and so are their values."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}


def _check(cfg: EngineConfig) -> None:
    if cfg.sampling.fps <= 0:
        raise ConfigError("[sampling] fps must be above 0")
    if cfg.sampling.max_side < 0 or 0 < cfg.sampling.max_side < 320:
        raise ConfigError("[sampling] max_side must be 0 (full resolution) or at least 320 pixels")
    if cfg.sampling.frame_budget_s < 0:
        raise ConfigError("[sampling] frame_budget_s must be >= 0 (0 = the analysis interval)")
    if cfg.detector.mode not in ("auto", "full", "sliced"):
        raise ConfigError("[detector] mode must be auto, full or sliced")
    if not cfg.detector.verify_crop_ratios or min(cfg.detector.verify_crop_ratios) < 1.2:
        raise ConfigError("[detector] verify_crop_ratios must list crop sides of at least 1.2 face sides")
    if cfg.classify.read_every_s < 0 or cfg.classify.max_reads_per_s < 0:
        raise ConfigError("[classify] read_every_s and max_reads_per_s must be >= 0")
    if cfg.detector.detect_every_s < 0 or cfg.detector.detect_every_still_s < cfg.detector.detect_every_s:
        raise ConfigError("[detector] detect_every_s must be >= 0 and detect_every_still_s at least as long")
    if cfg.detector.occupied_every_s < 0:
        raise ConfigError("[detector] occupied_every_s must be >= 0")
    if cfg.detector.refind_every_s < 0 or not 0 < cfg.detector.follow_min_match <= 1:
        raise ConfigError("[detector] refind_every_s must be >= 0 and follow_min_match in (0, 1]")
    if cfg.tracker.confirm_hits < 1:
        raise ConfigError("[tracker] confirm_hits must be at least 1")
    if cfg.detector.threads < 0:
        raise ConfigError("[detector] threads must be 0 (chosen as it runs) or a number of threads")
    if not 0 <= cfg.detector.tile_overlap < 1:
        raise ConfigError("[detector] tile_overlap must be in [0, 1)")
    if cfg.alerts.off_threshold > cfg.alerts.on_threshold:
        raise ConfigError("[alerts] off_threshold must not exceed on_threshold (hysteresis)")
    if cfg.alerts.class_off_share > cfg.alerts.class_share:
        raise ConfigError("[alerts] class_off_share must not exceed class_share (hysteresis)")
    if cfg.scoring.confusion_ceiling <= cfg.scoring.confusion_floor:
        raise ConfigError("[scoring] confusion_ceiling must be above confusion_floor")
    if cfg.scoring.brow_furrow_drop <= 0:
        raise ConfigError("[scoring] brow_furrow_drop must be above 0")
    if cfg.scoring.smoothing_s < 0 or cfg.scoring.window_s <= 0:
        raise ConfigError("[scoring] smoothing_s must be >= 0 and window_s above 0")
