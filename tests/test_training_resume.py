"""The training CLI on a small CSV: killed after an epoch, the same command resumes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest


def _small_csv(path, n_train=960, n_test=70):
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        fh.write("emotion,pixels,Usage\n")
        for usage, n in (("Training", n_train), ("PublicTest", n_test), ("PrivateTest", n_test)):
            for i in range(n):
                pixels = " ".join(map(str, rng.integers(0, 256, 2304)))
                fh.write(f"{i % 7},{pixels},{usage}\n")


def _epochs_logged(log) -> list[int]:
    if not log.exists():
        return []
    with log.open() as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_epoch(tmp_path):
    data, run = tmp_path / "small.csv", tmp_path / "run"
    _small_csv(data)
    cmd = [sys.executable, "-m", "training", "train", "--model", "fer_fast", "--data", str(data),
           "--epochs", "3", "--batch-size", "32", "--run-dir", str(run), "--out", str(tmp_path / "m.keras")]
    env = {**os.environ, "CLASSROOM_CACHE": str(tmp_path / "cache")}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not _epochs_logged(run / "log.csv") and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # a power cut, not a polite stop
    first.wait()
    done_before = _epochs_logged(run / "log.csv")
    assert done_before and done_before[0] == 0, "the first run should have finished an epoch"

    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    # Resumed: epochs continue where the killed run stopped, none repeated from scratch.
    assert _epochs_logged(run / "log.csv") == [0, 1, 2]
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["epochs_run"] == 3 and card["parameters"] == 1_167_015
    assert 0 <= card["private_test"]["accuracy"] <= 1


@pytest.mark.slow
def test_warm_restart_starts_from_the_given_models_weights(tmp_path):
    import keras

    from training.modelio import DEFAULT_MODEL

    data = tmp_path / "small.csv"
    _small_csv(data, n_train=64, n_test=14)
    env = {**os.environ, "CLASSROOM_CACHE": str(tmp_path / "cache")}
    base = [sys.executable, "-m", "training", "train", "--data", str(data), "--epochs", "1", "--batch-size", "32",
            "--lr", "1e-12", "--init", str(DEFAULT_MODEL)]

    wrong = subprocess.run(base + ["--model", "seed_vgg", "--run-dir", str(tmp_path / "r1")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "cannot start a 'seed_vgg' run" in wrong.stderr

    out = tmp_path / "warm.keras"
    ok = subprocess.run(base + ["--model", "fer_fast", "--run-dir", str(tmp_path / "r2"), "--out", str(out),
                                "--tensorboard"],
                        env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    start = keras.saving.load_model(DEFAULT_MODEL, compile=False)
    warm = keras.saving.load_model(out, compile=False)
    fresh = keras.saving.load_model(out, compile=False)
    fresh.set_weights(keras.models.clone_model(start).get_weights())  # same shapes, new random values
    kernel = start.trainable_weights[0].numpy()
    # At a learning rate of 1e-12 the trained kernels are still the starting model's, not random ones.
    assert np.allclose(warm.trainable_weights[0].numpy(), kernel, atol=1e-6)
    assert not np.allclose(fresh.trainable_weights[0].numpy(), kernel, atol=1e-3)
    assert list((tmp_path / "r2" / "tensorboard").rglob("events.out.tfevents.*"))
    assert json.loads(out.with_suffix(".json").read_text())["warm_start"]["from"] == str(DEFAULT_MODEL)
