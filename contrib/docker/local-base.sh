#!/bin/sh
# Makes a stand-in for node:20-bookworm-slim on a machine that can reach a Debian mirror but no
# container registry: a Debian bookworm root filesystem from debootstrap, this machine's Node.js
# and npm copied into /usr/local (where the official image keeps them), this machine's CA bundle
# (so npm and apt behind a TLS-inspecting proxy work), and a `node` user with uid 1000, imported
# with `podman import`. Prints the image name on stdout; pass it to the Dockerfile:
#
#   base=$(sh contrib/docker/local-base.sh)
#   podman build --network host --format docker --build-arg BASE_IMAGE="$base" \
#     -f contrib/docker/Dockerfile -t websockify-ts .
#
# The image is tagged with a hash of its recipe (this script, the mirror, the Node.js version, the
# CA bundle): when an image with that tag exists, nothing is built. Needs root, debootstrap, podman.
# MIRROR (default: the first deb.debian.org-style URI in /etc/apt/sources.list*) and SUITE
# (default bookworm) may be set in the environment.
set -eu

podman_cmd=${PODMAN:-podman}
suite=${SUITE:-bookworm}
ca_bundle=/etc/ssl/certs/ca-certificates.crt

if [ -z "${MIRROR:-}" ]; then
  # The mirror apt itself uses: deb822 "URIs:" lines or one-line "deb URI suite ..." entries,
  # skipping the security archive (it has no full suite to bootstrap from).
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\2/p' |
    tr ' ' '\n' | grep -E '/debian/?$' | grep -v security | head -n 1) || true
fi
[ -n "${MIRROR:-}" ] || MIRROR=http://deb.debian.org/debian

node_bin=$(command -v node) || { echo "local-base: node is not installed" >&2; exit 1; }
node_bin=$(readlink -f "$node_bin")
node_version=$(node -p process.version)
npm_dir=$(npm root -g)/npm
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "local-base: npm not found at $npm_dir" >&2; exit 1; }
npm_version=$(node -p "require('$npm_dir/package.json').version")
ca_hash=none
[ -f "$ca_bundle" ] && ca_hash=$(sha256sum "$ca_bundle" | cut -c1-64)

recipe=$( { cat "$0"; echo "$MIRROR $suite $node_version $npm_version $ca_hash $(uname -m)"; } | sha256sum | cut -c1-12)
image="localhost/websockify-ts-base:${suite}-node${node_version#v}-${recipe}"

if "$podman_cmd" image exists "$image"; then
  echo "$image"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 || { echo "local-base: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/websockify-base.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root="$work/rootfs"

echo "local-base: debootstrap $suite from $MIRROR (minbase)" >&2
debootstrap --variant=minbase "$suite" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  echo "local-base: debootstrap failed (full log above)" >&2
  exit 1
}

# What the official image trims: package caches, lists (apt-get update fetches them again),
# documentation, and locales.
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/debootstrap
printf 'deb %s %s main\n' "$MIRROR" "$suite" >"$root/etc/apt/sources.list"

# Node.js and npm where node:20 keeps them: /usr/local/bin and /usr/local/lib/node_modules.
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

ca_env='ENV WEBSOCKIFY_BASE=local'
if [ -f "$ca_bundle" ]; then
  mkdir -p "$root/etc/ssl/certs"
  cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
  ca_env='ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'
fi

# The official image's unprivileged user.
echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$root/etc/passwd"
echo 'node:x:1000:' >>"$root/etc/group"
mkdir -p "$root/home/node"
chown 1000:1000 "$root/home/node"

echo "local-base: importing $image" >&2
tar -C "$root" -c . | "$podman_cmd" import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change "$ca_env" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
# Earlier recipes' bases are not used again (best effort: one still used by a container stays).
"$podman_cmd" images --format '{{.Repository}}:{{.Tag}}' "${image%%:*}" | grep -vxF "$image" |
  while read -r old; do "$podman_cmd" rmi "$old" >/dev/null 2>&1 || true; done
echo "$image"
