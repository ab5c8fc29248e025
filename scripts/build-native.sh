#!/bin/sh
# Builds the LD_PRELOAD library used by wrap mode and the `rebind` helper (native/ -> native/build/).
# Called from `npm run build`. A machine without a C compiler (or not Linux) still builds the rest
# of websockify-ts: we print why and exit 0, and wrap mode then refuses to start naming the fix.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/native/websockify-preload.c"
out_dir="$root/native/build"
out="$out_dir/websockify-preload.so"
cc=${CC:-cc}

if [ "$(uname -s)" != "Linux" ]; then
  echo "build-native: skipped: the preload library (wrap mode, rebind) needs Linux; this is $(uname -s)" >&2
  exit 0
fi
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-native: skipped: no C compiler ('$cc' not found); install one (apt-get install gcc libc6-dev) and run 'npm run build' again (an installed package: 'npm rebuild websockify-ts') to use wrap mode and rebind" >&2
  exit 0
fi
# Rebuild only when the source is newer than the library.
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "${FORCE:-0}" != 1 ]; then
  exit 0
fi
mkdir -p "$out_dir"
tmp="$out.tmp.$$"
if ! "$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -o "$tmp" "$src" -ldl; then
  rm -f "$tmp"
  echo "build-native: FAILED to compile $src with $cc; wrap mode and rebind will not work until it builds" >&2
  # A broken compiler must not hide the rest of the build; wrap mode reports the missing library.
  exit 0
fi
mv -f "$tmp" "$out"
echo "build-native: built native/build/websockify-preload.so" >&2
