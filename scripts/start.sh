#!/usr/bin/env bash
# `npm start`: will start the broker and serve the chat demo. Neither exists yet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
echo "start: nothing to start yet: the server arrives with the server crate (server/)," \
    "and the chat demo with web-demo/" >&2
exit 1
