#!/usr/bin/env bash
# The studio screenshots of docs/guide/studio.md: the real-browser tests of tests/test_studio.py drive the page in
# headless Chromium (a tiny Dexed run) and write docs/_build/screenshots/studio-*.png; this copies them to
# docs/images/studio/, where the docs page shows them.
#
#   scripts/studio_screenshots.sh        (after make setup; PYTHON defaults to .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
PATCHFLOW_SHARED="${PATCHFLOW_SHARED:-$(cd .. && pwd)/shared}" "$PYTHON" -m pytest -q tests/test_studio.py -k "the_page_matches_plays"
mkdir -p docs/images/studio
for name in match macro explore; do
  cp "docs/_build/screenshots/studio-$name.png" "docs/images/studio/$name.png"
done
echo "docs/images/studio/: match.png macro.png explore.png"
