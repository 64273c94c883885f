#!/usr/bin/env bash
# Renders a text file (a log) to PNG as a terminal would show it, for the docs' pictures.
#   scripts/logshot.sh execution_log.txt execution_log.png [LINES]
# Needs Debian's chromium (apt-get install chromium) and scripts/render.sh beside this script.
set -euo pipefail
in=$1
out=$2
lines=${3:-40}
here=$(dirname "$(readlink -f "$0")")
page=$(mktemp --suffix=.html)
trap 'rm -f "$page"' EXIT
{
  printf '<!DOCTYPE html><meta charset="utf-8"><body style="margin:0;background:#1e1e1e">'
  printf '<div style="font:13px/1.45 monospace;color:#ddd;padding:14px 18px;white-space:pre">'
  printf '<div style="color:#8ab4f8;margin-bottom:6px">%s</div>' "$(basename "$in")"
  head -n "$lines" "$in" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'
  printf '</div></body>'
} > "$page"
width=$(head -n "$lines" "$in" | awk '{ if (length($0) > m) m = length($0) } END { print m }')
width=$(( width * 8 + 60 ))
height=$(( ( $(head -n "$lines" "$in" | wc -l) + 2 ) * 19 + 30 ))
"$here/render.sh" "$page" "$out" "$width" "$height"
