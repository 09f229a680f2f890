#!/usr/bin/env bash
# Puts compose-go's `compose-spec` checker into .cache/bin (git-ignored), built with `go install` from the Go
# module proxy: the loader `docker compose config` runs (the version below is the one Docker Compose v2.40.3
# is built with), so tests/deploy/test_deploy.py can validate and interpolate docker-compose.yml without a
# Docker engine or the compose plugin. (Building the whole `docker compose` takes about 3 minutes cold;
# this takes about 25 seconds.) Idempotent: does nothing when the pinned version is already there.
set -euo pipefail

VERSION="v2.9.1"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="$repo/.cache/bin"
stamp="$bin_dir/compose-spec.version"

if [[ -x "$bin_dir/compose-spec" ]] && [[ "$(cat "$stamp" 2>/dev/null)" == "$VERSION" ]]; then
    exit 0
fi
tool=install-compose-spec instead="use a real 'docker compose'"
# shellcheck source=k8s/tools/find-go.sh
source "$repo/k8s/tools/find-go.sh"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
GOBIN="$build" GOFLAGS=-buildvcs=false "$go" install "github.com/compose-spec/compose-go/v2/cmd@$VERSION"
mkdir -p "$bin_dir"
mv "$build/cmd" "$bin_dir/compose-spec"
echo "$VERSION" > "$stamp"
echo "install-compose-spec: compose-go $VERSION's checker in $bin_dir/compose-spec"
