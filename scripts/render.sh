#!/usr/bin/env bash
# Renders a report (SVG or HTML) to PNG with headless Chromium, for the docs' pictures.
#   scripts/render.sh run.svg run.png [WIDTH HEIGHT]
# Needs Debian's chromium (apt-get install chromium); nothing else. The flags keep Chromium
# off the network and away from any profile: a fresh, throw-away user-data-dir each time.
set -euo pipefail
in=$(readlink -f "$1")
out=$(readlink -m "$2")
width=${3:-1120}
height=${4:-}
if [ -z "$height" ]; then
  # The SVG says how tall it is; add the page margin of an HTML report.
  height=$(grep -o 'height="[0-9.]*"' "$in" | head -1 | tr -dc '0-9.' | cut -d. -f1)
  height=$((height + 40))
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" --window-size="$width,$height" \
  --screenshot="$out" "file://$in" >/dev/null 2>&1
echo "$out"
