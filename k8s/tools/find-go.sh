# Sourced by the install scripts beside it: sets $go to the Go toolchain (on PATH, else /usr/local/go/bin/go)
# or exits with what to install. The caller sets $tool (its name) and $instead (what else would do).
go="$(command -v go || true)"
if [[ -z "$go" && -x /usr/local/go/bin/go ]]; then
    go=/usr/local/go/bin/go
fi
if [[ -z "$go" ]]; then
    echo "$tool: Go is not installed; install Go 1.23+ (or $instead)" >&2
    exit 1
fi
