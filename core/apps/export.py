"""Real-time export: the trained model as self-contained TorchScript (or ONNX) files that need no patchflow.

Two graphs are written:

* ``mel_to_params``: raw log-mel features in dB ``(B, n_mels, frames)`` (``B`` fixed at export, 1 by default) (the recipe in ``export.json``) ->
  normalised parameters ``(B, P)`` in ``[0, 1]``; the training normalisation is folded in;
* ``latent_to_params`` (latent models only): latent codes ``(B, D)`` -> normalised parameters ``(B, P)``.

``export.json`` lists the parameter specs (to map ``[0, 1]`` back to native values), the feature recipe, the render
settings and the input shapes. Loading needs only ``torch.jit.load`` (or ``onnxruntime``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..runtime.run import Run
from .common import ApplicationError

FORMATS = ("torchscript", "onnx")


class MelToParams(nn.Module):
    """Raw log-mel (dB) to normalised parameters, with the training normalisation built in."""

    def __init__(self, model: nn.Module, mel_mean: float, mel_std: float) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mel_mean", torch.tensor(float(mel_mean)))
        self.register_buffer("mel_std", torch.tensor(float(mel_std)))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]``."""
        return self.model.predict_params((log_mel - self.mel_mean) / self.mel_std).clamp(0.0, 1.0)


class LatentToParams(nn.Module):
    """Latent codes to normalised parameters through ``p(v|z)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]``."""
        return self.model.params_from_latent(z).clamp(0.0, 1.0)


def example_inputs(run: Run, batch: int = 1) -> dict[str, torch.Tensor]:
    """Example inputs of each exported graph (random, with the right shapes)."""
    features = run.feature_settings
    frames = features.frames(run.render_settings.num_samples)
    generator = torch.Generator().manual_seed(0)
    inputs = {"mel_to_params": float(run.mel_mean) + float(run.mel_std) *
              torch.randn((batch, features.n_mels, frames), generator=generator)}
    if run.model.has_latent:
        inputs["latent_to_params"] = torch.randn((batch, run.model.latent_dim), generator=generator)
    return inputs


def wrappers(run: Run) -> dict[str, nn.Module]:
    """The modules to export, in evaluation mode on the CPU."""
    model = run.model.to("cpu").eval()
    out: dict[str, nn.Module] = {"mel_to_params": MelToParams(model, run.mel_mean, run.mel_std).eval()}
    if model.has_latent:
        out["latent_to_params"] = LatentToParams(model).eval()
    return out


def export_run(run: Run, out_dir: str | Path, fmt: str = "torchscript", batch: int = 1) -> dict[str, Path]:
    """Export a run's model to ``out_dir`` and return the written files by name.

    The graphs are traced, so their batch size is fixed at ``batch`` (1: one query at a time, the real-time
    case); ``export.json`` records it.

    Raises:
        ApplicationError: Unknown format, the ONNX packages are missing, or the model cannot be traced.
    """
    if fmt not in FORMATS:
        raise ApplicationError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if batch < 1:
        raise ApplicationError("the export batch size must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    modules = wrappers(run)
    inputs = example_inputs(run, batch)
    files: dict[str, Path] = {}
    for name, module in modules.items():
        path = out / f"{name}.pt" if fmt == "torchscript" else out / f"{name}.onnx"
        try:
            with warnings.catch_warnings():
                # shape checks and layout constants are fixed on purpose: the feature recipe fixes the input shape
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                if fmt == "torchscript":
                    with torch.no_grad():
                        traced = torch.jit.trace(module, inputs[name], check_trace=False)
                        torch.jit.freeze(traced.eval()).save(str(path))  # weights become constants
                else:
                    _export_onnx(module, inputs[name], path)
        except ApplicationError:
            raise
        except Exception as exc:  # tracing errors come from deep inside torch
            raise ApplicationError(f"cannot export {name} of {run.run_dir} as {fmt}: {exc}") from exc
        files[name] = path
    features = run.feature_settings
    meta = {
        "format": fmt, "synth": run.synth_id,
        "graphs": {name: {"file": path.name, "input": list(inputs[name].shape),
                          "output": [batch, len(run.parameters)]}
                   for name, path in files.items()},
        "input_units": {"mel_to_params": "log-mel in dB: 20*log10(max(mel, amin)) of the magnitude mel spectrogram",
                        "latent_to_params": "latent code (standard-normal prior)"},
        "features": features.to_json(), "render_settings": run.render_settings.__dict__,
        "parameters": run.parameters.to_json(),
        "source_run": str(run.run_dir),
    }
    (out / "export.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    files["meta"] = out / "export.json"
    return files


def _export_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ApplicationError("ONNX export needs the `export` extra: pip install 'patchflow[export]'") from None
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=["params"],
                          dynamo=False)
