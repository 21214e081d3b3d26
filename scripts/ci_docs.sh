#!/usr/bin/env bash
# Build the docs site as CI does: the guides in docs/ and the API reference generated from the
# docstrings, with `mkdocs build --strict` (any warning fails: a broken link or anchor, a page
# missing from the nav, a reference to a name that does not exist). The build needs no
# network: no web fonts, no social cards, no remote inventories (mkdocs.yml).
#
# Usage: scripts/ci_docs.sh [PYTHON]
#   PYTHON  the interpreter to install into and build with (e.g. .venv/bin/python); without
#           it, a virtual environment of its own in .venv-docs, made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ge 1 ]; then
    python=$1
else
    [ -x .venv-docs/bin/python ] || python3 -m venv .venv-docs
    python=.venv-docs/bin/python
fi

"$python" -m pip install -q -r docs/requirements.txt
"$python" -c "import postpress_async" 2>/dev/null || "$python" -m pip install -q -e .

# Where the machine allows it (root, or user namespaces), the build runs with no network at
# all, which proves that it needs none.
offline=()
isolation="with the network"
if unshare -n true 2>/dev/null; then
    offline=(unshare -n)
    isolation="without any network (unshare -n)"
fi

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
started=$(date +%s)
NO_MKDOCS_2_WARNING=1 "${offline[@]}" "$python" -m mkdocs build --strict --site-dir "$site"
pages=$(find "$site" -name index.html | wc -l)
echo "docs: mkdocs build --strict passed $isolation, $pages pages, in $(($(date +%s) - started)) s"
