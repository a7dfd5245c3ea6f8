# shellcheck shell=bash
# Source me:  . scripts/env.sh
# Puts the tools that scripts/setup installs (.tools/bin: anvil, cast, forge,
# solc wrapper) first on PATH and exports FLASHLAYER_SOLC.
_fl_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
case ":$PATH:" in
  *":$_fl_root/.tools/bin:"*) ;;
  *) export PATH="$_fl_root/.tools/bin:$PATH" ;;
esac
export FLASHLAYER_SOLC="$_fl_root/.tools/bin/solc"
if [ ! -x "$FLASHLAYER_SOLC" ]; then
  echo "scripts/env.sh: $FLASHLAYER_SOLC missing; run scripts/setup first" >&2
fi
unset _fl_root
