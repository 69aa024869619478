#!/usr/bin/env bash
# The chat page in real headless Chromium: installs Chromium if it is
# missing (Debian's package), then runs chat-server's browser tests with
# CHAT_BROWSER_TEST=required, so that a missing browser fails instead of
# skipping: the page over http/ws, and over https/wss with a test
# certificate (chat-server --tls-cert/--tls-key). They leave screenshots in
# /tmp/chat-page.png and /tmp/chat-page-tls.png.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/apt-install.sh chromium chromium

CHAT_BROWSER_TEST=required CHROMIUM=/usr/bin/chromium \
    cargo test -p chat-server --test browser -- --nocapture
