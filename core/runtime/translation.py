"""Using a trained translation run (``patchflow translate train``): a sound of domain A (a recording) becomes the
log-mel it would have in domain B (the synth's renders). A UNIT run translates the log-mel itself (which becomes
audio through Griffin-Lim); a UMT run translates the audio (its decoder of domain B sampled autoregressively at
the model's rate), whose log-mel is then taken as the synth's featurizer takes it.

A sound is read the way ``dataset import-audio`` read domain A's clips: mono, resampled, cut or zero-padded at the
end to the clip length, scaled to the level of domain A's store (its ``target_peak``), so the encoder sees what it
was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import FeatureSettings, log_mel
from ..errors import PatchflowError
from ..models.umt import UmtTranslator
from ..models.unit import UnitTranslator
from ..synth import RenderSettings
from ..training.state import CheckpointError, load_checkpoint
from ..training.translation import CHECKPOINT, KINDS, RUN_FILE, UMT_PEAK


class TranslationRunError(PatchflowError):
    """A folder is not a usable translation run."""


@dataclass
class Translator:
    """A loaded translation run.

    Attributes:
        run_dir: Its directory.
        model: The model, in evaluation mode.
        facts: ``translation.json``: the model's settings and both domains' facts.
        step: Iterations the checkpoint was trained for.
        temperature: UMT: the temperature of the decoder's sampling (0: the most likely class each sample).
        seed: UMT: the seed of that sampling (a translation is the same each time).
    """

    run_dir: Path
    model: UnitTranslator | UmtTranslator
    facts: dict[str, Any]
    step: int
    temperature: float = 1.0
    seed: int = 0

    @property
    def kind(self) -> str:
        """``unit`` (translates log-mels) or ``umt`` (translates audio)."""
        return str(self.facts["kind"])

    @property
    def features(self) -> FeatureSettings:
        """The feature recipe of both domains."""
        return FeatureSettings.from_json(self.facts["b"]["features"])

    @property
    def render_settings(self) -> RenderSettings:
        """Domain B's render settings (sample rate and clip length)."""
        return RenderSettings(**self.facts["b"]["render_settings"])

    @property
    def mel_shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.facts["a"]["mel_shape"])  # type: ignore[return-value]

    def translate_mel(self, raw_mel: np.ndarray, source: str = "a", target: str = "b") -> np.ndarray:
        """The dB log-mel ``(n_mels, frames)`` (or a batch) of ``source`` translated into ``target`` (UNIT runs).

        Raises:
            TranslationRunError: A UMT run (it translates audio: :meth:`translate_wave`), or a mel of another shape.
        """
        if self.kind != "unit":
            raise TranslationRunError(f"{self.run_dir} is a {self.kind} run: it translates audio, not log-mels")
        mel = np.asarray(raw_mel, dtype=np.float32)
        if tuple(mel.shape[-2:]) != self.mel_shape:
            raise TranslationRunError(f"a mel of {mel.shape[-2]} x {mel.shape[-1]} does not fit the run's "
                                      f"{self.mel_shape[0]} x {self.mel_shape[1]}")
        src, dst = self.facts[source], self.facts[target]
        x = torch.from_numpy((mel - src["mel_mean"]) / src["mel_std"]).reshape(-1, *self.mel_shape)
        with torch.no_grad():
            y = self.model.translate(x, source, target).numpy()
        return (y * dst["mel_std"] + dst["mel_mean"]).reshape(mel.shape).astype(np.float32)

    def clip(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono audio conformed as domain A's clips were: resampled, fitted to the clip length, at A's level."""
        from ..data.importing import conform

        settings = self.render_settings
        clip = conform(np.asarray(audio, dtype=np.float32), sample_rate, settings.sample_rate, settings.num_samples)
        peak = float(np.abs(clip).max()) if clip.size else 0.0
        target = self.facts["a"].get("target_peak")
        if target and self.facts["a"].get("gain", "peak") == "peak" and peak > 0:
            clip = clip * (float(target) / peak)
        return clip

    def translate_wave(self, audio: np.ndarray, target: str = "b") -> np.ndarray:
        """Audio of domain A at domain B's sample rate (``(samples,)`` or a batch ``(N, samples)``) translated
        into ``target`` by a UMT run: resampled to the model's rate, scaled to the peak it trained on, sampled
        from the decoder of ``target`` on the clip's code, resampled back; as long as the input and at peak
        :data:`~patchflow.training.translation.UMT_PEAK` (a caller scales it to the level it needs).

        Raises:
            TranslationRunError: A UNIT run (it translates log-mels).
        """
        import soxr

        if self.kind != "umt":
            raise TranslationRunError(f"{self.run_dir} is a {self.kind} run: it translates log-mels, not audio")
        rate, own = self.render_settings.sample_rate, self.model.config.sample_rate
        clips = np.atleast_2d(np.asarray(audio, dtype=np.float32))
        low = np.stack([soxr.resample(c, rate, own, quality="HQ") for c in clips]) if rate != own else clips
        peaks = np.abs(low).max(axis=1, keepdims=True)
        low = low * (UMT_PEAK / np.maximum(peaks, 1e-6))
        generator = torch.Generator().manual_seed(self.seed)
        out = self.model.translate(torch.from_numpy(np.ascontiguousarray(low, dtype=np.float32)), target,
                                   self.temperature, generator).numpy()
        back = np.stack([soxr.resample(c, own, rate, quality="HQ") for c in out]) if rate != own else out
        n = clips.shape[1]
        back = np.pad(back[:, :n], ((0, 0), (0, max(0, n - back.shape[1]))))
        back = back * (UMT_PEAK / np.maximum(np.abs(back).max(axis=1, keepdims=True), 1e-6))
        return back.astype(np.float32).reshape(np.shape(audio))

    def translate_clip(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(log-mel of the clip, its translation into domain B, the translated audio)``, the mels in dB; the
        audio is UMT's (at B's sample rate and clip length), ``None`` for UNIT (whose audio is Griffin-Lim's)."""
        clip = self.clip(audio, sample_rate)
        mel = log_mel(clip, self.features).numpy()
        if self.kind == "unit":
            return mel, self.translate_mel(mel), None
        wave = self.translate_wave(clip)
        return mel, log_mel(wave, self.features).numpy(), wave

    def translate_audio(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """``(log-mel of the clip, its translation into domain B)``, both in dB."""
        mel, translated, _ = self.translate_clip(audio, sample_rate)
        return mel, translated


def load_translator(run_dir: str | Path, device: str = "cpu", temperature: float = 1.0, seed: int = 0
                    ) -> Translator:
    """Load the last checkpoint of a translation run (``temperature`` and ``seed``: see :class:`Translator`).

    Raises:
        TranslationRunError: The folder holds no translation run, or a damaged one.
    """
    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        hint = " (a `patchflow train` run; translation runs come from `patchflow translate train`)" \
            if (run_dir / "config.json").is_file() else ""
        raise TranslationRunError(f"{run_dir}: not a translation run, no {RUN_FILE}{hint}")
    try:
        facts = json.loads(run_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TranslationRunError(f"{run_file}: unreadable ({exc})") from None
    if not isinstance(facts, dict) or facts.get("kind") not in KINDS:
        raise TranslationRunError(f"{run_file}: not a translation run of a known model (kind "
                                  f"{facts.get('kind')!r}; known: {', '.join(KINDS)})"
                                  if isinstance(facts, dict) else f"{run_file}: not a translation run record")
    try:
        tensors, info = load_checkpoint(run_dir, CHECKPOINT, map_location=device)
    except CheckpointError as exc:
        raise TranslationRunError(str(exc)) from None
    config_class, model_class = KINDS[facts["kind"]]
    model = model_class(config_class.from_json(facts["model"]))
    model.load_state_dict(tensors["model"])
    model.to(device).eval()
    return Translator(run_dir, model, facts, int(info.get("step", 0)), temperature, seed)


def mel_to_audio(raw_mel: np.ndarray, features: FeatureSettings, num_samples: int, n_iter: int = 32) -> np.ndarray:
    """Audio of a dB log-mel through Griffin-Lim (librosa): the mel filters' pseudo-inverse to a magnitude STFT,
    then ``n_iter`` phase iterations. The phase is estimated, so the sound is an impression, not a render."""
    import librosa

    amplitude = np.power(10.0, np.asarray(raw_mel, dtype=np.float64) / 20.0)
    audio = librosa.feature.inverse.mel_to_audio(
        amplitude.astype(np.float32), sr=features.sample_rate, n_fft=features.n_fft, hop_length=features.hop,
        win_length=features.n_fft, window="hann", center=True, pad_mode="constant", power=1.0, n_iter=n_iter,
        length=num_samples, fmin=features.fmin, fmax=min(features.fmax, features.sample_rate / 2))
    return np.nan_to_num(audio.astype(np.float32))


def write_mel_png(path: str | Path, mels: list[tuple[str, np.ndarray]], title: str = "") -> Path:
    """A picture of dB log-mels side by side (one panel per ``(label, mel)``), on one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(float(np.max(m)) for _, m in mels)
    fig, axes = plt.subplots(1, len(mels), figsize=(4.5 * len(mels), 3.6), squeeze=False, layout="constrained")
    for ax, (label, mel) in zip(axes[0], mels):
        image = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=top - 80.0, vmax=top)
        ax.set_title(label)
        ax.set_xlabel("frame")
        ax.set_ylabel("mel bin")
    fig.colorbar(image, ax=axes[0].tolist(), label="dB")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
