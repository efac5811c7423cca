#!/usr/bin/env bash
# Deploys the infrastructure: the same as `scripts/release.sh infra ARGS...` (see its --help); kept
# for the name the Makefile, taskcat's workflow and muscle memory use.
set -euo pipefail
exec bash "${BASH_SOURCE[0]%/*}/release.sh" infra "$@"
