"""A small zoo of Keras 3 models to profile, built offline (``weights=None``) on synthetic data.

``MODELS`` maps a name to a builder; each builder returns a :class:`ZooModel`: an uncompiled
``keras.Model`` (random weights, output logits), the shape of one input sample, and how to draw a
synthetic batch of the real shapes and dtypes from a numpy ``Generator``. Only plain Keras 3 APIs
(``keras.layers``, ``keras.Model``, ``keras.ops``) are used, so the zoo runs on the TensorFlow and
the JAX backends alike.

| name | what | input (one sample) | output |
|---|---|---|---|
| ``mlp`` | 2 hidden layers of 512 | MNIST 28x28 float | 10 classes |
| ``cnn`` | 2 conv + dense (Keras' MNIST example) | 28x28x1 float | 10 classes |
| ``resnet50-cifar`` / ``-imagenet`` | ``keras.applications.ResNet50`` | 32x32x3 / 224x224x3 | 10 / 1000 |
| ``mobilenetv2-cifar`` / ``-imagenet`` | ``keras.applications.MobileNetV2`` | 32x32x3 / 224x224x3 | 10 / 1000 |
| ``transformer`` | causal Transformer encoder LM, 2 layers, d=128 | 128 token ids (vocab 8000) | next-token logits |
| ``lstm`` | 2-layer LSTM LM, 256 units (PTB-like) | 35 token ids (vocab 10000) | next-token logits |

Keras is imported inside the builders only, so importing this module stays cheap. Seeding Keras
(weight initialisation) is the caller's job: see ``calibrate.runner``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


def import_keras():
    """Import Keras with TensorFlow's C++ log level at 2 (errors only) unless the user set it.

    The variable is set only around the import, as STYLE.md allows; TensorFlow reads it then.
    """
    old = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    if old is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    try:
        import keras
    finally:
        if old is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return keras


@dataclass(frozen=True)
class ZooModel:
    """One zoo entry, ready to compile.

    ``input_shape`` is one sample's shape (no batch axis) and ``input_dtype`` its dtype;
    ``target_shape`` one target's shape (``()`` for a class label, ``(seq,)`` for a language model);
    targets are int32 class ids in ``[0, num_classes)``. The model outputs logits.
    """

    name: str
    model: keras.Model
    input_shape: tuple[int, ...]
    input_dtype: str
    num_classes: int
    target_shape: tuple[int, ...] = ()
    optimizer: str = "sgd"  # "sgd" (momentum 0.9, lr 0.01) or "adam" (lr 1e-3)

    def make_batch(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A synthetic batch ``(x, y)`` of ``batch_size`` samples of the real shapes and dtypes."""
        if self.input_dtype.startswith("int"):  # token ids: y is x shifted by one (next token)
            seq = self.input_shape[0]
            tokens = rng.integers(0, self.num_classes, size=(batch_size, seq + 1), dtype=np.int32)
            return tokens[:, :-1], tokens[:, 1:]
        x = rng.random((batch_size, *self.input_shape), dtype=np.float32)
        y = rng.integers(0, self.num_classes, size=(batch_size, *self.target_shape), dtype=np.int32)
        return x, y

    def compile(self, **kwargs) -> keras.Model:
        """Compile the model with its optimizer and sparse cross-entropy on logits; returns it."""
        keras = import_keras()
        if self.optimizer == "adam":
            opt = keras.optimizers.Adam(learning_rate=1e-3)
        else:
            opt = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.model.compile(optimizer=opt, loss=loss, **kwargs)
        return self.model


def params(model: keras.Model) -> int:
    """The number of trainable parameters (scalars) of a built model."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


# --- builders ----------------------------------------------------------------------------------


def mlp() -> ZooModel:
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((28, 28))
    x = layers.Flatten()(inputs)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return ZooModel("mlp", keras.Model(inputs, outputs, name="mlp"), (28, 28), "float32", 10)


def cnn() -> ZooModel:
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return ZooModel("cnn", keras.Model(inputs, outputs, name="cnn"), (28, 28, 1), "float32", 10)


def _application(name: str, app: str, size: int, classes: int) -> Callable[[], ZooModel]:
    def build() -> ZooModel:
        keras = import_keras()
        make = getattr(keras.applications, app)
        model = make(weights=None, input_shape=(size, size, 3), classes=classes, classifier_activation=None)
        return ZooModel(name, model, (size, size, 3), "float32", classes)

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"keras.applications.{app}, weights=None, {size}x{size}x3 input, {classes} classes."
    return build


def _position_embedding(keras, seq_len: int, dim: int):
    """A layer adding a learned embedding of each position 0..seq_len-1 to its input."""

    class PositionEmbedding(keras.layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(seq_len, dim), initializer="glorot_uniform", name="positions")

        def call(self, x):
            return x + keras.ops.expand_dims(self.table, 0)

    return PositionEmbedding()


def transformer(vocab: int = 8000, seq_len: int = 128, dim: int = 128, heads: int = 4, depth: int = 2,
                ff: int = 512) -> ZooModel:
    """A causal (GPT-style, pre-norm) Transformer encoder language model: tokens → next-token logits."""
    keras = import_keras()
    layers = keras.layers
    tokens = keras.Input((seq_len,), dtype="int32")
    x = layers.Embedding(vocab, dim)(tokens)
    x = _position_embedding(keras, seq_len, dim)(x)
    for _ in range(depth):
        h = layers.LayerNormalization()(x)
        h = layers.MultiHeadAttention(heads, dim // heads)(h, h, use_causal_mask=True)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization()(x)
        h = layers.Dense(ff, activation="gelu")(h)
        h = layers.Dense(dim)(h)
        x = layers.Add()([x, h])
    x = layers.LayerNormalization()(x)
    logits = layers.Dense(vocab)(x)
    model = keras.Model(tokens, logits, name="transformer")
    return ZooModel("transformer", model, (seq_len,), "int32", vocab, (seq_len,), optimizer="adam")


def lstm(vocab: int = 10000, seq_len: int = 35, units: int = 256, depth: int = 2) -> ZooModel:
    """A word-level LSTM language model (Penn Treebank shapes): tokens → next-token logits."""
    keras = import_keras()
    layers = keras.layers
    tokens = keras.Input((seq_len,), dtype="int32")
    x = layers.Embedding(vocab, units)(tokens)
    for _ in range(depth):
        x = layers.LSTM(units, return_sequences=True)(x)
    logits = layers.Dense(vocab)(x)
    model = keras.Model(tokens, logits, name="lstm")
    return ZooModel("lstm", model, (seq_len,), "int32", vocab, (seq_len,), optimizer="adam")


MODELS: dict[str, Callable[[], ZooModel]] = {
    "mlp": mlp,
    "cnn": cnn,
    "resnet50-cifar": _application("resnet50-cifar", "ResNet50", 32, 10),
    "resnet50-imagenet": _application("resnet50-imagenet", "ResNet50", 224, 1000),
    "mobilenetv2-cifar": _application("mobilenetv2-cifar", "MobileNetV2", 32, 10),
    "mobilenetv2-imagenet": _application("mobilenetv2-imagenet", "MobileNetV2", 224, 1000),
    "transformer": transformer,
    "lstm": lstm,
}


def build(name: str) -> ZooModel:
    """Build zoo model ``name`` (a ``KeyError`` for an unknown one: callers check ``MODELS`` first)."""
    return MODELS[name]()
