#!/usr/bin/env bash
# Open the documentation site in headless Chromium (Debian's `chromium` package): screenshots of
# the home page and of the API reference, checked to be non-blank, and the home page's figure
# to be fetched by the browser and visible in the screenshot.
#
# Usage: scripts/check_site.sh [SITE_DIR [OUT_DIR]]
#   SITE_DIR  a built site (default: build one with `mkdocs build` into a temporary folder)
#   OUT_DIR   where home.png, api.png and server.log go (default: out/site-check)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
site=${1:-}
out=${2:-out/site-check}
tmp=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "$site" ]; then
    site=$tmp/site
    NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$site"
fi
mkdir -p "$out"

# Serve the site on a free local port, for two minutes at most.
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 120 python -m http.server "$port" --bind 127.0.0.1 --directory "$site" 2> "$out/server.log" &
server=$!
python - "$port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the site's web server did not start")
PY

shoot() {  # URL PNG
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --hide-scrollbars --user-data-dir="$tmp/profile" --window-size=1280,1400 \
        --virtual-time-budget=5000 --screenshot="$2" "$1" > /dev/null 2>&1
}
shoot "http://127.0.0.1:$port/" "$out/home.png"
shoot "http://127.0.0.1:$port/api/" "$out/api.png"
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=

python - "$site" "$out" <<'PY'
"""Each screenshot is not blank; the home page's first figure was fetched and is in view."""
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

site, out = Path(sys.argv[1]), Path(sys.argv[2])
log = (out / "server.log").read_text()


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)


for name in ("home", "api"):
    shot = pixels(out / f"{name}.png")
    colours = len(np.unique(shot, axis=0))
    if colours < 100:
        sys.exit(f"{name}.png looks blank: {colours} distinct colours")
    print(f"{name}.png: {colours} distinct colours")
for asset in ('GET / ', 'GET /api/ ', 'GET /assets/stylesheets/'):
    if not re.search(re.escape(asset) + r'[^"]*" 200', log):
        sys.exit(f"the browser did not fetch {asset.split()[1]} (see {out / 'server.log'})")

figure = re.search(r'<img[^>]*src="([^"]+)"', (site / "index.html").read_text())
if not figure:
    sys.exit("the home page has no figure")
src = figure[1].removeprefix("./")
if not re.search(rf'"GET /{re.escape(src)} HTTP[^"]*" 200', log):
    sys.exit(f"the browser did not fetch the home page's figure {src}")
# the figure's most common colour that is neither white nor grey must show in the screenshot
counts = Counter(map(tuple, pixels(site / src)))
colour = next(c for c, _ in counts.most_common() if max(c) - min(c) > 40)
shot = pixels(out / "home.png").astype(int)
seen = int((np.abs(shot - colour).max(axis=1) <= 3).sum())
if seen < 200:
    sys.exit(f"the home page's figure is not in view: its colour {colour} covers {seen} pixels")
print(f"home.png shows {src}: its colour {colour} covers {seen} pixels")
PY
