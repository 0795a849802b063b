# shellcheck shell=bash
# What every script needs before it runs berth's Python, written once; sourced by scripts/*.
#
#   berth_venv GROUP...    .venv with the named parts: `runtime` is requirements.txt (the program
#                          `pulumi up` runs), others are dependency groups of pyproject.toml (test, lint);
#                          installed again when either file changes. Prints nothing when all is in place.
#   berth_pulumi           a Pulumi CLI on PATH: the machine's own, or else the version the program's SDK
#                          pins (requirements.txt), installed into .berth-tools/ ($BERTH_TOOLS) after its
#                          checksum is verified against the checksums file Pulumi publishes with it.
#   berth_policy_venv      policy/venv, the policy pack's virtualenv (policy/PulumiPolicy.yaml)
#
# BERTH_ROOT is the repository (set here from this file's place, whatever the caller's directory).

BERTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Pulumi publishes each CLI release here with a sha256 checksums file beside it (the addresses its own
# install script and pulumi/docs data/versions.json give); tests point it at a server on loopback.
BERTH_PULUMI_RELEASES="${BERTH_PULUMI_RELEASES:-https://get.pulumi.com/releases/sdk}"

berth_venv() {
  local venv="$BERTH_ROOT/.venv" group stamp wanted
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  wanted=$(cat "$BERTH_ROOT/requirements.txt" "$BERTH_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
  for group in "$@"; do
    stamp="$venv/.installed-$group"
    [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && continue
    if [ "$group" = runtime ]; then
      "$venv/bin/python" -m pip install --quiet --upgrade pip
      "$venv/bin/python" -m pip install --quiet -r "$BERTH_ROOT/requirements.txt"
    else
      (cd "$BERTH_ROOT" && "$venv/bin/python" -m pip install --quiet --group "$group")
    fi
    echo "$wanted" > "$stamp"
  done
}

berth_pulumi_version() {
  sed -n 's/^pulumi==\([0-9.]*\).*/\1/p' "$BERTH_ROOT/requirements.txt"
}

berth_pulumi() {
  command -v pulumi >/dev/null 2>&1 && return 0
  local version arch tools asset work
  version=$(berth_pulumi_version)
  case "$(uname -m)" in
    x86_64|amd64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "berth: no Pulumi CLI release for $(uname -m); install it yourself (https://www.pulumi.com/docs/install/)" >&2
       return 1 ;;
  esac
  tools="${BERTH_TOOLS:-$BERTH_ROOT/.berth-tools}/pulumi-v$version"
  if [ ! -x "$tools/pulumi" ]; then
    asset="pulumi-v$version-linux-$arch.tar.gz"
    work=$(mktemp -d)
    echo "berth: the Pulumi CLI is not installed; installing v$version (the version of its SDK in requirements.txt) into .berth-tools/" >&2
    if ! curl -fsSL --proto-redir =https -o "$work/$asset" "$BERTH_PULUMI_RELEASES/$asset" ||
       ! curl -fsSL --proto-redir =https -o "$work/checksums.txt" "$BERTH_PULUMI_RELEASES/pulumi-$version-checksums.txt"; then
      rm -rf "$work"
      echo "berth: could not download the Pulumi CLI from $BERTH_PULUMI_RELEASES; install it (https://www.pulumi.com/docs/install/)" >&2
      return 1
    fi
    if ! (cd "$work" && grep -E "^[0-9a-f]{64}  $asset\$" checksums.txt | sha256sum --check --status); then
      rm -rf "$work"
      echo "berth: $asset does not match the checksum Pulumi published for it; nothing was installed" >&2
      return 1
    fi
    mkdir -p "$tools"
    tar -xzf "$work/$asset" -C "$tools" --strip-components=1
    rm -rf "$work"
  fi
  export PATH="$tools:$PATH"
}

berth_policy_venv() {
  # the policy pack's own virtualenv (policy/PulumiPolicy.yaml names it), as the workflows make it
  local venv="$BERTH_ROOT/policy/venv" wanted
  wanted=$(sha256sum "$BERTH_ROOT/policy/requirements.txt" | cut -d' ' -f1)
  [ "$(cat "$venv/.installed" 2>/dev/null)" = "$wanted" ] && return 0
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet -r "$BERTH_ROOT/policy/requirements.txt"
  echo "$wanted" > "$venv/.installed"
}
