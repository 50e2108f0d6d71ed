#!/usr/bin/env bash
# Download Debian arm64 packages (a kernel and busybox-static) on any host, through a private apt state:
# its own sources list, lists, status and cache directories, APT::Architecture "arm64". The host's apt is
# not touched. The mirror is taken at run time from the machine's own apt sources (the first Debian archive
# URI found in /etc/apt/sources.list and /etc/apt/sources.list.d/*); no host name is written here.
#
#   scripts/fetch-arm64-debs.sh DIR [PACKAGE...]
#
# Without packages it fetches the newest linux-image-*-arm64 it can find (preferring 7.3, then any 7.x,
# then 6.1), its 7.x split parts (binary, modules), and busybox-static. Prints one line per fetched .deb
# on stdout ("kernel PATH", "modules PATH", "busybox PATH"); progress on stderr. Exit 0 ok, 1 failure.
set -euo pipefail
out=${1:?usage: fetch-arm64-debs.sh DIR [PACKAGE...]}
shift || true
mkdir -p "$out"
out=$(cd "$out" && pwd)
state="$out/.apt-arm64"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/preferences.d" "$state/etc/apt.conf.d"
: > "$state/status"

log() { printf 'fetch-arm64-debs: %s\n' "$*" >&2; }

# --- the mirror: the URI of the machine's Debian archive entry (not -security, not third-party repos)
mirror=""
keyring=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # deb822: take the URIs line of a stanza whose Suites list a plain release name
  uri=$(awk 'BEGIN{RS=""; FS="\n"} {u="";s="";k="";for(i=1;i<=NF;i++){if($i~/^URIs:/){sub(/^URIs:[ \t]*/,"",$i);u=$i} if($i~/^Suites:/){s=$i} if($i~/^Signed-By:/){sub(/^Signed-By:[ \t]*/,"",$i);k=$i}} if(u!="" && s!~/security/ && s~/(bookworm|trixie|forky|bullseye|sid|stable|testing)/){split(u,a," ");print a[1]"|"k;exit}}' "$f")
  if [ -n "$uri" ]; then mirror=${uri%%|*}; keyring=${uri#*|}; break; fi
done
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1=="deb" {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) { if ($(i+1) !~ /security/) { print $i; exit } } }' "$f")
    if [ -n "$uri" ]; then mirror=$uri; break; fi
  done
fi
if [ -z "$mirror" ]; then
  log "no Debian archive URI in /etc/apt/sources.list or /etc/apt/sources.list.d/*; cannot derive a mirror"
  exit 1
fi
[ -n "$keyring" ] && [ -f "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
log "mirror from the machine's apt sources: $mirror"

suites=${FETCH_SUITES:-"trixie-backports trixie bookworm-backports bookworm"}
{
  for s in $suites; do
    echo "deb [arch=arm64 signed-by=$keyring] $mirror $s main"
  done
} > "$state/etc/sources.list"

apt_opts=(
  -o "APT::Architecture=arm64" -o "APT::Architectures=arm64"
  -o "Dir::State=$state" -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status"
  -o "Dir::Cache=$state/cache" -o "Dir::Etc::SourceList=$state/etc/sources.list"
  -o "Dir::Etc::SourceParts=$state/etc/sources.list.d" -o "Dir::Etc::Preferences=$state/etc/preferences"
  -o "Dir::Etc::PreferencesParts=$state/etc/preferences.d" -o "Dir::Etc::Parts=$state/etc/apt.conf.d"
  -o "Acquire::Languages=none" -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
  -o "Debug::NoLocking=1"
)
log "apt-get update (private arm64 state in $state; suites: $suites)"
apt-get "${apt_opts[@]}" update -q >&2 || { log "apt-get update failed"; exit 1; }

want=("$@")
if [ ${#want[@]} -eq 0 ]; then
  names=$(apt-cache "${apt_opts[@]}" pkgnames linux-image- | grep -E '^linux-image-[0-9][0-9.]*(\+[a-z0-9]+)?(-[0-9]+)?-arm64$' | sort -V || true)
  pick=$(printf '%s\n' $names | grep -E '^linux-image-7\.3' | tail -1 || true)
  [ -n "$pick" ] || pick=$(printf '%s\n' $names | grep -E '^linux-image-7\.' | tail -1 || true)
  [ -n "$pick" ] || pick=$(printf '%s\n' $names | grep -E '^linux-image-6\.1' | tail -1 || true)
  [ -n "$pick" ] || { log "no linux-image-*-arm64 package on the mirror"; exit 1; }
  log "kernel package: $pick"
  want=("$pick" busybox-static)
fi

cd "$out"
fetch() { apt-get "${apt_opts[@]}" download -q "$1" >&2; }
for p in "${want[@]}"; do
  log "download $p"
  fetch "$p" || { log "apt-get download $p failed"; exit 1; }
  if [[ $p == linux-image-* ]]; then
    # 7.x split packaging: the image package is a metapackage; fetch its linux-binary/linux-modules parts.
    deps=$(apt-cache "${apt_opts[@]}" depends "$p" 2>/dev/null | awk '/Depends:/ {print $2}' | grep -E '^linux-(binary|modules|base)-' || true)
    for d in $deps; do log "download $d (part of $p)"; fetch "$d" || { log "apt-get download $d failed"; exit 1; }; done
  fi
done
for f in "$out"/*.deb; do
  b=$(basename "$f")
  case "$b" in
    busybox-static_*) echo "busybox $f" ;;
    linux-modules-*) echo "modules $f" ;;
    linux-binary-*) echo "kernel $f" ;;
    linux-image-*) echo "image $f" ;;
    linux-base-*) echo "base $f" ;;
  esac
done
