"""patchflow studio on a tiny run of the small real Dexed store: every endpoint of the API through the ASGI test
client, the serving rules (size, duration, unreadable and silent uploads, ids that are not paths, the upload folder,
matches one at a time), the command, and the page in a real headless Chromium (match, play, download a voice and the
bank, macro-knobs of a candidate, of a preset file and of a map point, the map's colours, the latent path, a recording
from Chromium's fake microphone), with screenshots under docs/_build/screenshots/."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytest.importorskip("starlette", reason="the studio extra is not installed (make setup installs it)")

from starlette.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from patchflow.cli import app as cli_app  # noqa: E402
from patchflow.plugins import parse_preset_file  # noqa: E402
from patchflow.runtime import load_run  # noqa: E402
from patchflow.studio.server import Studio, create_app  # noqa: E402

MODEL = "flow_post"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "_build" / "screenshots"


def _wav(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(audio, dtype=np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def run(tiny_run):
    return load_run(tiny_run(MODEL))


@pytest.fixture(scope="module")
def sound(small_dexed_store) -> bytes:
    """A test voice of the store as a WAV file's bytes (peak 0.8)."""
    store = small_dexed_store
    audio = store.audio(int(store.split_indices("test")[1]))
    return _wav(0.8 * audio / np.max(np.abs(audio)), store.render_settings.sample_rate)


@pytest.fixture(scope="module")
def studio(run):
    state = Studio(run, budget=1.0, top=3, workers=2)
    with TestClient(create_app(state)) as client:
        yield state, client
    assert not state.uploads.exists(), "the upload folder outlived the app"


def _match(client, data: bytes, name: str = "sound.wav"):
    return client.post("/api/match", files={"audio": (name, data, "audio/wav")})


def _lines(response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def matched(studio, sound) -> dict:
    _, client = studio
    response = _match(client, sound)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return {"lines": _lines(response)}


def test_match_streams_stages_then_the_result(matched, studio):
    state, _ = studio
    lines = matched["lines"]
    assert [e["event"] for e in lines[:-1]] == ["stage"] * (len(lines) - 1) and len(lines) >= 3
    result = lines[-1]
    assert result["event"] == "result", result
    assert [s["stage"] for s in result["stages"]][0] == "model"
    assert result["stages"][-1]["stage"] == "+ refinement"
    distances = [s["distance"] for s in result["stages"]]
    assert distances == sorted(distances, reverse=True)  # the best so far never gets worse
    candidates = result["candidates"]
    assert [c["rank"] for c in candidates] == [1, 2, 3]
    assert [c["distance"] for c in candidates] == sorted(c["distance"] for c in candidates)
    assert len({c["id"] for c in candidates} | {result["target"]["id"]}) == 4
    assert not list(state.uploads.iterdir()), "an upload was left behind"


def test_audio_spectrogram_and_preset_of_every_candidate(matched, studio, run, tmp_path):
    _, client = studio
    result = matched["lines"][-1]
    for key in [result["target"]["id"]] + [c["id"] for c in result["candidates"]]:
        wav = client.get(f"/api/audio/{key}.wav")
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        audio, rate = soundfile.read(io.BytesIO(wav.content))
        assert rate == run.render_settings.sample_rate and len(audio) == run.render_settings.num_samples
        assert np.max(np.abs(audio)) > 0.01
        png = client.get(f"/api/spectrogram/{key}.png")
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/api/preset/{result['target']['id']}.syx").status_code == 404  # the target has none
    first = result["candidates"][0]
    syx = client.get(f"/api/preset/{first['id']}.syx")
    assert syx.status_code == 200 and syx.content[:1] == b"\xf0"
    assert "attachment" in syx.headers["content-disposition"]
    (tmp_path / "m.syx").write_bytes(syx.content)
    parsed = parse_preset_file(tmp_path / "m.syx", "dexed")
    assert len(parsed.presets) == 1 and parsed.presets[0].name.strip() == first["name"]
    assert client.get(f"/api/preset/{first['id']}.fxp").status_code == 404


def test_ids_are_never_paths(studio):
    _, client = studio
    for path in ("/api/audio/..%2F..%2Fetc%2Fpasswd.wav", "/api/audio/nothere.wav", f"/api/audio/{'0' * 32}.wav",
                 "/api/spectrogram/..%2Fx.png", "/api/preset/%2Fetc%2Fpasswd.syx", "/api/macro/..%2Fx"):
        assert client.get(path).status_code == 404, path


def test_bad_uploads_get_a_4xx_with_one_line_and_the_server_goes_on(studio, run, sound):
    state, client = studio
    rate = run.render_settings.sample_rate
    cases = [
        (_match(client, b"RIFF not audio at all" * 10, "../../etc/passwd"), 415),
        (_match(client, _wav(np.zeros(rate), rate)), 422),
        (_match(client, _wav(np.zeros(rate // 100) + 0.5, rate)), 422),  # 10 ms: too short
        (_match(client, b""), 422),
        (client.post("/api/match", data={"other": "x"}), 400),
        (client.post("/api/match", content=b"raw", headers={"content-type": "audio/wav"}), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        reason = response.json()["error"]
        assert reason and "\n" not in reason and str(state.uploads) not in reason, reason
    assert not list(state.uploads.iterdir())
    assert client.get("/api/info").json()["synth"] == "dexed"


def test_size_and_duration_limits(run, sound):
    rate = run.render_settings.sample_rate
    state = Studio(run, budget=0.0, top=1, max_upload_bytes=len(sound) // 2, max_seconds=2.0)
    with TestClient(create_app(state)) as client:
        big = _match(client, sound)
        assert big.status_code == 413 and "MB" in big.json()["error"]
        tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(int(rate * 1.5)) / rate)  # 1.5 s, under both limits
        assert _match(client, _wav(tone, rate)).status_code == 200
        state.max_upload_bytes = 10 * len(sound)
        longer = _match(client, sound)  # 4 s > 2 s, refused from the header
        assert longer.status_code == 413 and "2 s" in longer.json()["error"], longer.text
    assert not state.uploads.exists()


def test_concurrent_matches_queue_and_each_gets_its_own_result(run, sound):
    state = Studio(run, budget=0.1, top=2, workers=1)
    inside, most = [0], [0]
    original = state.match

    def counting(*args, **kwargs):
        return original(*args, **kwargs)

    real_match = __import__("patchflow.studio.server", fromlist=["match_sound"]).match_sound

    def tracked(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        try:
            return real_match(*args, **kwargs)
        finally:
            inside[0] -= 1

    import patchflow.studio.server as server

    server.match_sound, before = tracked, server.match_sound
    try:
        with TestClient(create_app(state)) as client:
            results: list = [None] * 8

            def go(k: int) -> None:
                results[k] = _lines(_match(client, sound))[-1]

            threads = [threading.Thread(target=go, args=(k,)) for k in range(8)]  # eight at once
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
    finally:
        server.match_sound = before
    assert all(r and r["event"] == "result" for r in results), results
    assert most[0] == 1, "two matches ran at once"
    ids = [c["id"] for r in results for c in r["candidates"]] + [r["target"]["id"] for r in results]
    assert len(set(ids)) == len(ids)


def test_macro_knobs_rank_dimensions_and_render_a_preview(matched, studio, run):
    _, client = studio
    key = matched["lines"][-1]["candidates"][0]["id"]
    body = client.get(f"/api/macro/{key}").json()
    dims = body["dimensions"]
    assert sorted(d["dim"] for d in dims) == list(range(run.model.latent_dim))
    variances = [d["audio_variance"] for d in dims]
    assert variances == sorted(variances, reverse=True)
    values = {str(dims[0]["dim"]): dims[0]["value"] + 1.5}
    rendered = client.post(f"/api/macro/{key}/render", json={"values": values})
    assert rendered.status_code == 200, rendered.text
    preview = rendered.json()
    audio, rate = soundfile.read(io.BytesIO(client.get(f"/api/audio/{preview['id']}.wav").content))
    assert len(audio) == 2 * rate and preview["render_ms"] > 0
    assert client.get(f"/api/preset/{preview['id']}.syx").status_code == 200
    assert client.post(f"/api/macro/{key}/render", json={"values": {"999": 0}}).status_code == 400
    assert client.post(f"/api/macro/{key}/render", json={"values": {"0": "nan"}}).status_code == 400
    assert client.post(f"/api/macro/{key}/render", content=b"{", headers={"content-type": "application/json"}
                       ).status_code == 400


def test_the_map_projects_the_training_presets(studio, small_dexed_store):
    _, client = studio
    body = client.get("/api/map").json()
    rows = small_dexed_store.split_indices("train")
    assert body["projection"].startswith("PCA") and len(body["points"]) == len(rows)
    point = body["points"][0]
    assert point["name"] == small_dexed_store.names[point["row"]]
    wav = client.get(f"/api/store/{point['row']}.wav")
    assert wav.status_code == 200 and soundfile.read(io.BytesIO(wav.content))[0].size > 0
    assert client.get(f"/api/store/{len(small_dexed_store) + 5}.wav").status_code == 404


def test_the_top_k_download_as_one_bank(matched, studio, tmp_path):
    _, client = studio
    result = matched["lines"][-1]
    bank = result["bank"]
    assert bank["count"] == len(result["candidates"]) == 3
    response = client.get(f"/api/bank/{bank['id']}.syx")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert len(response.content) == 4104  # a DX7 32-voice bulk dump
    (tmp_path / "bank.syx").write_bytes(response.content)
    names = [p.name.strip() for p in parse_preset_file(tmp_path / "bank.syx", "dexed").presets]
    assert len(names) == 32 and names[:3] == [c["name"] for c in result["candidates"]]
    assert client.get(f"/api/bank/{bank['id']}.fxp").status_code == 404
    for key in (result["candidates"][0]["id"], "..%2Fx", "0" * 32):
        assert client.get(f"/api/bank/{key}.syx").status_code == 404


def test_an_uploaded_preset_file_gets_macro_knobs(matched, studio, tmp_path):
    state, client = studio
    bank = client.get(f"/api/bank/{matched['lines'][-1]['bank']['id']}.syx").content
    up = client.post("/api/preset?index=1", files={"preset": ("../../x.syx", bank, "application/octet-stream")})
    assert up.status_code == 200, up.text
    body = up.json()
    assert body["index"] == 1 and len(body["voices"]) == 32 and body["name"] == body["voices"][1]
    audio, _ = soundfile.read(io.BytesIO(client.get(f"/api/audio/{body['id']}.wav").content))
    assert np.max(np.abs(audio)) > 0.01
    assert client.get(f"/api/macro/{body['id']}").json()["dimensions"]
    syx = client.get(f"/api/preset/{body['id']}.syx")
    (tmp_path / "v.syx").write_bytes(syx.content)
    assert parse_preset_file(tmp_path / "v.syx", "dexed").presets[0].name.strip() == body["name"].strip()
    single = client.post("/api/preset", files={"preset": ("v.syx", syx.content)})
    assert single.status_code == 200 and single.json()["voices"] == [body["name"]]
    cases = [
        (client.post("/api/preset?index=32", files={"preset": ("b.syx", bank)}), 400),
        (client.post("/api/preset?index=-1", files={"preset": ("b.syx", bank)}), 400),
        (client.post("/api/preset", files={"preset": ("b.syx", b"not a preset file" * 20)}), 415),
        (client.post("/api/preset", files={"preset": ("b.syx", b"")}), 422),
        (client.post("/api/preset", files={"audio": ("b.syx", bank)}), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        reason = response.json()["error"]
        assert reason and "\n" not in reason and str(state.uploads) not in reason, reason
    assert not list(state.uploads.iterdir())


def test_a_store_preset_gets_macro_knobs_and_downloads(studio, small_dexed_store, tmp_path):
    _, client = studio
    row = int(small_dexed_store.split_indices("train")[2])
    body = client.post(f"/api/store/{row}").json()
    assert body["name"] == small_dexed_store.names[row]
    assert client.get(f"/api/macro/{body['id']}").status_code == 200
    (tmp_path / "s.syx").write_bytes(client.get(f"/api/preset/{body['id']}.syx").content)
    assert parse_preset_file(tmp_path / "s.syx", "dexed").presets[0].name.strip() == body["name"].strip()
    assert client.post(f"/api/store/{len(small_dexed_store)}").status_code == 404


def test_the_map_colours_by_source_and_tag(studio, small_dexed_store, run, tagged_dexed_store):
    _, client = studio
    body = client.get("/api/map").json()
    assert body["tag_pairs"] == list(small_dexed_store.tag_pairs)
    for point in body["points"][:20]:
        file = small_dexed_store.sources[point["row"]].rsplit("#", 1)[0]
        assert point["file"] == Path(file).name and point["folder"] == Path(file).parent.name
        assert "/" not in point["folder"] + point["file"] and len(point["tags"]) == len(body["tag_pairs"])
    assert len({p["folder"] for p in body["points"]}) > 1
    from patchflow.data.store import open_store

    tagged = open_store(tagged_dexed_store)
    state = Studio(run, budget=0.0, top=1)
    state._store = tagged  # the same run over the store with a Bright/Dark tag pair
    tagged_map = state.preset_map()
    state.close()
    assert tagged_map["tag_pairs"] == list(tagged.tag_pairs) and tagged_map["tag_pairs"]
    values = {p["tags"][0] for p in tagged_map["points"]}
    assert values <= {-1, 0, 1} and {-1, 1} <= values


def test_the_latent_path_between_two_presets(studio, small_dexed_store, run):
    from patchflow.apps.explore import interpolate

    _, client = studio
    a, b = (int(r) for r in small_dexed_store.split_indices("train")[:2])
    steps = [client.post("/api/path", json={"a": a, "b": b, "t": t}) for t in (0.0, 0.5, 1.0)]
    assert all(r.status_code == 200 for r in steps), steps[0].text
    bodies = [r.json() for r in steps]
    assert len({x["id"] for x in bodies}) == 3 and all(x["render_ms"] > 0 for x in bodies)
    audio, rate = soundfile.read(io.BytesIO(client.get(f"/api/audio/{bodies[1]['id']}.wav").content))
    assert len(audio) == 2 * rate and np.max(np.abs(audio)) > 0.01
    # the ends and the middle are apps.explore.interpolate's path of three steps
    path = interpolate(run, small_dexed_store.preset(a), small_dexed_store.preset(b), steps=3, workers=1)
    table = run.parameters
    for body, params in zip(bodies, path.latent_params):
        preset = parse_preset_file(_saved(client, body["id"]), "dexed").presets[0]
        assert np.allclose(table.to_native(table.to_normalised(preset.vector(table))[None]),
                           table.to_native(params[None]), atol=1e-6)
    bad = [({"a": a, "b": b, "t": 1.5}, 400), ({"a": a, "b": b, "t": "nan"}, 400), ({"a": a, "b": b}, 400),
           ({"a": "../x", "b": b, "t": 0.5}, 400), ({"a": a, "b": len(small_dexed_store) + 1, "t": 0.5}, 404)]
    for payload, status in bad:
        response = client.post("/api/path", json=payload)
        assert response.status_code == status and "\n" not in response.json()["error"], (payload, response.text)
    assert client.post("/api/path", content=b"{", headers={"content-type": "application/json"}).status_code == 400


def _saved(client, key: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "p.syx"
    path.write_bytes(client.get(f"/api/preset/{key}.syx").content)
    return path


def test_the_page_and_its_files_come_from_the_app(studio):
    _, client = studio
    page = client.get("/")
    assert page.status_code == 200 and "patchflow studio" in page.text
    for asset in ("/static/studio.js", "/static/studio.css"):
        assert client.get(asset).status_code == 200
    text = page.text + client.get("/static/studio.js").text + client.get("/static/studio.css").text
    assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_the_command_prints_its_address_and_warns_off_localhost(tiny_run, monkeypatch):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: served.update(host=host, port=port))
    run = str(tiny_run(MODEL))
    result = CliRunner().invoke(cli_app, ["studio", run, "--no-browser", "--port", "8799"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8799/" in result.output and "warning" not in result.output
    result = CliRunner().invoke(cli_app, ["studio", run, "--no-browser", "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "warning: listening on 0.0.0.0" in result.output
    assert served == {"host": "0.0.0.0", "port": 8765}
    bad = CliRunner().invoke(cli_app, ["studio", run, "--port", "0"])
    assert bad.exit_code == 1 and "--port 0" in bad.output


# ------------------------------------------------------------------ the page in a real browser (tests/conftest.py)
@pytest.fixture(scope="module")
def served(run):
    """The studio served by uvicorn on a free local port, in a thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = Studio(run, budget=1.0, top=3, workers=2)
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(20)
    assert not state.uploads.exists()


def _multipart(data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body holding ``data`` as the ``audio`` field, and its content type."""
    boundary = "patchflowtestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"sound.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_client_that_goes_away_frees_its_queued_match(served, sound, monkeypatch):
    """A match waits for the one before it; when its client disconnects meanwhile, it never runs."""
    import http.client
    from urllib.parse import urlsplit

    import patchflow.studio.server as server

    url, state = served
    host, port = urlsplit(url).hostname, urlsplit(url).port
    calls: list[int] = []
    real = server.match_sound

    def tracked(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(server, "match_sound", tracked)
    body, kind = _multipart(sound)

    def post() -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(host, port, timeout=120)
        connection.request("POST", "/api/match", body=body, headers={"Content-Type": kind})
        return connection

    first: list = []

    def run_first() -> None:
        connection = post()
        response = connection.getresponse()
        first.append((response.status, response.read().decode()))
        connection.close()

    running = threading.Thread(target=run_first)
    running.start()
    deadline = time.monotonic() + 60
    while not calls and time.monotonic() < deadline:  # the first match holds the studio
        time.sleep(0.02)
    assert calls, "the first match did not start"
    queued = post()
    assert queued.getresponse().status == 200  # the response has begun: the second match is queued ...
    queued.close()  # ... and its client goes away
    running.join(120)
    assert first and first[0][0] == 200 and '"event": "result"' in first[0][1]
    time.sleep(1.0)  # the queued match's turn comes and goes
    assert len(calls) == 1, "the abandoned match ran"


def test_the_page_matches_plays_downloads_and_turns_knobs(browser, served, sound, tmp_path, tagged_dexed_store):
    url, state = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.on("request", lambda r: None if r.url.startswith(url) or r.url.startswith("blob:")
            or r.url.startswith("data:") else outside.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("#info:not(:empty)")
    (tmp_path / "target.wav").write_bytes(sound)
    started = time.monotonic()
    page.set_input_files("#file", str(tmp_path / "target.wav"))
    page.wait_for_selector("body[data-matched]", timeout=120_000)
    match_seconds = time.monotonic() - started
    assert page.locator("#stages li").count() >= 3
    audios = page.locator("#results audio")
    assert audios.count() == 4  # the target and the top 3
    page.wait_for_function("[...document.querySelectorAll('#results audio')].every(a => a.readyState >= 1)",
                           timeout=30_000)
    durations = page.evaluate("[...document.querySelectorAll('#results audio')].map(a => a.duration)")
    assert all(d > 3.9 for d in durations), durations
    page.wait_for_function("[...document.querySelectorAll('#results img')].every(i => i.complete && "
                           "i.naturalWidth > 0)", timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "studio-match.png"), full_page=True)
    with page.expect_download() as download_info:
        page.locator("#results a[download]").first.click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".syx"
    parsed = parse_preset_file(saved, "dexed")
    assert len(parsed.presets) == 1
    with page.expect_download() as download_info:
        page.locator("#bank a[download]").click()
    bank = tmp_path / "bank.syx"
    download_info.value.save_as(bank)
    names = [p.name.strip() for p in parse_preset_file(bank, "dexed").presets]
    assert len(names) == 32 and names[:3] == page.evaluate(
        "[...document.querySelectorAll('#results .card:not(.target) h3')].map(h => h.textContent)"
        ".map(t => t.replace(/^#\\d+ /, '').replace(/ \\(.*$/, ''))")

    page.locator("#results button", has_text="macro-knobs").first.click()
    page.wait_for_selector("#macro-knobs input[type=range]", timeout=120_000)
    slider = page.locator("#macro-knobs input[type=range]").first
    slider.evaluate("s => { s.value = String(Number(s.value) + 1); s.dispatchEvent(new Event('change')); }")
    page.wait_for_selector("body[data-macro-ms]", timeout=30_000)
    macro_ms = float(page.evaluate("document.body.dataset.macroMs"))
    assert page.evaluate("document.getElementById('macro-audio').duration") > 1.9
    page.screenshot(path=str(SCREENSHOTS / "studio-macro.png"), full_page=True)
    with page.expect_download() as download_info:  # the moved preset
        page.locator("#macro-download").click()
    download_info.value.save_as(tmp_path / "moved.syx")
    assert len(parse_preset_file(tmp_path / "moved.syx", "dexed").presets) == 1
    assert page.get_attribute("#macro-download", "href") == page.evaluate(
        "document.getElementById('macro-audio').src").replace(url, "").replace("/audio/", "/preset/").replace(
        ".wav", ".syx")

    # the knobs of a voice of a preset file: the bank just downloaded, its second voice
    page.fill("#preset-index", "1")
    page.set_input_files("#preset-file", str(bank))
    page.wait_for_function(f"document.getElementById('macro-status').textContent.includes({names[1]!r}) && "
                           "document.getElementById('macro-status').textContent.includes('ranked')", timeout=30_000)
    assert page.locator("#macro-knobs input[type=range]").count() > 0

    from patchflow.data.store import open_store

    state._store, state._map = open_store(tagged_dexed_store), None  # the same presets, with a Bright/Dark pair
    page.locator("nav button[data-panel=explore]").click()
    page.wait_for_function("document.getElementById('explore-status').textContent.includes('PCA,')",
                           timeout=60_000)
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate("place(points[0], document.getElementById('map'))")  # canvas pixels are CSS pixels
    page.mouse.move(box["x"] + x, box["y"] + y)
    assert page.locator("#map-tip").text_content() == page.evaluate("points[0].name")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function("document.getElementById('explore-audio').readyState >= 1", timeout=30_000)
    assert page.evaluate("document.getElementById('explore-audio').duration") > 3.9

    page.select_option("#map-colour", "tag:0")
    assert page.locator("#map-legend .swatch").all_text_contents() == ["Bright", "Dark", "unknown"]
    assert page.evaluate("new Set(points.map(p => colourOf(p))).size") == 3
    page.select_option("#map-colour", "folder")
    assert page.locator("#map-legend .swatch").count() > 1
    assert page.evaluate("new Set(points.map(p => colourOf(p))).size") > 1
    # A is the point just clicked; B the point furthest from it
    far = page.evaluate("points.indexOf(points.reduce((f, p) => (p.x - points[0].x) ** 2 + (p.y - points[0].y) ** 2"
                        " > (f.x - points[0].x) ** 2 + (f.y - points[0].y) ** 2 ? p : f))")
    x, y = page.evaluate(f"place(points[{far}], document.getElementById('map'))")
    box = page.locator("#map").bounding_box()  # the page may have scrolled
    page.mouse.click(box["x"] + x, box["y"] + y)
    chosen = page.evaluate("ends.map(p => place(p, document.getElementById('map')))")
    assert len(chosen) == 2 and abs(chosen[1][0] - x) + abs(chosen[1][1] - y) < 2  # B: the point under the click
    assert page.is_enabled("#path-t")
    page.locator("#path-t").evaluate("s => { s.value = '0.5'; s.dispatchEvent(new Event('change')); }")
    page.wait_for_selector("body[data-path-ms]", timeout=30_000)
    assert page.evaluate("document.getElementById('path-audio').duration") > 1.9
    page.screenshot(path=str(SCREENSHOTS / "studio-explore.png"), full_page=True)
    step = page.evaluate("document.body.dataset.pathId")
    assert state.get(step) is not None and state.get(step).name == "PATH 50%"

    page.click("#map-macro")  # the knobs of the last preset clicked (B)
    page.wait_for_function("document.getElementById('macro-status').textContent.includes('store preset')",
                           timeout=30_000)
    page.close()
    assert not errors, errors
    assert not outside, f"the page loaded from other hosts: {outside}"
    print(f"studio in the browser: match {match_seconds:.1f} s; macro release to playable {macro_ms:.0f} ms")


def test_the_page_records_the_microphone_and_matches_it(browser, served):
    """Chromium's fake microphone (a beeping tone): recording for about 1.5 s uploads a WAV that is matched."""
    url, _ = served
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("#info:not(:empty)")
    page.click("#record")
    page.wait_for_function("document.getElementById('match-status').textContent.startsWith('recording')")
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_selector("body[data-matched]", timeout=120_000)
    assert float(page.evaluate("document.body.dataset.recorded")) > 1.0
    assert page.locator("#results audio").count() == 4
    assert "error" not in (page.get_attribute("#match-status", "class") or "")
    page.close()
    assert not errors, errors


def test_the_pretrained_matcher_serves_every_panel_without_a_store(sound):
    """``patchflow studio`` with the shipped Dexed bundle (no store): matches retrieve from its index, the map
    shows the index's voices, and a map point plays and gets macro-knobs."""
    from patchflow.registries import matchers

    bundle = load_run(matchers()["dexed"].path)
    state = Studio(bundle, budget=0.2, top=2, workers=1)
    assert state.store is None and state.index is not None
    with TestClient(create_app(state)) as client:
        result = _lines(_match(client, sound))[-1]
        assert result["event"] == "result" and any(s["stage"] == "+ retrieval" for s in result["stages"])
        shown = client.get("/api/map").json()
        assert len(shown["points"]) == 2000 and "index" in shown["projection"]
        point = shown["points"][7]
        assert point["name"] == state.index.names[point["row"]] and point["file"]
        audio, rate = soundfile.read(io.BytesIO(client.get(f"/api/store/{point['row']}.wav").content))
        assert rate == bundle.render_settings.sample_rate and np.max(np.abs(audio)) > 0
        kept = client.post(f"/api/store/{point['row']}").json()
        assert kept["name"] == point["name"] and client.get(f"/api/macro/{kept['id']}").status_code == 200
        assert client.post("/api/store/999999").status_code == 404
