"""Out-of-domain audio: any folder of sound files turned into a store with another store's features.

Every file is read (WAV, FLAC, OGG and MP3 through libsndfile; other formats through librosa's fallback
readers), mixed down to mono (mean of the channels), resampled to the reference store's sample rate, cut or
padded with silence at the end to the reference length, and, with ``gain="peak"`` (the default), scaled so its
peak equals the median peak of the reference store's training audio (synth output is not bound to ``[-1, 1]``;
levels move log-mels, so imported sounds are brought to the level the model saw). Features and normalisation are
the reference store's. A file that cannot be read, or that is silent, is listed in ``failures`` and keeps an
unusable row; usable rows form the ``test`` split.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PatchflowError
from ..locking import FolderLock
from .features import log_mel
from .outputs import check_writable_out, clear_store, folder_entries, refuse_foreign
from .render import SILENCE_PEAK
from .store import CHUNK_ROWS, EXCLUDED, SPLIT_CODES, PresetStore, StoreError, create_layout, open_group, open_store

#: File suffixes looked for in the folder.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".opus")


class AudioImportError(PatchflowError):
    """Audio files cannot be imported (none found, none readable, or a bad option)."""


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursively, sorted, hidden entries skipped), or the file itself."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise AudioImportError(f"{folder}: no such file or folder")
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES
                  and not any(p.startswith(".") for p in f.relative_to(folder).parts))


@contextmanager
def _decoder_chatter_hidden() -> Iterator[None]:
    """Hide what the C decoders print on the process's stderr while a file is decoded (libmpg123 writes "Note:
    Illegal Audio-MPEG-Header ..." lines for a damaged MP3): the reason a file is refused is reported once, in
    its failure, not as library noise in the command's output."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _decoder_reason(exc: BaseException, path: Path) -> str:
    """libsndfile's reason for refusing a file, in words that fit (it says "File does not exist" or nothing at
    all for a file it cannot decode)."""
    text = str(exc).replace(f"'{path}'", "").replace(str(path), "").strip()
    text = text.removeprefix("Error opening").strip(" :")
    if not text or "does not exist" in text:
        return "not a recognised audio format, or damaged"
    return text


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """``(channels, samples)`` float32 audio and its sample rate.

    Raises:
        AudioImportError: No reader could decode the file; the message names the file and the reason.
    """
    import soundfile

    with _decoder_chatter_hidden(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa's "PySoundFile failed. Trying audioread", deprecations
        try:
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            return np.ascontiguousarray(data.T), int(rate)
        except Exception as first:  # libsndfile refuses; try librosa's other decoders before giving up
            try:
                import librosa

                data, rate = librosa.load(str(path), sr=None, mono=False)
                data = np.atleast_2d(np.asarray(data, dtype=np.float32))
                return data, int(rate)
            except Exception:
                raise AudioImportError(f"{path}: unreadable audio ({_decoder_reason(first, path)})") from None


def conform(audio: np.ndarray, rate: int, target_rate: int, num_samples: int) -> np.ndarray:
    """Mono, resampled to ``target_rate``, trimmed or zero-padded at the end to ``num_samples``."""
    mono = audio.mean(axis=0) if audio.ndim == 2 else np.asarray(audio)
    mono = np.asarray(mono, dtype=np.float32)
    if rate != target_rate and mono.size:
        import librosa

        mono = librosa.resample(mono, orig_sr=rate, target_sr=target_rate, res_type="soxr_hq").astype(np.float32)
    out = np.zeros(num_samples, dtype=np.float32)
    n = min(num_samples, mono.size)
    out[:n] = mono[:n]
    return out


def reference_peak(store: PresetStore) -> float:
    """Median peak amplitude of the store's training rows."""
    rows = store.split_indices("train")
    peaks = np.asarray(store.array("peak")[:])[rows] if len(rows) else np.asarray([1.0])
    return float(np.median(peaks))


def import_audio(folder: str | Path, like: str | Path | PresetStore, out: str | Path, *, gain: str = "peak",
                 overwrite: bool = False) -> PresetStore:
    """Turn a folder of audio files into a store with the features and normalisation of ``like``.

    Args:
        folder: A folder (searched recursively) or a single file.
        like: The reference store (path or open store).
        out: The store to write.
        gain: ``peak`` (match the reference's median training peak) or ``none``.
        overwrite: Replace an existing ``out``.

    Raises:
        AudioImportError: No audio file found, none readable, or a bad option.
        StoreError: ``like`` is not a finished store, or ``out`` exists.
    """
    if gain not in ("peak", "none"):
        raise AudioImportError(f"gain must be 'peak' or 'none', got {gain!r}")
    reference = like if isinstance(like, PresetStore) else open_store(like)
    folder, out = Path(folder).expanduser(), Path(out).expanduser()
    check_writable_out(out, [folder, reference.path])
    with FolderLock(out, "store"):
        if folder_entries(out):
            refuse_foreign(out)  # only ever replace a store patchflow wrote
            if not overwrite:
                raise StoreError(f"{out} exists; choose another --out or pass --overwrite")
            clear_store(out)
        return _import_locked(folder, reference, out, gain)


def _import_locked(folder: Path, reference: PresetStore, out: Path, gain: str) -> PresetStore:
    """The import itself, run while this process holds the lock of ``out``."""
    files = find_audio_files(folder)
    if not files:
        raise AudioImportError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    settings = reference.render_settings
    target_peak = reference_peak(reference)
    clips = np.zeros((len(files), settings.num_samples), dtype=np.float32)
    errors: list[str] = []
    notes: list[dict[str, Any]] = []
    for i, path in enumerate(files):
        try:
            audio, rate = read_audio(path)
        except AudioImportError as exc:
            errors.append(str(exc))
            continue
        if not np.all(np.isfinite(audio)):
            errors.append(f"{path}: NaN or infinite samples")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa's resampler on odd inputs; the clip is checked below
            clip = conform(audio, rate, settings.sample_rate, settings.num_samples)
        peak = float(np.abs(clip).max()) if clip.size else 0.0
        if peak < SILENCE_PEAK:
            errors.append(f"{path}: silent (peak {peak:.2e} < {SILENCE_PEAK:g})")
            continue
        scale = target_peak / peak if gain == "peak" else 1.0
        clips[i] = clip * scale
        errors.append("")
        notes.append({"source": str(path), "channels": int(audio.shape[0]), "sample_rate": rate,
                      "seconds": round(audio.shape[1] / rate, 3), "gain": round(scale, 4)})
    if all(errors):
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        raise AudioImportError(f"{folder}: none of the {len(files)} audio files could be used: "
                               f"{'; '.join(errors[:3])}{more}")
    ok = np.asarray([not e for e in errors])
    try:
        _write_store(out, reference, files, clips, errors, notes, ok, gain, target_peak)
    except OSError as exc:  # disk full, folder made read-only meanwhile: one line, and no half-written store
        try:
            clear_store(out)
        except (OSError, StoreError):
            pass
        raise AudioImportError(f"{out}: cannot write the store: {exc.strerror or exc}; nothing was kept") from None
    return open_store(out)


def _write_store(out: Path, reference: PresetStore, files: list[Path], clips: np.ndarray, errors: list[str],
                 notes: list[dict[str, Any]], ok: np.ndarray, gain: str, target_peak: float) -> None:
    """Write the imported clips as a store in ``out`` (the caller removes it again if this raises)."""
    settings, features = reference.render_settings, reference.features
    meta = {k: reference.meta[k] for k in ("synth", "parameters", "base_preset", "render_settings", "features")}
    meta.update(kind="audio", like=str(reference.path), tag_pairs=[], gain=gain, target_peak=target_peak,
                norm=dict(reference.meta["norm"], copied_from=str(reference.path)))
    n_params = len(reference.parameters)
    group = create_layout(out, meta, len(files), n_params, 0, settings, features)
    group["params"][:] = np.full((len(files), n_params), np.nan, dtype=np.float32)
    group["native"][:] = np.full((len(files), n_params), np.nan)
    group["names"][:] = np.asarray([f.stem for f in files], dtype=object).astype(str)
    group["sources"][:] = np.asarray([str(f) for f in files], dtype=object).astype(str)
    for start in range(0, len(files), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(files))
        group["audio"][start:stop] = clips[start:stop]
        group["mel"][start:stop] = log_mel(clips[start:stop], features).numpy()
        group["chunk_done"][start // CHUNK_ROWS] = True
    group["peak"][:] = np.abs(clips).max(axis=1)
    group["ok"][:] = ok
    group["error"][:] = np.asarray(errors, dtype=object).astype(str)
    group["split"][:] = np.where(ok, SPLIT_CODES["test"], EXCLUDED).astype(np.int8)
    meta = dict(open_group(out, "r").attrs["patchflow"])
    meta.update(status="complete", notes=notes,
                failures=[{"source": str(f), "name": f.stem, "stage": "read", "reason": e}
                          for f, e in zip(files, errors) if e],
                counts={"files": len(files), "usable": int(ok.sum()), "failed": int((~ok).sum())},
                split={"method": "all usable rows are test", "seed": 0, "folds": 0})
    group.attrs["patchflow"] = meta
