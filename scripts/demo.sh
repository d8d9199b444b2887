#!/usr/bin/env bash
# The README's main job: set up, build, and run the demos: a disk image
# backed up, changed, backed up, restored, verified (scripts/demo-image.sh);
# then VMs of the simulated pool (scripts/demo-vm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/demo-image.sh
exec scripts/demo-vm.sh
