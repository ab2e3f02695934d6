#!/usr/bin/env bash
# The everyday CLI (`sdpp generate`, `sdpp version` and the dispatcher, with the helpers they use)
# is a client of the public API: it may include the public <sdpp/...> headers, system and
# third-party headers, and its own "cli/..." headers, never an internal "core/...", "pipeline/...",
# ... header. The same holds for the HTTP server (apps/server, with its "server/..." headers).
# The developer tools (bench, inspect, convert, make-random-model, tokenize, pull) are not
# checked: they link the internal modules on purpose (docs/architecture.md, "The library").
# Usage: check_cli_public_api.sh <source root>. Fails naming each file and line that breaks it.
set -euo pipefail
root=${1:?usage: check_cli_public_api.sh <source root>}
files=(apps/cli/main.cpp apps/cli/command.h apps/cli/cmd_generate.cpp apps/cli/cmd_version.cpp
       apps/cli/output_files.h apps/cli/output_files.cpp apps/cli/memory_report.h
       apps/cli/memory_report.cpp apps/cli/weight_cache_option.h apps/cli/preview_options.h
       apps/cli/preview_options.cpp apps/cli/cmd_serve.cpp)
# The HTTP server (apps/server) is a client of the public API too: every file in it.
for f in "$root"/apps/server/*.h "$root"/apps/server/*.cpp; do
  [[ -f "$f" ]] && files+=("${f#"$root"/}")
done
bad=0
for f in "${files[@]}"; do
  if [[ ! -f "$root/$f" ]]; then
    echo "$f: missing (update the list in $0)"; bad=1; continue
  fi
  # Quoted includes other than the CLI's own "cli/...", and <...> includes that reach into src/.
  while IFS= read -r hit; do
    echo "$f:$hit: internal header in a CLI file that must use only the public API"; bad=1
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$root/$f" \
           | grep -E '"|<(core|backend|io|text|sample|model|pipeline|hub|tools)/' | grep -vE '"(cli|server)/[^"]*"' || true)
done
if [[ $bad != 0 ]]; then exit 1; fi
echo "${#files[@]} CLI and server files include only public <sdpp/...>, system and cli/ or server/ headers"
