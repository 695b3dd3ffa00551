"""Data-parallel training over several devices, through each framework's own mechanism.

``python -m hdc.train RUN --devices all|N`` trains one global batch per step, split into
equal slices, one per replica; each replica computes the loss and gradients of its slice,
the gradients are summed across replicas (each replica's mean loss scaled by 1/N, so the
sum is the global batch's mean), and every replica applies the same update. One step on
N replicas therefore equals one step on one device with the same global batch, up to the
order of floating-point sums.

* TensorFlow: ``tf.distribute.MirroredStrategy`` over the chosen devices. The model and
  its optimizer are built inside the strategy's scope (mirrored variables); each batch
  becomes per-replica values (``experimental_distribute_values_from_function``) and goes
  through Keras's own compiled train function, which runs the train step per replica and
  all-reduces the gradients, as ``Model.fit`` does with a distributed dataset.
* JAX: the Keras 3 distribution API, ``keras.distribution.DataParallel`` over a device
  mesh; Keras shards each batch over the mesh's batch axis in ``train_on_batch`` itself.
* PyTorch: Keras has no data-parallel distribution for it; ``--devices`` above 1 is an
  error there.

Without accelerators, N > 1 means N *logical* CPU devices (TensorFlow's logical device
configuration; for JAX ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, set here
before JAX is imported). They share the same cores, so they test the mechanism rather
than speed anything up. ``all`` means every accelerator, or the CPU as one device.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def parse_devices(text: str | int) -> int | None:
    """``"all"`` -> None (every accelerator), ``"N"`` -> N >= 1; anything else: ValueError."""
    if isinstance(text, int):
        value = text
    elif str(text).strip().lower() == "all":
        return None
    else:
        try:
            value = int(str(text))
        except ValueError:
            raise ValueError(f"--devices {text!r}: give 'all' or a positive number of devices") from None
    if value < 1:
        raise ValueError(f"--devices {text!r}: give 'all' or a positive number of devices")
    return value


def _backend() -> str:
    """The Keras backend that will be used (without importing Keras)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def prepare(devices: int | None) -> None:
    """Before Keras (and its backend) is imported: let JAX split the CPU into ``devices``
    logical devices when no accelerator is present (harmless when one is: XLA applies the
    flag to the host platform only)."""
    if devices is None or devices <= 1 or _backend() != "jax" or "jax" in sys.modules:
        return
    flag = f"--xla_force_host_platform_device_count={devices}"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


@dataclass
class Replicas:
    """The devices one training run uses, and how a batch is spread over them."""

    backend: str
    devices: list[str] = field(default_factory=lambda: ["default"])
    strategy: object | None = None
    """N > 1: ``tf.distribute.MirroredStrategy`` (TensorFlow) or ``keras.distribution.DataParallel`` (JAX)."""

    @property
    def count(self) -> int:
        return len(self.devices)

    def describe(self) -> str:
        """For logs and the model card: ``"2 replicas (/cpu:0, /cpu:1), MirroredStrategy"``."""
        if self.count == 1:
            return f"1 device ({self.devices[0]})"
        how = "MirroredStrategy" if self.backend == "tensorflow" else "keras.distribution.DataParallel"
        return f"{self.count} replicas ({', '.join(self.devices)}), {how}"

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build and load models and optimizers inside this (mirrored variables on TF)."""
        if self.strategy is None:
            yield
        else:  # both kinds have a scope: the strategy's, or the distribution's
            with self.strategy.scope():
                yield

    def check_batch(self, batch_size: int) -> None:
        """A global batch must split evenly (equal slices keep the loss the global mean)."""
        if batch_size % self.count:
            raise ValueError(f"batch size {batch_size} does not split evenly over {self.count} replicas")

    def train_on_batch(self, model, x, y) -> float:
        """One optimizer step on the global batch (``x`` a list of input arrays), split over
        the replicas; returns the global batch's mean loss."""
        if self.strategy is None or self.backend == "jax":  # JAX: Keras shards the batch over the mesh
            with self.scope():
                loss = model.train_on_batch(x, y)
            return float(loss if np.ndim(loss) == 0 else loss[0])
        n = self.count

        def local(ctx):
            k = ctx.replica_id_in_sync_group
            part = [a[k * len(a) // n : (k + 1) * len(a) // n] for a in x]
            return part, y[k * len(y) // n : (k + 1) * len(y) // n], None

        if model.train_function is None:
            # what train_on_batch does before its first step: build the optimizer and
            # the compiled loss in the strategy's scope (cross-replica context)
            with self.strategy.scope():
                if not model.optimizer.built:  # a resumed run built it to load its state
                    model.optimizer.build(model.trainable_variables)
                model.make_train_function()
        model.reset_metrics()
        data = self.strategy.experimental_distribute_values_from_function(local)
        logs = model.train_function(iter([data]))
        loss = logs["loss"] if isinstance(logs, dict) else logs
        return float(np.asarray(loss))


BF16_CPU_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")
"""CPU instruction sets that compute bfloat16 products natively. Without them (e.g. an
AVX2-only CPU) TensorFlow emulates bfloat16 and a mixed-precision U-Net step is many
times slower than float32 (docs/experiments.md, 2026-12-02)."""


def accelerator_present() -> bool:
    """Whether the Keras backend sees a GPU (or another non-CPU device)."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform != "cpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU advertises native bfloat16 instructions (:data:`BF16_CPU_FLAGS` in
    ``/proc/cpuinfo``'s flags; ``cpuinfo`` replaces the file's text, for tests)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: no evidence of bfloat16 units
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.split(":")[0].strip() == "flags":
            flags.update(line.split(":", 1)[1].split())
    return any(f in flags for f in BF16_CPU_FLAGS)


def resolve_precision(precision: str, accelerator: bool | None = None, cpuinfo: str | None = None) -> str:
    """``auto``: ``mixed_bfloat16`` where it is fast (an accelerator, or a CPU with native
    bfloat16 instructions), else ``float32``; any other value is returned as it is."""
    if precision != "auto":
        return precision
    if accelerator is None:
        accelerator = accelerator_present()
    return "mixed_bfloat16" if accelerator or cpu_has_bf16(cpuinfo) else "float32"


def setup(devices: int | None) -> Replicas:
    """The :class:`Replicas` for ``devices`` (None: all accelerators, or the CPU); call
    :func:`prepare` before Keras is imported, and this before any model is built."""
    from hdc.keras_import import import_keras

    keras = import_keras()
    backend = keras.backend.backend()
    if devices == 1:
        return Replicas(backend)
    if backend == "tensorflow":
        return _setup_tensorflow(devices)
    if backend == "jax":
        return _setup_jax(devices, keras)
    raise ValueError(f"--devices {devices or 'all'}: data-parallel training needs the TensorFlow or JAX backend")


def _setup_tensorflow(devices: int | None) -> Replicas:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [f"/gpu:{k}" for k in range(len(gpus))]
        if devices is not None:
            if devices > len(gpus):
                raise ValueError(f"--devices {devices}: only {len(gpus)} GPUs visible")
            names = names[:devices]
    else:
        if devices is None:
            return Replicas("tensorflow", ["/cpu:0"])
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
        except RuntimeError as exc:  # the runtime was started before; it may already have them
            have = len(tf.config.list_logical_devices("CPU"))
            if have < devices:
                raise ValueError(
                    f"--devices {devices}: TensorFlow started before the CPU could be split: {exc}"
                ) from None
        names = [f"/cpu:{k}" for k in range(devices)]
    if len(names) == 1:
        return Replicas("tensorflow", names)
    return Replicas("tensorflow", names, tf.distribute.MirroredStrategy(devices=names))


def _setup_jax(devices: int | None, keras) -> Replicas:
    import jax

    accel = [d for d in jax.devices() if d.platform != "cpu"]
    pool = accel or jax.devices("cpu")
    if devices is None:
        chosen = accel if accel else pool[:1]
    else:
        if devices > len(pool):
            raise ValueError(
                f"--devices {devices}: only {len(pool)} {'accelerators' if accel else 'CPU devices'} visible "
                "(for CPU devices, XLA_FLAGS must be set before JAX starts: hdc.distribute.prepare)"
            )
        chosen = pool[:devices]
    names = [f"{d.platform}:{d.id}" for d in chosen]
    if len(chosen) == 1:
        return Replicas("jax", names)
    return Replicas("jax", names, keras.distribution.DataParallel(devices=names))
