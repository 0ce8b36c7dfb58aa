"""Training of the translation models on two stores without paired data: UNIT (:mod:`patchflow.models.unit`, on
log-mels) and the universal music translation network (:mod:`patchflow.models.umt`, on audio).

Domain A is a store of recordings (``patchflow dataset import-audio``), domain B a synth's store; both must hold
log-mels of one shape and one feature recipe. UNIT reads each domain's mels normalised by its own store's
statistics; UMT reads clips of their audio, resampled to its rate, each scaled to peak 0.9, cut at random offsets
and pitch-shifted for the encoder (:func:`umt_batch`). The loop runs the model's optimisation steps on every batch
(UNIT: ``gen``, ``disc`` and with AVB ``kl``; UMT: ``main``, ``confusion``), each with its own Adam optimiser.
The run directory holds ``translation.json`` (the model's settings and the facts of both stores),
``checkpoints/last.pt`` / ``.json`` (written atomically every ``checkpoint_every`` steps and at the end, with the
random states, so that a resumed run takes the batches and noise it would have taken) and ``metrics.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.store import PresetStore, open_store
from ..errors import PatchflowError
from ..locking import FolderLock
from ..models.umt import UmtConfig, UmtTranslator, mu_law_encode
from ..models.unit import UnitConfig, UnitTranslator
from ..progress import Progress, or_quiet
from .errors import NonFiniteLossError, TrainingError
from .state import capture_rng, has_checkpoint, load_checkpoint, restore_rng, save_checkpoint, seed_everything

RUN_FILE = "translation.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT = "last"
#: The translation models by the ``kind`` their runs record: their settings' class and the model's.
KINDS: dict[str, tuple[type, type]] = {"unit": (UnitConfig, UnitTranslator), "umt": (UmtConfig, UmtTranslator)}
#: Peak each UMT training clip is scaled to before mu-law coding.
UMT_PEAK = 0.9


def kind_of(model: UnitConfig | UmtConfig) -> str:
    """The ``kind`` of a model's settings (``unit`` or ``umt``)."""
    return next(kind for kind, (config_class, _) in KINDS.items() if isinstance(model, config_class))


@dataclass
class TranslationTrainConfig:
    """How a translation run trains.

    Attributes:
        steps: Iterations in all (each: one ``gen`` and one ``disc`` step); a resumed run continues up to it.
        batch_size: Mels of each domain per iteration.
        lr: Adam's learning rate of both steps (betas 0.5, 0.999 as in UNIT).
        seed: Seed of the initialisation, the batches and the noise.
        checkpoint_every: Iterations between checkpoints.
        device: ``cpu`` or ``cuda``.
        model: The model's sizes and loss weights: :class:`UnitConfig` or :class:`UmtConfig`.
        max_clips: UMT only: at most this many clips of each domain are read into memory (a seeded sample).
        max_seconds: Stop, with a checkpoint, after the first iteration that ends this long after the start (a
            fixed training time; rerunning continues towards ``steps``). ``None``: no limit.
        lr_decay: The first step's learning rate (UNIT's generators, UMT's encoder and decoders) is multiplied by
            this every ``lr_decay_steps`` iterations; the second step's stays (as in the UMT authors' training).
            1: constant.
        lr_decay_steps: Iterations between two decays.
        grad_clip: Clip every gradient element into ``[-grad_clip, grad_clip]`` before each step (UMT's
            authors clip by value at 1). ``None``: no clipping.
    """

    steps: int = 200
    batch_size: int = 8
    lr: float = 2e-4
    seed: int = 0
    checkpoint_every: int = 50
    device: str = "cpu"
    model: UnitConfig | UmtConfig = field(default_factory=UnitConfig)
    max_clips: int = 512
    max_seconds: float | None = None
    lr_decay: float = 1.0
    lr_decay_steps: int = 1000
    grad_clip: float | None = None

    def check(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1 or not self.lr > 0 \
                or self.max_clips < 1 or (self.max_seconds is not None and not self.max_seconds > 0):
            raise TrainingError(f"steps, batch size and checkpoint interval must be >= 1 and the learning rate > 0 "
                                f"(got steps {self.steps}, batch {self.batch_size}, checkpoint every "
                                f"{self.checkpoint_every}, lr {self.lr}, max clips {self.max_clips}, max seconds "
                                f"{self.max_seconds})")
        if not 0 < self.lr_decay <= 1 or self.lr_decay_steps < 1 or (self.grad_clip is not None
                                                                     and not self.grad_clip > 0):
            raise TrainingError(f"the learning-rate decay must be in (0, 1], its interval >= 1 and the gradient "
                                f"clip > 0 (got decay {self.lr_decay} every {self.lr_decay_steps} steps, clip "
                                f"{self.grad_clip})")

    def lr_at(self, step: int) -> float:
        """The first optimisation step's learning rate at iteration ``step`` (counted from 0)."""
        return self.lr * self.lr_decay ** (step // self.lr_decay_steps)


def domain_facts(store: PresetStore, given: str | Path) -> dict[str, Any]:
    """What a translation run needs of a domain's store later, without the store."""
    return {"path": str(given), "absolute_path": str(Path(store.path).resolve()), "kind": store.kind,
            "synth": store.synth_id, "mel_mean": store.mel_mean, "mel_std": store.mel_std,
            "mel_shape": [int(s) for s in store.mel.shape[1:]], "features": store.features.to_json(),
            "render_settings": dataclasses.asdict(store.render_settings),
            "target_peak": store.meta.get("target_peak"), "gain": store.meta.get("gain")}


def domain_rows(store: PresetStore) -> np.ndarray:
    """The rows a domain trains on: its training split, or every usable row of a store that has none (an imported
    store's rows are all ``test``)."""
    rows = store.split_indices("train")
    return rows if len(rows) else np.flatnonzero(store.ok)


def check_domains(a: PresetStore, b: PresetStore, a_path: Path, b_path: Path) -> None:
    """Refuse two stores whose mels cannot be translated into each other.

    Raises:
        TrainingError: The mel shapes or the feature recipes differ, or a store has no usable row.
    """
    shape_a, shape_b = tuple(a.mel.shape[1:]), tuple(b.mel.shape[1:])
    if shape_a != shape_b:
        raise TrainingError(f"{a_path} holds mels of {shape_a[0]} x {shape_a[1]} and {b_path} of {shape_b[0]} x "
                            f"{shape_b[1]}; import the recordings with `patchflow dataset import-audio --like "
                            f"{b_path}` so both have the same shape")
    if a.features != b.features:
        raise TrainingError(f"{a_path} and {b_path} compute their mels differently ({a.features} vs {b.features}); "
                            f"import the recordings with `patchflow dataset import-audio --like {b_path}`")
    for store, path in ((a, a_path), (b, b_path)):
        if not len(domain_rows(store)):
            raise TrainingError(f"{path}: no usable mels to train on")


def _load_mels(store: PresetStore) -> torch.Tensor:
    rows = domain_rows(store)
    mels = np.asarray(store.mel[:], dtype=np.float32)[rows]
    return torch.from_numpy(store.normalise_mel(mels).astype(np.float32))


def _generator(seed: int, step: int, domain: int) -> torch.Generator:
    """The batch of a step and domain depends on them only, so that a resumed run takes the same ones."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step * 2 + domain)


def _batch(mels: torch.Tensor, size: int, seed: int, step: int, domain: int) -> torch.Tensor:
    return mels[torch.randint(len(mels), (size,), generator=_generator(seed, step, domain))]


def load_clips(store: PresetStore, sample_rate: int, max_clips: int, seed: int) -> torch.Tensor:
    """Audio of a domain's rows (at most ``max_clips``, a seeded sample, in row order) resampled to
    ``sample_rate``, each scaled to peak :data:`UMT_PEAK`."""
    import soxr

    rows = domain_rows(store)
    if len(rows) > max_clips:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_clips, replace=False))
    audio = store.read_rows("audio", rows, np.float32)
    rate = store.render_settings.sample_rate
    if rate != sample_rate:
        audio = np.stack([soxr.resample(clip, rate, sample_rate, quality="HQ") for clip in audio])
    peaks = np.abs(audio).max(axis=1, keepdims=True)
    return torch.from_numpy((audio * (UMT_PEAK / np.maximum(peaks, 1e-6))).astype(np.float32))


def umt_batch(clips: torch.Tensor, size: int, length: int, semitones: float, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` random clips of ``length`` samples and their pitch-shifted copies, as mu-law classes.

    The copy of a clip is read from the same offset ``r`` times faster (linear interpolation), ``r = 2^(u / 12)``
    with ``u`` uniform in ``[-semitones, semitones]``: the augmentation ``O(s, r)`` of the paper, one shift per
    clip (the paper shifts shorter segments by different amounts).
    """
    total = clips.shape[1]
    reach = int(np.ceil(length * 2.0 ** (semitones / 12.0))) + 1
    if total < reach:
        raise TrainingError(f"clips of {total} samples are shorter than the model's clip of {length} (plus the "
                            f"pitch shift's reach, {reach})")
    which = torch.randint(len(clips), (size,), generator=generator)
    offsets = torch.randint(total - reach + 1, (size,), generator=generator)
    shifts = (torch.rand(size, generator=generator) * 2 - 1) * semitones
    rates = torch.pow(2.0, shifts / 12.0)
    picked = clips[which]
    steps = torch.arange(length, dtype=torch.float32)
    plain = torch.gather(picked, 1, offsets[:, None] + steps.long()[None])
    where = offsets[:, None].float() + steps[None] * rates[:, None]
    low = where.floor().long().clamp(max=total - 2)
    frac = where - low.float()
    shifted = torch.gather(picked, 1, low) * (1 - frac) + torch.gather(picked, 1, low + 1) * frac
    return mu_law_encode(plain), mu_law_encode(shifted)


def _record(config: TranslationTrainConfig, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    train = dataclasses.asdict(config)
    train.pop("model")
    return {"kind": kind_of(config.model), "model": config.model.to_json(), "train": train, "a": a, "b": b}


def _saved_model(saved: dict[str, Any]) -> Any:
    """A saved run's model settings with today's defaults for keys it predates (``None`` if unreadable)."""
    try:
        return KINDS[saved.get("kind", "unit")][0].from_json(saved["model"]).to_json()
    except (KeyError, TypeError, PatchflowError):
        return saved.get("model")


def _check_resume(saved: dict[str, Any], new: dict[str, Any], out: Path) -> None:
    saved = {**saved, "kind": saved.get("kind"), "model": _saved_model(saved)}
    for key in ("kind", "model"):
        if saved.get(key) != new[key]:
            raise TrainingError(f"{out} holds a translation run with other model settings ({saved.get(key)} vs "
                                f"{new[key]}); choose another --out")
    for dom in ("a", "b"):
        if saved[dom]["absolute_path"] != new[dom]["absolute_path"]:
            raise TrainingError(f"{out} was trained with --{dom} {saved[dom]['path']}, not {new[dom]['path']}; "
                                f"choose another --out")
    defaults = dataclasses.asdict(TranslationTrainConfig())  # for keys a saved run predates
    for key in ("batch_size", "lr", "seed", "lr_decay", "lr_decay_steps", "grad_clip") \
            + (("max_clips",) if new["kind"] == "umt" else ()):
        if saved["train"].get(key, defaults[key]) != new["train"][key]:
            raise TrainingError(f"{out} was trained with {key} {saved['train'].get(key)}, not {new['train'][key]}; "
                                f"resume with the same settings or choose another --out")


def _trim_metrics(path: Path, step: int) -> None:
    """Drop the metrics of steps after the checkpoint a run resumes from (they are taken again)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)


def _batches(a: PresetStore, b: PresetStore, config: TranslationTrainConfig, device: torch.device
             ) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """The batch of each iteration, a function of the seed and the iteration only: UNIT's ``(x_a, x_b)`` mels,
    UMT's ``(a, a_shifted, b, b_shifted)`` mu-law clips."""
    if isinstance(config.model, UnitConfig):
        mels_a, mels_b = _load_mels(a).to(device), _load_mels(b).to(device)
        return lambda step: (_batch(mels_a, config.batch_size, config.seed, step, 0),
                             _batch(mels_b, config.batch_size, config.seed, step, 1))
    model = config.model
    clips = [load_clips(store, model.sample_rate, config.max_clips, config.seed + i)
             for i, store in enumerate((a, b))]

    def umt(step: int) -> tuple[torch.Tensor, ...]:
        out: list[torch.Tensor] = []
        for i, domain in enumerate(clips):
            out += umt_batch(domain, config.batch_size, model.clip_samples, model.augment_semitones,
                             _generator(config.seed, step, i))
        return tuple(t.to(device) for t in out)

    return umt


def train_translation(a_path: str | Path, b_path: str | Path, out: str | Path,
                      config: TranslationTrainConfig | None = None, *, progress: Progress | None = None
                      ) -> dict[str, Any]:
    """Train (or resume) a translation model (UNIT or UMT, after ``config.model``) from store ``a_path``
    (recordings) to ``b_path`` (a synth's).

    Running it again on the same ``out`` continues from the last checkpoint up to ``config.steps``.

    Returns:
        The summary: ``run_dir``, ``step`` (iterations done), ``resumed_from`` and the last step's loss terms.

    Raises:
        TrainingError: Mismatching stores, a foreign or mismatching ``out``, bad settings, a non-finite loss.
        StoreError: A store cannot be opened.
    """
    config = config or TranslationTrainConfig()
    config.check()
    progress = or_quiet(progress)
    a_path, b_path, out = Path(a_path), Path(b_path), Path(out)
    a, b = open_store(a_path), open_store(b_path)
    check_domains(a, b, a_path, b_path)
    if isinstance(config.model, UnitConfig):
        model_config = dataclasses.replace(config.model, input_shape=tuple(int(s) for s in a.mel.shape[1:]))
        config = dataclasses.replace(config, model=model_config)
    record = _record(config, domain_facts(a, a_path), domain_facts(b, b_path))
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out} is a file; --out must be a run directory")
    with FolderLock(out, "run directory"):
        return _train_locked(a, b, out, config, record, progress)


def _train_locked(a: PresetStore, b: PresetStore, out: Path, config: TranslationTrainConfig,
                  record: dict[str, Any], progress: Progress) -> dict[str, Any]:
    run_file = out / RUN_FILE
    resumed = has_checkpoint(out, CHECKPOINT) and run_file.exists()
    if not resumed:
        others = [p.name for p in out.iterdir() if not p.name.startswith(".")] if out.is_dir() else []
        if others and not run_file.exists():
            raise TrainingError(f"{out} holds other files ({', '.join(sorted(others)[:3])}); choose another --out")
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"--device {config.device}: CUDA is not available here; use --device cpu")
    device = torch.device(config.device)
    seed_everything(config.seed)
    model = KINDS[record["kind"]][1](config.model).to(device)
    steps = model.training_steps()
    optimisers = {s.name: torch.optim.Adam(s.parameters, lr=config.lr * s.lr_scale, betas=(0.5, 0.999))
                  for s in steps}
    start = 0
    if resumed:
        _check_resume(json.loads(run_file.read_text()), record, out)
        tensors, info = load_checkpoint(out, CHECKPOINT, map_location=device)
        model.load_state_dict(tensors["model"])
        for name, opt in optimisers.items():
            opt.load_state_dict(tensors[f"optimizer_{name}"])
        restore_rng(tensors["rng"], info["rng"])
        start = int(info["step"])
        _trim_metrics(out / METRICS_FILE, start)
        progress.message(f"resuming {out} at step {start}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        tmp = run_file.with_name(run_file.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(run_file)
        (out / METRICS_FILE).unlink(missing_ok=True)  # of a start that ended before its first checkpoint
    batch_of = _batches(a, b, config, device)
    terms: dict[str, float] = {}
    model.train()

    def checkpoint(step: int) -> None:
        rng_tensors, rng_info = capture_rng()
        tensors = {"model": model.state_dict(), "rng": rng_tensors,
                   **{f"optimizer_{n}": o.state_dict() for n, o in optimisers.items()}}
        save_checkpoint(out, CHECKPOINT, tensors, {"step": step, "rng": rng_info, "terms": terms})

    second = steps[1].name
    done, started = start, time.monotonic()
    with progress.task("translate train", total=config.steps, unit="steps", completed=start) as task, \
            (out / METRICS_FILE).open("a") as metrics:
        for step in range(start, config.steps):
            batch = batch_of(step)
            terms = {}
            for group in optimisers[steps[0].name].param_groups:
                group["lr"] = config.lr_at(step) * steps[0].lr_scale
            for i, training_step in enumerate(steps):
                loss, step_terms = model.loss(*batch) if i == 0 else model.step_loss(training_step.name, *batch)
                optimisers[training_step.name].zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    torch.nn.utils.clip_grad_value_(training_step.parameters, config.grad_clip)
                optimisers[training_step.name].step()
                terms["loss" if i == 0 else f"{training_step.name}_loss"] = float(loss.detach())
                terms.update({k: float(v) for k, v in step_terms.items()})  # the models name their terms apart
            if not all(math.isfinite(v) for v in terms.values()):
                bad = ", ".join(k for k, v in terms.items() if not math.isfinite(v))
                raise NonFiniteLossError(f"step {step + 1}: {bad} is not finite; the last checkpoint in {out} is "
                                         f"kept (try a smaller --lr)")
            metrics.write(json.dumps({"step": step + 1, **terms}) + "\n")
            task.advance(1, f"loss {terms['loss']:.3f} {second} {terms[f'{second}_loss']:.3f}")
            done = step + 1
            out_of_time = config.max_seconds is not None and time.monotonic() - started >= config.max_seconds
            if done % config.checkpoint_every == 0 or done == config.steps or out_of_time:
                metrics.flush()
                checkpoint(done)
            if out_of_time:
                progress.message(f"stopped at step {done} after {config.max_seconds:g} s (rerun to continue)")
                break
    return {"run_dir": str(out), "step": done, "resumed_from": start if resumed else None, "terms": terms}
