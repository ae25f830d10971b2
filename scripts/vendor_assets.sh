#!/usr/bin/env bash
# Vendor the web UI's third-party browser assets into the package, so the server never loads
# anything from a CDN at run time.
#
# htmx comes from the npm registry through npm's own client (`npm pack`), pinned to one version
# and checked against the registry's recorded sha512 integrity before anything is copied. The
# minified file and its licence land in src/abmkit/web/static/vendor/, with a README naming the
# version and the sha256 of each file (commit them). Vega, Vega-Lite and vega-embed are not
# vendored here: the server takes them from the vl-convert-python wheel it already depends on.
#
# Usage: scripts/vendor_assets.sh   (run again after changing HTMX_VERSION and HTMX_INTEGRITY)
set -euo pipefail

HTMX_VERSION="2.0.11"
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST="src/abmkit/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

command -v npm >/dev/null || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }

echo "fetching htmx.org@$HTMX_VERSION with npm pack"
(cd "$WORK" && npm pack "htmx.org@$HTMX_VERSION" --silent >/dev/null 2>"$WORK/npm.log") || {
    cat "$WORK/npm.log" >&2; exit 1; }
TARBALL="$WORK/htmx.org-$HTMX_VERSION.tgz"
[ -f "$TARBALL" ] || { echo "npm pack wrote no $TARBALL" >&2; exit 1; }

GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$GOT" != "$HTMX_INTEGRITY" ]; then
    echo "htmx.org-$HTMX_VERSION.tgz: integrity $GOT, expected $HTMX_INTEGRITY" >&2
    exit 1
fi

tar -xzf "$TARBALL" -C "$WORK"
MIN="$WORK/package/dist/htmx.min.js"
grep -q "version:\"$HTMX_VERSION\"" "$MIN" || {
    echo "$MIN does not say it is version $HTMX_VERSION" >&2; exit 1; }

mkdir -p "$DEST"
cp "$MIN" "$DEST/htmx.min.js"
cp "$WORK/package/LICENSE" "$DEST/htmx.LICENSE.txt"

sum() { sha256sum "$1" | cut -d' ' -f1; }
cat >"$DEST/README.md" <<EOF
# Vendored browser assets

Written by \`scripts/vendor_assets.sh\`; do not edit these files by hand. The web UI serves them
from \`/static/vendor/\`; nothing is loaded from a CDN.

| file | package | version | licence | sha256 |
|---|---|---|---|---|
| htmx.min.js | htmx.org (npm) | $HTMX_VERSION | 0BSD (htmx.LICENSE.txt) | $(sum "$DEST/htmx.min.js") |
| htmx.LICENSE.txt | htmx.org (npm) | $HTMX_VERSION | | $(sum "$DEST/htmx.LICENSE.txt") |

The npm tarball was checked against its registry integrity \`$HTMX_INTEGRITY\`.
Vega, Vega-Lite and vega-embed come from the \`vl-convert-python\` wheel at run time
(\`abmkit.measure.html.javascript_bundle()\`), served as \`/static/vendor/vega.js\`.
EOF
echo "wrote $DEST/htmx.min.js, $DEST/htmx.LICENSE.txt and $DEST/README.md"
