# Sourced by scripts/test and scripts/demo: make sure uv exists, then sync the locked env.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv with pip" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
export UV_PYTHON="${UV_PYTHON:-3.11}"
