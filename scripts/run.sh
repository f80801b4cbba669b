#!/usr/bin/env bash
# One command to set up and start the bot. With no messenger token it opens the terminal
# chat on the demo data; with TELEGRAM_BOT_TOKEN / ZALO_BOT_TOKEN it serves those messengers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/bdg "${@:-run}"
