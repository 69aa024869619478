#!/usr/bin/env bash
# Installs Debian packages whose command is missing: `apt-install.sh COMMAND
# PACKAGE`, e.g. `apt-install.sh chromium chromium`. Runs apt-get update
# once, only when something must be installed; uses sudo when not root.
set -euo pipefail

command=$1
package=$2
if command -v "$command" >/dev/null 2>&1; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$package"
