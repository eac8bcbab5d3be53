"""PyTorch: zoo nets wrapped in the contract module, trained by the engine, exported by dynamo.

The net is wrapped in :class:`toolkit.nets.ContractModule` before training, so the module
trained is the module exported and the native baseline is the exported computation. Weights
are saved as safetensors. torch is imported inside the functions only.
"""

from __future__ import annotations

import functools

import numpy as np

from toolkit.frameworks import FitConfig, Fitted, Framework, NativeRuntime, register_framework


def fit(entry, split, config: FitConfig) -> Fitted:
    """Check the training options, build the net from torch's seeded generator, train it."""
    from dataclasses import asdict

    import torch

    from toolkit.engine import TrainConfig
    from toolkit.models import create_model

    # checked before any work, so a wrong option fails at once and names itself
    train_config = TrainConfig.from_options({**entry.train_defaults, **config.train_options})
    # the zoo's builders draw their initial weights from torch's global generator
    torch.manual_seed(config.seed)
    net = create_model(
        config.spec,
        image_shape=config.image_shape,
        num_classes=config.num_classes,
        seed=config.seed,
        **config.params,
    )
    result = fit_torch(
        net,
        split.x_train,
        split.y_train,
        split.x_val,
        split.y_val,
        layout=config.layout,
        seed=config.seed,
        config=train_config,
        progress=config.progress,
        label=config.spec,
        augment=config.augment,
        threads=config.threads,
    )
    return Fitted(
        model=result.module,
        train_config=asdict(train_config),
        device=result.device,
        history=result.history,
        curve=result.curve,
        status=result.status,
    )


def fit_torch(
    net,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    layout: str,
    seed: int,
    config,
    progress: bool = True,
    label: str = "",
    augment=None,
    threads: int | None = None,
):
    """Wrap ``net`` in the contract module and train it with :func:`toolkit.engine.fit`.

    The normalisation statistics come from the training images and live in the module,
    so the module trained is the module exported.

    Args:
        net: a zoo network taking normalised float NCHW input.
        x_train, y_train, x_val, y_val: as :func:`toolkit.engine.fit` takes them.
        layout: "NHW" or "NHWC", the contract's input layout.
        seed: seeds the data order and everything else random in training.
        config: the :class:`toolkit.engine.TrainConfig` to train with.
        progress: show a progress bar.
        label: the bar's name.
        augment, threads: passed to :func:`toolkit.engine.fit`.

    Returns:
        The engine's :class:`toolkit.engine.FitResult`.
    """
    from toolkit.engine import fit as engine_fit
    from toolkit.nets import ContractModule
    from toolkit.train import channel_stats

    mean, std = channel_stats(x_train)
    module = ContractModule(net, mean, std, layout)
    return engine_fit(
        module,
        x_train,
        y_train,
        x_val,
        y_val,
        config,
        seed=seed,
        progress=progress,
        label=label,
        augment=augment,
        threads=threads,
    )


def native_predict(module, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eager PyTorch forward of the contract module on the module's device."""
    import torch

    device = next(module.parameters()).device
    with torch.inference_mode():
        label, scores = module(torch.from_numpy(np.ascontiguousarray(images)).to(device))
    return label.cpu().numpy(), scores.float().cpu().numpy()


def prepare_native(trained, device: str, threads: int):
    """A copy of the module on ``device`` in eval mode, with torch's threads pinned."""
    import copy

    import torch

    torch.set_num_threads(threads)
    return copy.deepcopy(trained.model).to(device).eval()


def export(trained):
    """The contract module through torch.onnx (see :mod:`exporters.torch_export`)."""
    from exporters.torch_export import export_torch

    return export_torch(trained)


def save(trained) -> bytes:
    """The module's state as safetensors bytes, tagged with the model and layout."""
    from safetensors.torch import save as save_tensors

    state = {k: v.contiguous() for k, v in trained.model.state_dict().items()}
    return save_tensors(state, metadata={"model": trained.name, "layout": trained.layout})


def load(data: bytes, fields: dict, filename: str):
    """The ContractModule the config describes, with the saved tensors, checked by name,
    shape and dtype first (load_state_dict's own error is many lines and names no file)."""
    import torch
    from safetensors.torch import load as load_tensors

    from toolkit.models import create_model
    from toolkit.nets import ContractModule
    from toolkit.saved import one_line

    config, image_shape = fields["config"], fields["image_shape"]
    try:
        state = load_tensors(data)
    except Exception as e:  # safetensors raises SafetensorError, or others on bad headers
        raise ValueError(f"{filename}: not a readable safetensors file ({one_line(e)}).") from e
    channels = image_shape[2] if len(image_shape) == 3 else 1

    def build() -> ContractModule:
        net = create_model(
            config["model"],
            image_shape=image_shape,
            num_classes=len(fields["class_names"]),
            seed=config.get("seed", 0),
            **config.get("params", {}),
        )
        return ContractModule(net, [0.0] * channels, [1.0] * channels, fields["layout"])

    try:
        # shapes first, on the meta device: metadata naming huge images or layers allocates
        # nothing, and the real module is built only once it matches the file's tensors
        with torch.device("meta"):
            expected = build().state_dict()
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        raise ValueError(
            f"{filename}: the training_config of its ONNX file does not build a model "
            f"({one_line(e)})."
        ) from e
    problems = [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [
        f"{k} is {list(v.shape)} {v.dtype}, expected {list(expected[k].shape)} {expected[k].dtype}"
        for k, v in state.items()
        if k in expected and (v.shape != expected[k].shape or v.dtype != expected[k].dtype)
    ]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError(
            f"{filename}: does not fit {config['model']!r} as its ONNX file describes it: "
            f"{'; '.join(problems[:3])}{more}."
        )
    module = build()
    module.load_state_dict(state)  # the buffers bring the real mean/std
    return module.eval()


def complexity(trained) -> dict[str, float | None]:
    """Parameters and forward FLOPs per image from torch's FLOP counter."""
    from toolkit.nets import count_parameters, flops_per_image

    return {
        "parameters": count_parameters(trained.model),
        "flops_per_image": flops_per_image(trained.model, trained.image_shape),
    }


def _check_config(config: dict) -> str | None:
    """A net is rebuilt from the config's model spec, so a reload needs one."""
    return None if isinstance(config.get("model"), str) else "training_config names no model"


def _cuda_missing() -> str | None:
    """Why torch cannot run on CUDA here, asked without importing torch into this process
    (`xrbench runtimes` must stay light): a machine without an NVIDIA driver cannot, and
    otherwise a child process asks torch itself (once, cached)."""
    import sys

    if "torch" in sys.modules:
        available = sys.modules["torch"].cuda.is_available()
    else:
        available = _cuda_available_in_a_child()
    if not available:
        from importlib.metadata import version

        return (
            f"torch {version('torch')} sees no CUDA GPU (torch.cuda.is_available() is False); "
            "run on a machine with an NVIDIA GPU and a CUDA build of torch."
        )
    return None


@functools.cache
def _cuda_available_in_a_child() -> bool:
    import os
    import subprocess
    import sys

    # NVIDIA's driver, WSL's GPU bridge, ROCm (torch.cuda on AMD): with none, torch sees none
    devices = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")
    if not any(os.path.exists(d) for d in devices):
        return False
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.stdout.strip() == "True"


TORCH = register_framework(
    Framework(
        name="torch",
        summary="PyTorch (torch.onnx dynamo export, safetensors weights)",
        requires=("torch", "onnx", "onnxscript"),
        extra="train",
        weights_suffix=".safetensors",
        native_runtimes=(
            NativeRuntime(
                "torch-cpu",
                "cpu",
                "PyTorch eager mode on the CPU (the native baseline).",
                provider="torch:cpu",
            ),
            NativeRuntime(
                "torch-cuda",
                "cuda",
                "PyTorch eager mode on a CUDA GPU (the native baseline).",
                _cuda_missing,
                provider="torch:cuda",
            ),
        ),
        fit=fit,
        native_predict=native_predict,
        prepare_native=prepare_native,
        export=export,
        save=save,
        load=load,
        complexity=complexity,
        trains_in_epochs=True,
        precision_variants=True,
        check_config=_check_config,
    )
)
