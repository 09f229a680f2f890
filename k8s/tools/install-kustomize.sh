#!/usr/bin/env bash
# Puts the pinned kustomize into .cache/bin (git-ignored), built with `go install` from the Go module
# proxy. tests/deploy/test_deploy.py uses it to render k8s/ (and skips without it unless REQUIRE_DEPLOY_TOOLS=1).
# Idempotent: does nothing when the pinned version is already there. About 1 minute with a cold Go cache.
set -euo pipefail

VERSION="v5.8.1"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="$repo/.cache/bin"

if [[ -x "$bin_dir/kustomize" ]] && [[ "$("$bin_dir/kustomize" version 2>/dev/null)" == "$VERSION" ]]; then
    exit 0
fi
tool=install-kustomize instead="put kustomize $VERSION on PATH"
# shellcheck source=k8s/tools/find-go.sh
source "$repo/k8s/tools/find-go.sh"
mkdir -p "$bin_dir"
GOBIN="$bin_dir" GOFLAGS=-buildvcs=false "$go" install "sigs.k8s.io/kustomize/kustomize/v5@$VERSION"
echo "install-kustomize: $("$bin_dir/kustomize" version) in $bin_dir"
