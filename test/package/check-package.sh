#!/usr/bin/env bash
# The package as a consumer meets it: `npm pack` (which builds first, through `prepack`), the
# tarball installed into a fresh project outside this repository, and there
#   (a) the root, `./sse`, `./testing` and `./postgres` imported from ESM and required from CommonJS
#       (`./postgres` without `pg` installed, as a user of the file stores has it),
#   (b) a strict TypeScript consumer checked with moduleResolution node16, bundler and node,
#   (c) `npx agent-stores --help` (the bin, through its shebang),
#   (d) publint and @arethetypeswrong/cli with no problem,
# plus the tarball's shape: code in it, no source maps, the CLI not a second copy of the library.
# Run by `.ci/run` and `npm run check:package`. Prints one `package: …` line per check.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$repo/node_modules/.bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/agent-stores-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "package: FAILED: $*" >&2
  exit 1
}

cd "$repo"
npm pack --silent --pack-destination "$work" >"$work/pack.out"
tarball="$work/$(tail -n 1 "$work/pack.out")"
[ -f "$tarball" ] || fail "npm pack wrote no tarball (it printed: $(cat "$work/pack.out"))"

listing="$(tar -tzf "$tarball")"
for file in package/dist/index.js package/dist/index.cjs package/dist/sse/index.js package/dist/sse/index.cjs \
  package/dist/testing.js package/dist/testing.cjs package/dist/postgres/index.js package/dist/postgres/index.cjs \
  package/dist/index.d.ts package/dist/cli/main.js; do
  grep -qx "$file" <<<"$listing" || fail "$file is not in the tarball"
done
if grep -q '\.map$' <<<"$listing"; then fail "the tarball ships source maps: $(grep '\.map$' <<<"$listing" | tr '\n' ' ')"; fi
echo "package: tarball $(basename "$tarball"), $(wc -c <"$tarball") bytes, $(wc -l <<<"$listing") files, no source maps"

consumer="$work/consumer"
cp -R "$repo/test/package/consumer" "$consumer"
cd "$consumer"
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tarball" >/dev/null
installed="$consumer/node_modules/agent-stores"
[ -d "$installed" ] || fail "the tarball did not install"
if grep -q 'class AgentEventLog\b' "$installed/dist/cli/main.js"; then
  fail "dist/cli/main.js bundles its own copy of the library instead of sharing its chunks"
fi

# (a) ESM and CommonJS.
node esm.mjs
node cjs.cjs

# (b) A strict consumer, three module resolutions. TypeScript and Node's types come from this
# repository (no download); `agent-stores` and its dependencies resolve from the consumer's own
# node_modules.
mkdir -p node_modules/@types
ln -s "$repo/node_modules/@types/node" node_modules/@types/node
# skipLibCheck is off, so the package's declarations are checked too. The three run side by side.
declare -A checks=()
for resolution in node16 bundler node; do
  "$bin/tsc" -p "tsconfig.$resolution.json" >"$work/tsc-$resolution.out" 2>&1 &
  checks[$resolution]=$!
done
for resolution in node16 bundler node; do
  if ! wait "${checks[$resolution]}"; then
    cat "$work/tsc-$resolution.out" >&2
    fail "a consumer with moduleResolution $resolution does not type-check"
  fi
  echo "package: types check with moduleResolution $resolution"
done

# (c) The command-line tool, as npx finds it.
help="$(npx --no-install agent-stores --help)" || fail "npx agent-stores --help exited non-zero"
grep -q '^Usage: agent-stores' <<<"$help" || fail "npx agent-stores --help printed no usage: $help"
echo "package: npx agent-stores --help"

# (d) Lints of the published shape.
"$bin/publint" run "$installed" --pack false --strict || fail "publint found problems"
"$bin/attw" "$tarball" --format table-flipped || fail "@arethetypeswrong/cli found problems"
echo "package: publint and attw report no problem"
echo "package: all checks passed"
