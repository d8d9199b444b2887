#!/usr/bin/env bash
# The README's main job: set up, build, and run the demo (scripts/demo-image.sh
# at this stage: a disk image backed up, changed, backed up, restored, verified).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec scripts/demo-image.sh
