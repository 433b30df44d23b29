"""Training loop: augmentation, class weighting, label smoothing, cosine schedule,
early stopping on PublicTest, a checkpoint every epoch with resume, CSV logs.

Model selection looks at PublicTest only; PrivateTest is evaluated once, at the end,
for the model card.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from training import architectures
from training.augment import AugmentedFaces
from training.data import FerData
from training.labels import NUM_CLASSES
from training.preprocessing import prepare_faces


@dataclass(frozen=True)
class TrainConfig:
    model: str = "fer_fast"
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # 0 = none, 1 = full inverse frequency
    patience: int = 15
    seed: int = 1337
    limit: int | None = None  # use only the first N training images (tests, smoke runs)
    init: str | None = None  # start from this trained model's weights (a warm restart)
    tensorboard: bool = False  # also write TensorBoard logs to RUN_DIR/tensorboard
    augment: bool = True  # False only for ablations (what augmentation adds)


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """(N / (K * count)) ** power per class: power 0.5 lifts disgust (1.5 % of the
    training set) without wrecking the frequent classes."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    w = (counts.sum() / (NUM_CLASSES * np.maximum(counts, 1))) ** power
    return (w / (w * counts).sum() * counts.sum()).astype(np.float32)


class _SaveBest(keras.callbacks.Callback):
    """Keep the model of the best PublicTest epoch. The best score lives in a file so a
    resumed run does not overwrite a better model with a worse one."""

    def __init__(self, path: Path, state: Path):
        super().__init__()
        self.path, self.state = path, state
        self.best = json.loads(state.read_text())["val_accuracy"] if state.exists() else -1.0

    def on_epoch_end(self, epoch, logs=None):
        acc = float((logs or {}).get("val_accuracy", -1.0))
        if acc > self.best:
            self.best = acc
            tmp = self.path.with_name("tmp-" + self.path.name)
            self.model.save(tmp)
            os.replace(tmp, self.path)
            self.state.write_text(json.dumps({"val_accuracy": acc, "epoch": epoch + 1}))


def _load_initial_weights(model: keras.Model, path: Path) -> None:
    """Warm restart: a second cosine cycle from a trained model goes further than one
    cycle of the same total length would have had to plan for from the start."""
    from training.modelio import load

    start = load(path)
    if start.name != model.name or len(start.weights) != len(model.weights):
        raise ValueError(f"{path} is a {start.name!r} model; it cannot start a {model.name!r} run")
    model.set_weights(start.get_weights())


def train(data: FerData, cfg: TrainConfig, run_dir: Path) -> tuple[keras.Model, dict]:
    """Train ``cfg.model`` on the Training split, select on PublicTest; resumable in run_dir."""
    keras.utils.set_random_seed(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_split, val_split = data.split("Training"), data.split("PublicTest")
    x, y = train_split.images, train_split.labels
    if cfg.limit:
        x, y = x[: cfg.limit], y[: cfg.limit]
    batches = AugmentedFaces(
        x, keras.utils.to_categorical(y, NUM_CLASSES).astype(np.float32),
        class_weights(y, cfg.class_weight_power)[y], cfg.batch_size, cfg.seed, augment=cfg.augment,
    )
    x_val = prepare_faces(val_split.images)
    y_val = keras.utils.to_categorical(val_split.labels, NUM_CLASSES)

    model = architectures.build(cfg.model)
    if cfg.init:
        _load_initial_weights(model, Path(cfg.init))
    steps = len(batches) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate / 10, steps, alpha=0.01,
        warmup_target=cfg.learning_rate, warmup_steps=min(steps // 20, 2000),
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )
    (run_dir / "config.json").write_text(json.dumps(cfg.__dict__, indent=2))
    best_path = run_dir / "best.keras"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
        _SaveBest(best_path, run_dir / "best.json"),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=cfg.patience, mode="max"),
    ]
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    started = time.time()
    model.fit(
        batches, validation_data=(x_val, y_val), epochs=cfg.epochs,
        callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2,
    )
    # Loaded without compiling, so the shipped file carries no optimizer state (a third the size).
    best = keras.saving.load_model(best_path, compile=False) if best_path.exists() else model
    info = json.loads((run_dir / "best.json").read_text()) if (run_dir / "best.json").exists() else {}
    info["train_seconds_this_run"] = round(time.time() - started, 1)
    return best, info
