"""``python -m training train|evaluate``: human text by default, one JSON object with --json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides our output

from training.data import DataError, load  # noqa: E402
from training.machine import cpu_name  # noqa: E402
from training.modelio import DEFAULT_MODEL, MODELS_DIR, ModelError  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
NAME_MAX = 20  # model_evaluations.split holds a zip evaluation's name (String(20))
FER_SPLITS = ("Training", "PublicTest", "PrivateTest")
CARD_SECTIONS = {("PublicTest", False): "public_test", ("PrivateTest", False): "private_test",
                 ("PrivateTest", True): "private_test_flip_tta"}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training", description="Train and evaluate the facial-expression CNN.")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on FER2013 (select on PublicTest, report PrivateTest)")
    t.add_argument("--model", default="fer_fast", help="architecture: seed_vgg, emojify, fer_fast, fer_best")
    t.add_argument("--data", default=str(SHARED_DATA), help="FER2013 CSV(.gz) or image folder (default: ../shared copy)")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine schedule with warm-up)")
    t.add_argument("--class-weight-power", type=float, default=0.5, help="0 none, 1 full inverse frequency")
    t.add_argument("--label-smoothing", type=float, default=0.1)
    t.add_argument("--patience", type=int, default=15, help="early-stopping patience in epochs (PublicTest accuracy)")
    t.add_argument("--seed", type=int, default=1337)
    t.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    t.add_argument("--init", default=None, metavar="MODEL",
                   help="start from this trained model of the same architecture (warm restart)")
    t.add_argument("--run-dir", default=None, help="checkpoints and logs; re-running resumes (default runs/NAME)")
    t.add_argument("--no-augment", dest="augment", action="store_false",
                   help="train on the faces as they are (for ablations: what augmentation adds)")
    t.add_argument("--tensorboard", action="store_true", help="also log for TensorBoard in RUN_DIR/tensorboard")
    t.add_argument("--out", default=None, help="where to write the model (default models/NAME.keras) and its card")
    t.add_argument("--json", action="store_true", help="print the model card (one JSON object) instead of text")

    e = sub.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix on a split")
    e.add_argument("--model", default=str(DEFAULT_MODEL), help=f"model file (default {DEFAULT_MODEL.name})")
    e.add_argument("--data", default=str(SHARED_DATA),
                   help="FER2013 CSV(.gz) or image folder, or a zip of your own faces in label folders "
                        "(happy/1.png, ...: every face in it is evaluated, --split does not apply)")
    e.add_argument("--split", default="PrivateTest", choices=["Training", "PublicTest", "PrivateTest"],
                   help="which FER2013 split to score (default PrivateTest, the held-out test set)")
    e.add_argument("--name", default=None, help=f"a zip's evaluation name in the database (at most {NAME_MAX} "
                                                "characters; default the zip's file name)")
    e.add_argument("--write-card", action="store_true",
                   help="write the result (confusion matrix, per-class precision/recall/F1, top-2) into the "
                        "model's card, MODEL.json, as its public_test / private_test[_flip_tta] section")
    e.add_argument("--progress", action="store_true", help="print 'progress DONE/TOTAL' lines on stderr")
    e.add_argument("--tta", action="store_true", help="average with the mirrored face (flip test-time augmentation)")
    e.add_argument("--confusion-png", default=None, help="also write the confusion matrix as a PNG here")
    e.add_argument("--db", default=None, help="store the evaluation in this database (SQLAlchemy URL)")
    e.add_argument("--misclassified", type=int, default=0, metavar="N",
                   help="also save N misclassified faces beside the model (MODEL.misclassified.npz) for the "
                        "dashboard's model page; they are data-set images, so the file stays out of git")
    e.add_argument("--json", action="store_true", help="print one JSON object: accuracy, top2, n, per_class, confusion")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        return _evaluate(args)
    except (DataError, ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the last epoch", file=sys.stderr)
        return 130


def _train(args) -> int:
    from training import evaluate as ev
    from training.modelio import faces_per_second
    from training.train import TrainConfig, train

    data = load(args.data)
    cfg = TrainConfig(
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        label_smoothing=args.label_smoothing, class_weight_power=args.class_weight_power,
        patience=args.patience, seed=args.seed, limit=args.limit, init=args.init,
        tensorboard=args.tensorboard, augment=args.augment,
    )
    run_dir = Path(args.run_dir or Path("runs") / args.model)
    model, info = train(data, cfg, run_dir)
    out = Path(args.out or MODELS_DIR / f"{args.model}.keras")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)

    results = {}
    for split in ("PublicTest", "PrivateTest"):
        part = data.split(split)
        results[split] = ev.metrics(part.labels, ev.predict(model, part.images))
        results[split + "_tta"] = ev.metrics(part.labels, ev.predict(model, part.images, tta=True))
    card = _model_card(model, cfg, data, info, results, run_dir, faces_per_second(model, 64))
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    if args.json:
        print(json.dumps(card))
    else:
        print(f"saved {out} and its card {out.with_suffix('.json')}")
        print(ev.format_report(results["PublicTest"], "PublicTest (used for model selection):"))
        print(ev.format_report(results["PrivateTest"], "PrivateTest (reported, never tuned on):"))
    return 0


def _model_card(model, cfg, data, info, results, run_dir: Path, fps64: float) -> dict:
    log = run_dir / "log.csv"
    epochs_run = max(0, len(log.read_text().strip().splitlines()) - 1) if log.exists() else None
    return {
        "name": cfg.model,
        "command": "python -m training " + " ".join(sys.argv[1:]),
        "architecture": model.name,
        "parameters": int(model.count_params()),
        "input": {"shape": [48, 48, 1], "preprocessing": "training.preprocessing.prepare_faces: grey, 48x48 "
                  "(INTER_AREA when shrinking), float32 /255; standardised inside the model"},
        "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "training_data": {"source": Path(data.source).name, "split": "Training",
                          "images": int(cfg.limit or len(data.split("Training")))},
        "recipe": {**cfg.__dict__, "optimizer": "AdamW, cosine decay with warm-up",
                   "augmentation": ("one affine warp (rotation +-12 deg, shift 8%, zoom 10%), flip, random erasing 50%"
                                    if cfg.augment else "none"),
                   "selection": "best PublicTest accuracy epoch"},
        "epochs_run": epochs_run,
        "best_epoch": info.get("epoch"),
        **({"warm_start": _warm_start(cfg.init)} if cfg.init else {}),
        "trained_on": f"{cpu_name()}, {os.cpu_count()} CPU cores, keras backend "
                      f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}; last run {info['train_seconds_this_run'] / 60:.0f} "
                      "min wall-clock (a resumed run counts from its restart)",
        "public_test": _summary(results["PublicTest"]),
        "private_test": _summary(results["PrivateTest"]),
        "private_test_flip_tta": _summary(results["PrivateTest_tta"]),
        "faces_per_second_cpu_batch64": round(fps64),
        "measured_on": f"{platform.platform()}, {os.cpu_count()} cores",
    }


def _warm_start(init: str) -> dict:
    """What the starting model was, so the card accounts for all the training behind it."""
    from training.modelio import read_card

    earlier = read_card(init)
    keep = ("command", "recipe", "epochs_run", "trained_on", "private_test", "warm_start")
    return {"from": init, **{k: earlier[k] for k in keep if k in earlier}}


def _summary(m: dict) -> dict:
    """A model card's section: the full evaluation (what the dashboard's model page shows
    without the data set), with ``recall`` on its own as the first cards had it."""
    per_class = {k: {"precision": round(v["precision"], 4), "recall": round(v["recall"], 4), "f1": round(v["f1"], 4),
                     "support": v["support"]} for k, v in m["per_class"].items()}
    return {"accuracy": round(m["accuracy"], 4), "top2": round(m["top2"], 4), "n": m["n"],
            "recall": {k: v["recall"] for k, v in per_class.items()}, "per_class": per_class,
            "confusion": m["confusion"]}


def _evaluate(args) -> int:
    from training import evaluate as ev

    if args.data.lower().endswith(".zip"):
        return _evaluate_zip(args)
    if args.write_card and (args.split, args.tta) not in CARD_SECTIONS:
        raise ValueError("a model card holds PublicTest, PrivateTest and PrivateTest with --tta; "
                         f"not {args.split}{' with --tta' if args.tta else ''}")
    from training.modelio import load as load_model

    model = load_model(args.model)
    part = load(args.data).split(args.split)
    probs = ev.predict(model, part.images, tta=args.tta)
    m = ev.metrics(part.labels, probs)
    if args.misclassified > 0:
        ev.save_misclassified(Path(args.model).with_suffix(".misclassified.npz"), part.images, part.labels,
                              probs, args.misclassified)
    if args.confusion_png:
        from training.plots import confusion_png

        confusion_png(m["confusion"], args.confusion_png, title=f"{Path(args.model).stem} on {args.split}")
    if args.db:
        from training.store import store_evaluation

        store_evaluation(args.db, model_path=args.model, split=args.split, tta=args.tta, result=m)
    if args.write_card:
        _write_card_section(Path(args.model), CARD_SECTIONS[args.split, args.tta], m)
    if args.json:
        print(json.dumps(m))
    else:
        print(ev.format_report(m, f"{Path(args.model).name} on {args.split} of {Path(args.data).name}"
                               + (" (flip TTA)" if args.tta else "")))
    return 0


def _write_card_section(model_path: Path, key: str, m: dict) -> None:
    """Replace one evaluation section of the model's card, keeping everything else in it."""
    from training.modelio import card_path

    path = card_path(model_path)
    if not path.exists():
        raise ValueError(f"{model_path.name} has no card ({path.name}) to write into; `python -m training train` "
                         "writes one")
    card = json.loads(path.read_text())
    card[key] = _summary(m)
    card.setdefault("evaluated_with", {})[key] = (
        f"python -m training evaluate --model models/{model_path.name} --data fer2013.csv.gz "
        f"--split {'PublicTest' if key == 'public_test' else 'PrivateTest'}{' --tta' if key.endswith('tta') else ''} "
        "--write-card")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, path)


def _evaluate_zip(args) -> int:
    """A zip of the school's own labelled faces (training/labelled_zip.py): every face in it."""
    from training import evaluate as ev
    from training import labelled_zip
    from training.modelio import load as load_model

    if args.misclassified or args.write_card:
        raise ValueError("--misclassified and --write-card are for FER2013 data: a zip's faces are never written "
                         "beside the model")
    name = (args.name or Path(args.data).stem).strip()
    if args.db and (not name or len(name) > NAME_MAX or name in FER_SPLITS):
        raise ValueError(f"the evaluation's name must be 1 to {NAME_MAX} characters and not a FER2013 split name")

    def progress(done: int, total: int) -> None:
        print(f"progress {done}/{total}", file=sys.stderr, flush=True)

    faces = labelled_zip.read(args.data, progress=progress if args.progress else None)
    model = load_model(args.model)
    probs = ev.predict(model, faces.images, tta=args.tta)
    m = ev.metrics(faces.labels, probs)
    pred = probs.argmax(axis=1)
    m["archive"] = faces.report()
    m["misclassified"] = [{"name": faces.names[i], "true": int(faces.labels[i]), "pred": int(pred[i]),
                           "face_png": _png_base64(faces.images[i])}
                          for i in range(len(faces)) if pred[i] != faces.labels[i]]
    if args.confusion_png:
        from training.plots import confusion_png

        confusion_png(m["confusion"], args.confusion_png, title=f"{Path(args.model).stem} on {name}")
    if args.db:
        from training.store import store_evaluation

        store_evaluation(args.db, model_path=args.model, split=name, tta=args.tta,
                         result={k: m[k] for k in ("n", "accuracy", "top2", "per_class", "confusion")})
    if args.json:
        print(json.dumps(m))
    else:
        print(ev.format_report(m, f"{Path(args.model).name} on {Path(args.data).name}" + (" (flip TTA)" if args.tta else "")))
        for note in faces.notes():
            print("note: " + note)
    return 0


def _png_base64(face) -> str:
    import base64

    import cv2

    ok, png = cv2.imencode(".png", face)
    return base64.b64encode(png.tobytes()).decode("ascii") if ok else ""
