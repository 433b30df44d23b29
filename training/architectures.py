"""Model architectures, built by name. Keras 3 APIs only (no ``tf.*``), so the same
code trains under TensorFlow, JAX or PyTorch backends.

Every model takes the output of :func:`training.preprocessing.prepare_faces`
(float32 (N, 48, 48, 1) in [0, 1]) and returns 7 softmax probabilities.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from training.labels import NUM_CLASSES
from training.preprocessing import INPUT_SIZE

# FER2013 training-set pixel statistics (grey levels / 255); normalising inside the model
# keeps a .keras file self-contained.
_MEAN, _STD = 0.508, 0.255


def _input() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    return inp, layers.Rescaling(1.0 / _STD, offset=-_MEAN / _STD, name="standardise")(inp)


def seed_vgg() -> keras.Model:
    """The seed projects' three-block VGG-like CNN (779,783 parameters), kept as a baseline."""
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = inp
    for filters in (32, 64, 128):
        for _ in range(3):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dense(64, activation="relu")(x)
    out = layers.Dense(NUM_CLASSES, activation="softmax", name="emotion")(x)
    return keras.Model(inp, out, name="seed_vgg")


def emojify() -> keras.Model:
    """The seed "Emojify" CNN, kept as a baseline."""
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = layers.Conv2D(32, 3, activation="relu")(inp)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Conv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(NUM_CLASSES, activation="softmax", name="emotion")(x)
    return keras.Model(inp, out, name="emojify")


def _conv_bn(x, filters: int, strides: int = 1, kernel: int = 3):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def fer_fast() -> keras.Model:
    """Our CPU real-time model: VGG-style 3x3 convolutions with BatchNorm, one conv at
    full resolution and two per stage after (32-64-128-256 channels), global pooling.

    Plain 3x3 convolutions beat depthwise-separable ones on a CPU here: oneDNN runs them
    near peak, and the measured faces/s (benchmarks/fer_speed.py) decided the shape.
    """
    inp, x = _input()
    for filters, convs in ((32, 1), (64, 2), (128, 2), (256, 2)):
        for _ in range(convs):
            x = _conv_bn(x, filters)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    out = layers.Dense(NUM_CLASSES, activation="softmax", name="emotion")(x)
    return keras.Model(inp, out, name="fer_fast")


def fer_best(width: int = 64) -> keras.Model:
    """Our accuracy model: VGG-style with BatchNorm (the family behind the best published
    single-network FER2013 results), global pooling instead of a huge flatten."""
    inp, x = _input()
    for stage, convs in enumerate((2, 2, 3, 3)):
        for _ in range(convs):
            x = _conv_bn(x, width * 2**stage)
        x = layers.MaxPooling2D()(x)
        x = layers.SpatialDropout2D(0.1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.4)(x)
    out = layers.Dense(NUM_CLASSES, activation="softmax", name="emotion")(x)
    return keras.Model(inp, out, name="fer_best")


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "seed_vgg": seed_vgg,
    "emojify": emojify,
    "fer_fast": fer_fast,
    "fer_best": fer_best,
}


def build(name: str) -> keras.Model:
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None
