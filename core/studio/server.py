"""The studio's ASGI app: a small JSON API over one run, and the static page that uses it.

Endpoints (see docs/guide/studio.md): ``POST /api/match`` (multipart ``audio``; a JSON-lines response, one line per
finished stage, then the result), ``GET /api/audio/{id}.wav``, ``GET /api/preset/{id}.syx`` (the synth's native
preset file), ``GET /api/spectrogram/{id}.png``, ``GET /api/macro/{id}`` and ``POST /api/macro/{id}/render``
(macro-knobs of any sound with a preset), ``GET /api/bank/{id}.syx`` (a match's top K as one bank file),
``POST /api/preset`` (a preset file's voice as a sound), ``GET /api/map`` (a PCA projection of the training presets'
latent codes, with their tags and sources), ``GET /api/store/{row}.wav``, ``POST /api/store/{row}`` (a training
preset as a sound) and ``POST /api/path`` (a step of the latent path between two training presets).

Serving safely: an upload is refused (413) past ``max_upload_bytes`` before it is all read, and (413) past
``max_seconds`` from its header before it is decoded; an unreadable or silent sound is refused (415, 422) with a
one-line reason; so is a preset file no parser of the run's synth reads (415), or a voice it does not hold (400).
Uploads get names of the server's own in a temporary folder, removed by :meth:`Studio.close` (the
app's shutdown). Matches run one at a time (a lock); each gets its own result ids.
"""

from __future__ import annotations

import io
import json
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..apps.matching import NEIGHBOURS, AudioFileError, load_target, match_sound
from ..data.features import magnitude_mel
from ..data.render import SynthPool
from ..errors import PatchflowError
from ..presets import Preset
from ..progress import Progress
from ..runtime.rendering import presets_from_normalised
from ..runtime.run import Run

STATIC = Path(__file__).resolve().parent / "static"
#: Default limits of an upload.
MAX_UPLOAD_BYTES = 20_000_000
MAX_SECONDS = 60.0
#: Sounds kept in memory (the oldest are forgotten past this: about 140 MB of 4 s clips at 22050 Hz).
MAX_SOUNDS = 400
#: Length of a macro-knob preview.
PREVIEW_SECONDS = 2.0
_ID = re.compile(r"^[0-9a-f]{32}$")


class MatchCancelled(Exception):
    """The client of a running match has gone away (raised from its stage callback to stop the work)."""


class UploadError(PatchflowError):
    """An upload the studio refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Sound:
    """One sound the page can fetch: audio, and when it is a candidate, its preset."""

    audio: np.ndarray
    sample_rate: int
    preset: Preset | None = None
    name: str = ""
    png: bytes | None = field(default=None, repr=False)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV of mono audio, scaled down only if it would clip."""
    import soundfile

    audio = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


class Studio:
    """The state behind the app: the run, the sounds made so far, the upload folder and the match lock.

    Args:
        run: The loaded run.
        budget: Seconds of synth-in-the-loop refinement per match.
        top: Candidates returned per match.
        max_upload_bytes: Largest upload accepted.
        max_seconds: Longest sound accepted (from its header, before decoding).
        workers: Render threads.
    """

    def __init__(self, run: Run, *, budget: float = 2.0, top: int = 4, max_upload_bytes: int = MAX_UPLOAD_BYTES,
                 max_seconds: float = MAX_SECONDS, workers: int | None = None) -> None:
        self.run = run
        self.budget = budget
        self.top = top
        self.max_upload_bytes = max_upload_bytes
        self.max_seconds = max_seconds
        self.workers = workers
        self.uploads = Path(tempfile.mkdtemp(prefix="patchflow-studio-"))
        self.sounds: dict[str, Sound] = {}
        self.match_lock = threading.Lock()
        self.render_lock = threading.Lock()
        self._store: Any = None
        self._index: Any = None
        self._ranking: list[dict[str, Any]] | None = None
        self._semantic = False  # whether the knobs set tag axes of a flow_dis run (known once ranked)
        self._map: dict[str, Any] | None = None
        self._latents: dict[str, tuple[Any, str]] = {}
        self.banks: dict[str, list[Preset]] = {}  # a match's candidates, by the bank id its result gives
        self._row_latents: dict[tuple[int, bool], tuple[Any, str]] = {}

    # ------------------------------------------------------------------ bookkeeping
    def add(self, sound: Sound) -> str:
        key = uuid.uuid4().hex
        self.sounds[key] = sound
        while len(self.sounds) > MAX_SOUNDS:
            forgotten = next(iter(self.sounds))
            del self.sounds[forgotten]
            self._latents.pop(forgotten, None)
        return key

    def get(self, key: str) -> Sound | None:
        return self.sounds.get(key) if _ID.match(key) else None

    def close(self) -> None:
        """Remove the upload folder."""
        shutil.rmtree(self.uploads, ignore_errors=True)

    @property
    def store(self) -> Any:
        from ..data.store import open_store

        if self._store is None and self.run.store_path and Path(self.run.store_path).exists():
            self._store = open_store(self.run.store_path)
        return self._store

    @property
    def index(self) -> Any:
        """The run's retrieval index (``index.npz``, as a pretrained matcher ships it), or ``None``: the studio
        retrieves from it and maps its voices when the run's store is not at hand."""
        from ..runtime.index import load_index

        if self._index is None and self.run.index_path.exists():
            index = load_index(self.run.index_path)
            features = self.run.feature_settings
            index.check_fits(self.run.synth_id, self.run.parameters, features.to_json(),
                             (features.n_mels, features.frames(self.run.render_settings.num_samples)),
                             what=str(self.run.run_dir))
            self._index = index
        return self._index

    def base_preset(self) -> Preset:
        from ..plugins import get_synth

        base = getattr(self.run, "base_preset", None)
        if base is not None:
            return base
        if self.store is not None:
            return self.store.base_preset
        return get_synth(self.run.synth_id).default_preset()

    # ------------------------------------------------------------------ matching
    def check_upload(self, path: Path) -> np.ndarray:
        """The target clip of an uploaded file; duration checked from the header before decoding.

        Raises:
            UploadError: Too long (413), unreadable (415), silent or too short (422).
        """
        import soundfile

        try:
            info = soundfile.info(str(path))
        except Exception:  # noqa: BLE001 - libsndfile's errors name the temporary file; say it plainly
            raise UploadError(415, "not an audio file the studio can read (WAV, FLAC, OGG, MP3, AIFF)") from None
        if info.duration > self.max_seconds:
            raise UploadError(413, f"the sound is {info.duration:.1f} s long; the studio takes up to "
                                   f"{self.max_seconds:g} s")
        settings = self.run.render_settings
        try:
            return load_target(path, settings.sample_rate, settings.num_samples)
        except AudioFileError as exc:
            reason = str(exc).replace(f"{path}: ", "").replace(str(path), "the upload").splitlines()[0]
            raise UploadError(422, reason) from None

    def match(self, target: np.ndarray, on_stage: Any = None,
              cancelled: threading.Event | None = None) -> dict[str, Any]:
        """Match ``target`` (one at a time: later calls wait), keep the target and the candidates, return JSON.

        ``cancelled`` (set when the client has gone away) frees the work: a match still waiting for its turn does
        not start, and a running one stops after its current stage; either returns ``{"event": "cancelled"}``.
        """
        cancelled = cancelled or threading.Event()

        class Stages(Progress):
            def message(self, text: str) -> None:
                if cancelled.is_set():
                    raise MatchCancelled
                if on_stage is not None:
                    on_stage({"event": "stage", "text": text})

        with self.match_lock:
            if cancelled.is_set():
                return {"event": "cancelled"}
            try:
                return self._match(target, Stages())
            except MatchCancelled:
                return {"event": "cancelled"}

    def _match(self, target: np.ndarray, stages: Progress) -> dict[str, Any]:
        """The work of :meth:`match`, under its lock."""
        # retrieval as `patchflow match` does it: from the run's index when it has one, else from its store
        index = self.index
        store = self.store if index is None else None
        result = match_sound(self.run, target, base_preset=self.base_preset(), store=store, index=index,
                             budget_seconds=self.budget, neighbours=NEIGHBOURS if store is not None or index else 0,
                             workers=self.workers, progress=stages)
        settings = getattr(result, "settings", None) or self.run.render_settings
        base = getattr(result, "base_preset", None) or self.base_preset()
        chosen = result.candidates[:self.top]
        table = getattr(result, "parameters", None) or self.run.parameters
        presets = presets_from_normalised(base, table, np.array([c.params for c in chosen]),
                                          names=[f"MATCH {k + 1}" for k in range(len(chosen))])
        with SynthPool(self.run.synth_id, self.workers) as synths:
            audio = synths.render(presets, settings)
        rate = settings.sample_rate
        metric = result.info.get("metric", "sc")
        target_id = self.add(Sound(np.asarray(result.target, dtype=np.float32), rate, name="target"))
        candidates = []
        for k, (candidate, preset, clip) in enumerate(zip(chosen, presets, audio), start=1):
            key = self.add(Sound(clip, rate, preset=preset, name=preset.name))
            candidates.append({"id": key, "rank": k, "name": preset.name, "distance": float(candidate.distance),
                               "origin": getattr(candidate, "origin", "")})
        bank = uuid.uuid4().hex
        self.banks[bank] = list(presets)
        while len(self.banks) > MAX_SOUNDS:
            del self.banks[next(iter(self.banks))]
        return {"event": "result", "metric": metric, "target": {"id": target_id},
                "stages": [{"stage": s, "distance": float(d), "renders": int(n), "seconds": float(t)}
                           for s, d, n, t in result.stages],
                "candidates": candidates, "bank": {"id": bank, "count": len(candidates)}, "note": settings.note,
                "velocity": settings.velocity, "seconds": float(result.info.get("seconds", 0.0))}

    # ------------------------------------------------------------------ files of a sound
    def spectrogram(self, sound: Sound) -> bytes:
        """A PNG of the sound's mel spectrogram (dB, low frequencies at the bottom)."""
        if sound.png is None:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            spec = magnitude_mel(sound.audio[None], self.run.feature_settings)[0]
            db = 20 * np.log10(np.maximum(spec, 1e-5))
            buffer = io.BytesIO()
            plt.imsave(buffer, db, cmap="magma", origin="lower", vmin=db.max() - 80, vmax=db.max(), format="png")
            sound.png = buffer.getvalue()
        return sound.png

    def preset_file(self, sound: Sound) -> tuple[bytes, str]:
        """The sound's preset in the synth's native format: ``(bytes, suffix)``."""
        from ..plugins import find_writer, write_presets

        suffix = find_writer(self.run.synth_id).suffixes[0]
        with tempfile.TemporaryDirectory(dir=self.uploads) as folder:
            path = write_presets([sound.preset], Path(folder) / f"preset{suffix}")
            return Path(path).read_bytes(), suffix

    def bank_file(self, key: str) -> tuple[bytes, str] | None:
        """A match's candidates, best first, as one file in the synth's native format (a 32-voice bank for Dexed)."""
        from ..plugins import find_writer, write_presets

        presets = self.banks.get(key) if _ID.match(key) else None
        if not presets:
            return None
        suffix = find_writer(self.run.synth_id).suffixes[0]
        with tempfile.TemporaryDirectory(dir=self.uploads) as folder:
            path = write_presets(presets, Path(folder) / f"bank{suffix}")
            return Path(path).read_bytes(), suffix

    def preset_upload(self, path: Path, index: int) -> dict[str, Any]:
        """Voice ``index`` of an uploaded preset file, rendered and kept as a sound with its preset.

        Raises:
            UploadError: Not a preset file of the run's synth (415), no voice ``index`` (400).
        """
        from ..plugins import parse_preset_file

        try:
            parsed = parse_preset_file(path, self.run.synth_id)
        except PatchflowError as exc:
            reason = str(exc).replace(str(path), "the upload").splitlines()[0] if str(exc) else type(exc).__name__
            raise UploadError(415, f"not a {self.run.synth_id} preset file: {reason}") from None
        presets = list(parsed.presets)
        if not presets:
            raise UploadError(422, "the preset file holds no voices")
        if not 0 <= index < len(presets):
            raise UploadError(400, f"no voice {index}: the file holds {len(presets)} (0 to {len(presets) - 1})")
        preset = presets[index]
        key = self.add(self._rendered(preset))
        return {"id": key, "name": preset.name, "index": index, "voices": [p.name for p in presets]}

    def _rendered(self, preset: Preset, *, preview: bool = False) -> Sound:
        """``preset`` rendered with the run's settings, or as a 2 s preview (:data:`PREVIEW_SECONDS`)."""
        settings = self.run.render_settings
        if preview:
            settings = replace(settings, total_seconds=PREVIEW_SECONDS,
                               note_seconds=min(settings.note_seconds, PREVIEW_SECONDS * 0.75))
        with self.render_lock, SynthPool(self.run.synth_id, 1) as synths:
            audio = synths.render([preset], settings)[0]
        return Sound(audio, settings.sample_rate, preset=preset, name=preset.name)

    # ------------------------------------------------------------------ macro-knobs
    def ranking(self) -> list[dict[str, Any]]:
        """The latent dimensions ranked by the audio variance they produce (:func:`patchflow.apps.macro.traverse`)."""
        from ..apps.macro import traverse

        if self._ranking is None:
            with self.render_lock:
                traversals = traverse(self.run, steps=5, span=2.5, workers=self.workers,
                                      base_preset=self.base_preset())
            # a flow_dis run with tag pairs is traversed along its tag axes: those knobs live in the disentangled
            # space, not in the latent space
            self._semantic = bool(self.run.tag_pairs) and hasattr(self.run.model, "disentangling_flow")
            self._ranking = [{"dim": t.dim, "label": t.label, "audio_variance": t.audio_variance,
                              "space": "semantic" if self._semantic else "latent",
                              "moving": [name for name, _ in t.moving[:3]]} for t in traversals]
        return self._ranking

    def macro(self, key: str, sound: Sound) -> dict[str, Any]:
        from ..runtime.inference import latent_of_preset

        if key not in self._latents:
            self._latents[key] = latent_of_preset(self.run, sound.preset)
        z, how = self._latents[key]
        ranking = self.ranking()
        code = self._knob_code(z)
        return {"id": key, "encoded_by": how, "dimensions": [
            {**d, "value": float(code[0, d["dim"]])} for d in ranking]}

    def _knob_code(self, z: Any) -> Any:
        """The code the knobs set: the latent code, or its image in the disentangled space (semantic knobs)."""
        import torch

        from ..apps.macro import semantic_from_latent

        if not self._semantic:
            return z
        with torch.no_grad():
            return semantic_from_latent(self.run.model, z.to(torch.float32)).cpu()

    def macro_render(self, key: str, sound: Sound, values: dict[int, float]) -> dict[str, Any]:
        """A 2 s preview of the candidate with latent dimensions set to ``values``."""
        import torch

        from ..runtime.inference import INVERSE_FLOW, latent_of_preset, params_from_latent

        started = time.monotonic()
        if key not in self._latents:
            self._latents[key] = latent_of_preset(self.run, sound.preset)
        z, how = self._latents[key]
        self.ranking()
        code = self._knob_code(z).clone()
        space = "disentangled" if self._semantic else "latent"
        for dim, value in values.items():
            if not 0 <= dim < code.shape[1]:
                raise UploadError(400, f"dimension {dim} out of range: the {space} space has {code.shape[1]}")
            code[0, dim] = float(value)
        if self._semantic:
            from ..apps.macro import latent_from_semantic

            with torch.no_grad():
                code = latent_from_semantic(self.run.model, code).cpu()
        z = code
        params = params_from_latent(self.run, z.to(torch.float32), classify=how != INVERSE_FLOW)
        preset = presets_from_normalised(sound.preset, self.run.parameters, params, names=[sound.preset.name])[0]
        new = self.add(self._rendered(preset, preview=True))
        return {"id": new, "render_ms": (time.monotonic() - started) * 1000}

    # ------------------------------------------------------------------ the map
    def preset_map(self, limit: int = 2000) -> dict[str, Any]:
        """The training presets' latent codes (the encoder's, from their stored mels) projected on their first two
        principal components."""
        import torch

        from ..runtime.inference import normalised_mel

        if self._map is None:
            store = self.store
            if not self.run.model.has_latent:
                self._map = {"points": [], "reason": "the model has no latent space"}
                return self._map
            if store is None:
                self._map = self._index_map(limit)
                return self._map
            rows = np.asarray(store.split_indices("train"))[:limit]
            mel = store.read_rows("mel", rows, np.float32)
            model = self.run.model
            model.eval()
            with torch.no_grad():
                z = torch.cat([model.encode(normalised_mel(self.run, mel[i:i + 64])) for i in range(0, len(mel), 64)])
            xy, explained = _plane(z.cpu().double().numpy())
            names, sources = store.names, store.sources
            pairs = list(store.tag_pairs)
            tags = store.read_rows("tags", rows, int) if pairs else np.zeros((len(rows), 0), dtype=int)
            self._map = {"projection": "PCA of the latent codes", "explained_variance": explained,
                         "tag_pairs": pairs,
                         "points": [{"row": int(r), "name": names[int(r)], "x": float(x), "y": float(y),
                                     **_source_of(sources[int(r)]), "tags": t.tolist()}
                                    for r, (x, y), t in zip(rows, xy, tags)]}
        return self._map

    def _index_map(self, limit: int) -> dict[str, Any]:
        """The map without the store: the index's voices (evenly spaced, at most ``limit``), their log-mels rebuilt
        from the index's principal components and encoded, the codes' first two principal components."""
        import torch

        index = self.index
        if index is None:
            return {"points": [], "reason": "no training store and no retrieval index"}
        rows = np.unique(np.linspace(0, len(index) - 1, min(limit, len(index))).round().astype(int))
        shape = tuple(index.meta["mel_shape"])
        model = self.run.model
        model.eval()
        codes = []
        with torch.no_grad():
            for i in range(0, len(rows), 64):
                chunk = rows[i:i + 64]
                mel = (index.embedding[chunk].astype(np.float32) @ index.components.astype(np.float32)
                       + index.mean).reshape(len(chunk), *shape)  # already normalised with the store's statistics
                codes.append(model.encode(torch.as_tensor(mel, dtype=torch.float32)))
        xy, explained = _plane(torch.cat(codes).cpu().double().numpy())
        return {"projection": f"PCA of the latent codes of the index's voices (their log-mels rebuilt from its "
                              f"{index.dims} principal components)", "explained_variance": explained,
                "tag_pairs": [],
                "points": [{"row": int(r), "name": index.names[int(r)], "x": float(x), "y": float(y),
                            **_source_of(index.sources[int(r)]), "tags": []} for r, (x, y) in zip(rows, xy)]}

    def store_preset(self, row: int) -> Preset:
        store = self.store
        if store is None and self.index is not None:  # the map's rows are the index's voices
            if not 0 <= row < len(self.index):
                raise UploadError(404, f"no voice {row} in the retrieval index")
            return presets_from_normalised(self.base_preset(), self.index.parameters, self.index.params[row][None],
                                           names=[self.index.names[row]])[0]
        if store is None or not 0 <= row < len(store):
            raise UploadError(404, f"no preset {row} in the training store")
        return store.preset(row)

    def keep_store_sound(self, row: int) -> dict[str, Any]:
        """A training preset rendered and kept as a sound with its preset (for its macro-knobs and its file)."""
        sound = self.store_sound(row)
        return {"id": self.add(sound), "name": sound.name, "row": row}

    def _row_latent(self, row: int, use_inverse: bool) -> tuple[Any, str]:
        from ..runtime.inference import latent_of_preset

        if (row, use_inverse) not in self._row_latents:
            self._row_latents[(row, use_inverse)] = latent_of_preset(self.run, self.store_preset(row),
                                                                     use_inverse=use_inverse)
        return self._row_latents[(row, use_inverse)]

    def path_step(self, a: int, b: int, t: float) -> dict[str, Any]:
        """A 2 s preview of the step ``t`` on the straight latent path from training preset ``a`` to ``b``, as
        :func:`patchflow.apps.explore.interpolate` walks it (both codes from the encoder when only one inverse
        works; the parameters that are not learned from ``a``)."""
        import torch

        from ..runtime.inference import INVERSE_FLOW, params_from_latent

        started = time.monotonic()
        preset_a, _ = self.store_preset(a), self.store_preset(b)
        (za, how), (zb, how_b) = self._row_latent(a, True), self._row_latent(b, True)
        if how != how_b:
            (za, how), (zb, _) = self._row_latent(a, False), self._row_latent(b, False)
        params = params_from_latent(self.run, ((1 - t) * za + t * zb).to(torch.float32), classify=how != INVERSE_FLOW)
        name = f"PATH {round(100 * t)}%"
        preset = presets_from_normalised(preset_a, self.run.parameters, params, names=[name])[0]
        key = self.add(self._rendered(preset, preview=True))
        return {"id": key, "a": a, "b": b, "t": t, "encoded_by": how, "render_ms": (time.monotonic() - started) * 1000}

    def store_sound(self, row: int) -> Sound:
        return self._rendered(self.store_preset(row))


def _plane(z: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Codes ``(N, D)`` on their first two principal components, and the share of variance each explains."""
    centred = z - z.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if len(vt) >= 2 else np.c_[centred[:, :1], np.zeros(len(z))]
    return xy, (singular[:2] ** 2 / max(float(np.sum(singular ** 2)), 1e-12)).tolist()


def _source_of(source: str) -> dict[str, str]:
    """The folder and the file a store row was read from (``file#index``), by name only."""
    file = source.rsplit("#", 1)[0].replace("\\", "/")
    parts = [p for p in file.split("/") if p]
    return {"folder": parts[-2] if len(parts) > 1 else "", "file": parts[-1] if parts else ""}


def _error(status: int, reason: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": reason}, status_code=status)


def create_app(studio: Studio) -> Any:
    """The Starlette app serving ``studio``'s API and page; its shutdown removes the upload folder."""
    import contextlib

    import anyio
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def info(request: Request) -> Response:
        from ..plugins import find_writer

        run = studio.run
        return JSONResponse({"synth": run.synth_id, "preset_suffix": find_writer(run.synth_id).suffixes[0],
                             "run": str(run.run_dir), "model": type(run.model).__name__,
                             "has_latent": bool(run.model.has_latent), "budget": studio.budget, "top": studio.top,
                             "max_upload_bytes": studio.max_upload_bytes, "max_seconds": studio.max_seconds})

    async def receive_upload(request: Request, field: str = "audio", suffix: str = ".upload") -> Path:
        """The uploaded file's body, saved under a name of the server's own; size checked while reading."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > studio.max_upload_bytes + 64 * 1024:
            raise UploadError(413, f"the upload is {int(declared) / 1e6:.1f} MB; the studio takes up to "
                                   f"{studio.max_upload_bytes / 1e6:.0f} MB")
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > studio.max_upload_bytes + 64 * 1024:
                    raise UploadError(413, f"the upload is over {studio.max_upload_bytes / 1e6:.0f} MB")
        except ClientDisconnect:
            raise UploadError(400, "the upload was cut off") from None
        from python_multipart.multipart import parse_options_header  # python-multipart

        kind, options = parse_options_header(request.headers.get("content-type", ""))
        if kind != b"multipart/form-data" or b"boundary" not in options:
            raise UploadError(400, f"send the file as multipart/form-data, field '{field}'")
        data = _multipart_field(bytes(body), options[b"boundary"], field.encode())
        if data is None:
            raise UploadError(400, f"no file in the form field '{field}'")
        if len(data) > studio.max_upload_bytes:
            raise UploadError(413, f"the file is {len(data) / 1e6:.1f} MB; the studio takes up to "
                                   f"{studio.max_upload_bytes / 1e6:.0f} MB")
        if not data:
            raise UploadError(422, "the file is empty")
        path = studio.uploads / f"{uuid.uuid4().hex}{suffix}"
        path.write_bytes(data)
        return path

    async def match(request: Request) -> Response:
        try:
            path = await receive_upload(request)
            try:
                target = await anyio.to_thread.run_sync(studio.check_upload, path)
            finally:
                path.unlink(missing_ok=True)
        except UploadError as exc:
            return _error(exc.status, exc.reason)
        lines: queue.Queue = queue.Queue()
        gone = threading.Event()

        def work() -> None:
            try:
                lines.put(studio.match(target, lines.put, cancelled=gone))
            except Exception as exc:  # noqa: BLE001 - the response has begun: the error is its last line
                lines.put({"event": "error", "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
            finally:
                lines.put(None)

        threading.Thread(target=work, daemon=True).start()

        def next_line() -> Any:
            try:
                return lines.get(timeout=0.25)
            except queue.Empty:
                return queue.Empty

        async def stream():
            try:
                while True:
                    # short waits, so that a disconnect (which cancels this generator) is noticed while queued
                    item = await anyio.to_thread.run_sync(next_line)
                    if item is queue.Empty:
                        continue
                    if item is None:
                        return
                    yield json.dumps(item) + "\n"
            finally:
                gone.set()  # finished or abandoned: a match still queued or running for this client stops

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    def sound_of(request: Request) -> Sound | None:
        return studio.get(request.path_params["key"])

    async def audio(request: Request) -> Response:
        sound = sound_of(request)
        if sound is None:
            return _error(404, "no such sound")
        return Response(wav_bytes(sound.audio, sound.sample_rate), media_type="audio/wav")

    async def spectrogram(request: Request) -> Response:
        sound = sound_of(request)
        if sound is None:
            return _error(404, "no such sound")
        return Response(await anyio.to_thread.run_sync(studio.spectrogram, sound), media_type="image/png")

    async def preset(request: Request) -> Response:
        sound = sound_of(request)
        if sound is None or sound.preset is None:
            return _error(404, "no such preset")
        data, suffix = await anyio.to_thread.run_sync(studio.preset_file, sound)
        if suffix != "." + request.path_params["suffix"]:
            return _error(404, f"{studio.run.synth_id} presets are {suffix} files")
        safe = re.sub(r"[^A-Za-z0-9_-]+", "-", sound.name).strip("-") or "preset"
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{safe}{suffix}"'})

    def knob_sound(request: Request) -> tuple[str, Any]:
        """The key and the sound of a macro-knob request, or ``(key, error response)``."""
        key = request.path_params["key"]
        sound = studio.get(key)
        if sound is None or sound.preset is None:
            return key, _error(404, "no such preset")
        if not studio.run.model.has_latent:
            return key, _error(409, f"{type(studio.run.model).__name__} has no latent space: no macro-knobs")
        return key, sound

    async def macro(request: Request) -> Response:
        key, sound = knob_sound(request)
        if not isinstance(sound, Sound):
            return sound
        return JSONResponse(await anyio.to_thread.run_sync(studio.macro, key, sound))

    async def macro_render(request: Request) -> Response:
        key, sound = knob_sound(request)
        if not isinstance(sound, Sound):
            return sound
        try:
            body = await request.json()
            values = {int(k): float(v) for k, v in dict(body.get("values", {})).items()}
        except (ValueError, TypeError, AttributeError):
            return _error(400, 'send {"values": {"DIM": VALUE, ...}}')
        if not all(np.isfinite(v) and abs(v) <= 100 for v in values.values()):
            return _error(400, "latent values are finite, within -100 and 100")
        try:
            return JSONResponse(await anyio.to_thread.run_sync(studio.macro_render, key, sound, values))
        except UploadError as exc:
            return _error(exc.status, exc.reason)

    async def bank(request: Request) -> Response:
        found = await anyio.to_thread.run_sync(studio.bank_file, request.path_params["key"])
        if found is None:
            return _error(404, "no such bank")
        data, suffix = found
        if suffix != "." + request.path_params["suffix"]:
            return _error(404, f"{studio.run.synth_id} presets are {suffix} files")
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="match-bank{suffix}"'})

    async def preset_upload(request: Request) -> Response:
        index = request.query_params.get("index", "0")
        if not index.isdigit():
            return _error(400, "index is the voice's number in the file, from 0")
        try:
            from ..plugins import find_writer

            path = await receive_upload(request, "preset", find_writer(studio.run.synth_id).suffixes[0])
            try:
                return JSONResponse(await anyio.to_thread.run_sync(studio.preset_upload, path, int(index)))
            finally:
                path.unlink(missing_ok=True)
        except UploadError as exc:
            return _error(exc.status, exc.reason)

    async def keep_store(request: Request) -> Response:
        try:
            return JSONResponse(await anyio.to_thread.run_sync(studio.keep_store_sound,
                                                               int(request.path_params["row"])))
        except UploadError as exc:
            return _error(exc.status, exc.reason)

    async def path_step(request: Request) -> Response:
        if not studio.run.model.has_latent:
            return _error(409, f"{type(studio.run.model).__name__} has no latent space: no latent path")
        try:
            body = await request.json()
            a, b, t = body["a"], body["b"], float(body["t"])
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b)):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            return _error(400, 'send {"a": ROW, "b": ROW, "t": 0..1}')
        if not (np.isfinite(t) and 0 <= t <= 1):
            return _error(400, "t is within 0 (preset a) and 1 (preset b)")
        try:
            return JSONResponse(await anyio.to_thread.run_sync(studio.path_step, a, b, t))
        except UploadError as exc:
            return _error(exc.status, exc.reason)

    async def preset_map(request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(studio.preset_map))

    async def store_audio(request: Request) -> Response:
        try:
            sound = await anyio.to_thread.run_sync(studio.store_sound, int(request.path_params["row"]))
        except UploadError as exc:
            return _error(exc.status, exc.reason)
        return Response(wav_bytes(sound.audio, sound.sample_rate), media_type="audio/wav")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        try:
            yield
        finally:
            studio.close()

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/match", match, methods=["POST"]),
        Route("/api/audio/{key}.wav", audio),
        Route("/api/spectrogram/{key}.png", spectrogram),
        Route("/api/preset/{key}.{suffix}", preset),
        Route("/api/macro/{key}", macro),
        Route("/api/macro/{key}/render", macro_render, methods=["POST"]),
        Route("/api/map", preset_map),
        Route("/api/store/{row:int}.wav", store_audio),
        Route("/api/store/{row:int}", keep_store, methods=["POST"]),
        Route("/api/bank/{key}.{suffix}", bank),
        Route("/api/preset", preset_upload, methods=["POST"]),
        Route("/api/path", path_step, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.studio = studio
    return app


def _multipart_field(body: bytes, boundary: bytes, name: bytes) -> bytes | None:
    """The content of the form field ``name`` in a multipart/form-data body (its client-given file name unused)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    parts: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    header: dict[str, bytes] = {"field": b"", "value": b""}

    def on_part_begin() -> None:
        current.clear()
        current.update(headers={}, data=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        current["headers"][header["field"].lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"] += data[start:end]

    def on_part_end() -> None:
        parts.append(dict(current))

    parser = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                                        "on_header_value": on_header_value, "on_header_end": on_header_end,
                                        "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        parser.write(body)
        parser.finalize()
    except Exception:  # noqa: BLE001 - a malformed form
        return None
    for part in parts:
        _, options = parse_options_header(part["headers"].get(b"content-disposition", b""))
        if options.get(b"name") == name:
            return bytes(part["data"])
    return None
