#!/usr/bin/env bash
# Builds the Pulumi engine from the Go module proxy, once per machine, and puts it where
# the project finds it (.venv/bin/pulumi). Run by scripts/setup.sh; safe to run again:
# a build happens only when a pin below changes (the cache key is the pins).
#
#   <cache>/pulumi-engine/cli-<v>/pulumi   the CLI: github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
#   .venv/lib/pulumi-engine/        what the engine runs, beside the CLI (Pulumi looks for
#     pulumi                        its bundled plugins there): the CLI (a hard link),
#     pulumi-language-python        the language host (infra/deploy/langhost.py),
#     pulumi-language-python-exec   } files of the sdk/v3 Go module at the Python SDK's
#     pulumi-resource-pulumi-python } version: program runner, dynamic provider host
#   .venv/bin/pulumi                that CLI with this venv first on PATH, no update
#                                   check, no plugin downloads
#
# Pins, and why the CLI differs from the Python SDK (pulumi==3.272.0 in requirements.lock):
# the proxy refuses pkg/v3@v3.272.0 (403); v3.274.1 is the nearest it serves, and a CLI
# newer than the SDK is the direction Pulumi supports. The pulumi Go modules carry
# `replace` directives that `go install` refuses, so the CLI is built from a small
# generated wrapper module (nothing is committed). Pulumi's Go language host module
# (sdk/python/cmd/pulumi-language-python/v3) is refused at every version; why the project
# runs its own host is in infra/deploy/langhost.py and docs/pulumi.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PULUMI_CLI=v3.274.1
PULUMI_SDK="v$(sed -n 's/^pulumi==\([0-9.]*\).*/\1/p' requirements.lock)"
# pkg/v3's own go.mod replaces this module; the wrapper must do the same to build.
CLIPBOARD_REPLACE=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e

CACHE_ROOT="${SUPERCLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/supercluster}"
ENGINE="$CACHE_ROOT/pulumi-engine/cli-$PULUMI_CLI"
VENV_BIN="$PWD/.venv/bin"

export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

wrapper_module() { # dir module-path require...
  local dir=$1 path=$2
  shift 2
  mkdir -p "$dir"
  printf 'module %s\n\ngo 1.26\n' "$path" >"$dir/go.mod"
  for req in "$@"; do (cd "$dir" && go mod edit -require="$req"); done
}

build_engine() {
  local started
  tmp=$(mktemp -d "$CACHE_ROOT/pulumi-engine/.build.XXXXXX")
  started=$(date +%s)
  echo "setup: building the Pulumi engine $PULUMI_CLI from the Go module proxy" \
    "(once per machine; ~4 min on 2 cores) into $ENGINE"

  echo "setup:   pulumi CLI (pkg/v3 $PULUMI_CLI): downloading modules, then compiling"
  # go build is silent for minutes: say every 30 s that it is still going.
  (while sleep 30; do echo "setup:   ... still building ($(($(date +%s) - started)) s)"; done) &
  ticker=$!
  # On any exit: stop the ticker, drop the wrapper module and any half-built engine.
  trap 'kill "$ticker" 2>/dev/null; rm -rf "$tmp"' EXIT
  wrapper_module "$tmp/cli" supercluster.local/pulumi-cli \
    "github.com/pulumi/pulumi/pkg/v3@$PULUMI_CLI" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_CLI"
  # ~300 "go: downloading" lines say nothing the ticker does not: keep the errors only.
  (cd "$tmp/cli" && go mod edit -replace="github.com/atotto/clipboard=$CLIPBOARD_REPLACE" &&
    go build -trimpath -o "$tmp/bin/pulumi" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_CLI" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi 2>&1 | { grep -v '^go: downloading ' || true; } >&2)
  kill "$ticker" 2>/dev/null || true

  local seconds=$(($(date +%s) - started)) bytes
  bytes=$(stat -c %s "$tmp/bin/pulumi")
  # What bench/pulumi_engine.py reports as the one-time cost of the engine.
  printf '{"version": "%s", "build_s": %d, "cli_bytes": %d, "nproc": %d}\n' \
    "$PULUMI_CLI" "$seconds" "$bytes" "$(nproc)" >"$tmp/bin/build.json"
  rm -rf "$ENGINE"
  mv "$tmp/bin" "$ENGINE" # whole or nothing: a killed build leaves no half engine
  echo "setup: Pulumi engine built in $seconds s ($((bytes / 1048576)) MiB)"
}

install_engine() {
  # Beside the CLI, so that the engine finds them as its bundled plugins (Pulumi warns
  # about language hosts found on PATH). Made in a temp dir, then swapped in whole.
  local sdk dest="$PWD/.venv/lib/pulumi-engine" tmp="$PWD/.venv/lib/.pulumi-engine.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  ln "$ENGINE/pulumi" "$tmp/pulumi" 2>/dev/null || cp "$ENGINE/pulumi" "$tmp/pulumi"
  sdk=$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$PULUMI_SDK" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$tmp/"
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$tmp/"
  printf '#!%s\nimport sys\n\nfrom infra.deploy.langhost import main\n\nsys.exit(main())\n' \
    "$VENV_BIN/python" >"$tmp/pulumi-language-python"
  chmod 0755 "$tmp/pulumi-language-python"
  rm -rf "$dest" && mv "$tmp" "$dest"

  # .venv/bin/pulumi: that CLI with this venv first on PATH (its python3 runs the dynamic
  # providers), no update check, no plugin downloads, state saved once per operation.
  cat >"$VENV_BIN/.pulumi.tmp" <<EOF
#!/bin/sh
# Generated by scripts/build_pulumi.sh: the Pulumi CLI built from the Go module proxy.
PATH="$VENV_BIN:\$PATH"
PULUMI_SKIP_UPDATE_CHECK=true
PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# State written once per operation, not per step (docs/pulumi.md); export false to undo.
PULUMI_SKIP_CHECKPOINTS="\${PULUMI_SKIP_CHECKPOINTS:-true}"
export PATH PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION
export PULUMI_SKIP_CHECKPOINTS
exec "$dest/pulumi" "\$@"
EOF
  chmod 0755 "$VENV_BIN/.pulumi.tmp"
  mv "$VENV_BIN/.pulumi.tmp" "$VENV_BIN/pulumi"
}

command -v go >/dev/null || {
  echo "setup: error: Go 1.26+ must be on PATH: it builds the Pulumi engine and fetches" \
    "the SDK's runner from the Go module proxy" >&2
  exit 3
}
mkdir -p "$CACHE_ROOT/pulumi-engine"
[ -x "$ENGINE/pulumi" ] || build_engine
install_engine
