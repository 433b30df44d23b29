"""Architectures, a short real training run, the evaluate CLI contract, and the shipped model."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from training import architectures
from training.evaluate import metrics
from training.labels import EMOTIONS
from training.modelio import DEFAULT_MODEL, ModelError, load
from training.preprocessing import prepare_faces


def test_seed_vgg_has_exactly_the_seed_parameter_count():
    assert architectures.build("seed_vgg").count_params() == 779_783


@pytest.mark.parametrize("name", list(architectures.ARCHITECTURES))
def test_every_architecture_maps_faces_to_seven_probabilities(name):
    model = architectures.build(name)
    out = np.asarray(model(prepare_faces(np.zeros((2, 48, 48), np.uint8))))
    assert out.shape == (2, 7)
    assert np.allclose(out.sum(axis=1), 1, atol=1e-4)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'vgg99'"):
        architectures.build("vgg99")


def test_a_few_training_steps_lower_the_loss():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Two separable classes: bright upper half vs bright lower half.
    x = rng.integers(0, 60, (64, 48, 48), dtype=np.uint8)
    y = np.arange(64) % 2 * 3  # angry / happy
    x[y == 0, :24] += 150
    x[y == 3, 24:] += 150
    model = architectures.build("fer_fast")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    xs = prepare_faces(x)
    before = model.evaluate(xs, y, verbose=0)
    model.fit(xs, y, epochs=8, batch_size=16, verbose=0)
    after = model.evaluate(xs, y, verbose=0)
    assert after < before * 0.7


def test_metrics_shape_and_values():
    labels = np.array([0, 1, 2, 3, 3])
    probs = np.eye(7)[[0, 2, 2, 3, 6]] * 0.6 + np.eye(7)[[1, 1, 0, 0, 3]] * 0.3 + 0.1 / 7
    m = metrics(labels, probs)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["top2"] == pytest.approx(1.0)
    assert m["second_guess_right"] == pytest.approx(1.0)
    assert list(m["per_class"]) == list(EMOTIONS)
    assert m["per_class"]["angry"]["recall"] == 1.0 and m["per_class"]["disgust"]["recall"] == 0.0
    assert np.array(m["confusion"]).sum() == 5 and m["confusion"][1][2] == 1


def test_wrong_shape_model_is_refused(tmp_path):
    inp = keras.Input((32, 32, 3))
    bad = keras.Model(inp, keras.layers.Dense(5)(keras.layers.Flatten()(inp)))
    path = tmp_path / "bad.keras"
    bad.save(path)
    with pytest.raises(ModelError, match="must take"):
        load(path)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"nope")
    with pytest.raises(ModelError, match="cannot load"):
        load(garbage)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "training", *args], capture_output=True, text=True, timeout=600)


def test_evaluate_cli_bad_input_is_one_clear_message(tmp_path):
    r = _cli("evaluate", "--model", str(tmp_path / "none.keras"), "--data", str(tmp_path / "none.csv"))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: ") and "Traceback" not in r.stderr


@pytest.mark.slow
def test_evaluate_cli_json_contract_and_db(tmp_path, fer_csv):
    db = tmp_path / "e.db"
    png = tmp_path / "cm.png"
    model = tmp_path / "fer_fast.keras"
    model.write_bytes(DEFAULT_MODEL.read_bytes())  # a copy, so the misclassified sample lands in tmp_path
    r = _cli("evaluate", "--model", str(model), "--data", str(fer_csv), "--split", "PublicTest", "--json",
             "--db", f"sqlite:///{db}", "--confusion-png", str(png), "--misclassified", "16")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"accuracy", "top2", "n", "per_class", "confusion"} <= set(out)
    assert out["n"] == 3589 and len(out["confusion"]) == 7
    assert set(out["per_class"]["disgust"]) == {"precision", "recall", "f1", "support"}
    assert png.stat().st_size > 10_000
    sample = np.load(tmp_path / "fer_fast.misclassified.npz")
    assert sample["images"].shape == (16, 48, 48) and (sample["true"] != sample["pred"]).all()
    from db import connect
    from db.repository import evaluations

    with connect(f"sqlite:///{db}")() as s:
        (row,) = evaluations(s)
        assert row.model_name == DEFAULT_MODEL.stem and row.n == 3589
        assert row.accuracy == pytest.approx(out["accuracy"])


@pytest.mark.slow
def test_shipped_models_match_their_cards_and_the_default_meets_its_targets(fer_data):
    from training.evaluate import predict
    from training.modelio import MODELS_DIR

    priv = fer_data.split("PrivateTest")
    shipped = sorted(MODELS_DIR.glob("*.keras"))
    assert DEFAULT_MODEL in shipped and len(shipped) >= 2  # the default and the seed baseline
    results = {}
    for path in shipped:
        model = load(path)
        # predict(tta=True) is the mean of these two passes; two passes per model instead of three.
        plain, mirrored = predict(model, priv.images), predict(model, priv.images[:, :, ::-1])
        single, tta = metrics(priv.labels, plain), metrics(priv.labels, (plain + mirrored) / 2)
        card = json.loads(path.with_suffix(".json").read_text())
        # The cards' figures are what the README and the dashboard claim: they must be what the files give.
        assert single["accuracy"] == pytest.approx(card["private_test"]["accuracy"], abs=0.002), path.name
        assert tta["accuracy"] == pytest.approx(card["private_test_flip_tta"]["accuracy"], abs=0.002), path.name
        assert card["parameters"] == model.count_params()
        for key, m in (("private_test", single), ("private_test_flip_tta", tta)):
            # The admin's model page shows the card's matrix without the data set: it must be the file's.
            got, claimed = np.array(m["confusion"]), np.array(card[key]["confusion"])
            assert np.abs(got - claimed).sum() <= 14, (path.name, key)  # a face or so may flip on another CPU
            assert claimed.trace() / claimed.sum() == pytest.approx(card[key]["accuracy"], abs=1e-4)
            assert set(card[key]["per_class"]["fear"]) == {"precision", "recall", "f1", "support"}
        results[path] = single, tta
    single, tta = results[DEFAULT_MODEL]
    # Issue 3 asks >= 70 % for the default model: it reaches that read with its mirror image, as
    # the engine reads faces ([classify] flip_average); single pass it stands at 69 %.
    assert single["accuracy"] >= 0.685
    assert tta["accuracy"] >= 0.70
    assert single["per_class"]["disgust"]["recall"] >= 0.50
    # What the recipe and the network add over the seed projects' network.
    seed_single, _ = results[MODELS_DIR / "seed_vgg.keras"]
    assert single["accuracy"] > seed_single["accuracy"] + 0.10
