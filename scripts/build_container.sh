#!/usr/bin/env bash
# Build deploy/Containerfile with Debian's podman (buildah inside) and smoke-run the image.
#
# NOT part of CI (.ci/run does not call it): it needs root, apt-get and debootstrap, network
# access to the Debian mirror and PyPI, and 5-10 minutes. Run it by hand, from anywhere:
#
#   sudo scripts/build_container.sh            # stand-in base (once), build, smoke tests
#   sudo scripts/build_container.sh --clean    # ... then remove the images it made (~1.4 GB)
#
# No container registry is needed: the base image (python:3.11-slim) is replaced by a local
# stand-in, localhost/python:3.11-slim, made with debootstrap from Debian bookworm (Python 3.11)
# unless it is already in the local store. With registry access, build as docs/DEPLOY.md says.
#
# Environment: BASE_IMAGE (default: the stand-in), MIRROR (default: apt's Debian mirror),
# DASH_PORT (default: 8501, or a free port if taken), PG_ADMIN_URL (libpq URL of a PostgreSQL
# server to create a scratch database on; default postgresql://postgres@127.0.0.1:5432/postgres,
# skipped if unreachable), UI_PYTHON (a python with playwright, plus /usr/bin/chromium: signs in
# to the dashboard; skipped if absent).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
STANDIN=localhost/python:3.11-slim
BASE_IMAGE=${BASE_IMAGE:-$STANDIN}
IMAGE=localhost/repmon:latest
CLEAN=0
[[ ${1:-} == --clean ]] && CLEAN=1

exec 3>&1   # the "+ command" lines go to the terminal even when a command's output is filtered
say() { printf '\n==> %s\n' "$*" >&3; }
run() { printf '+ %s\n' "$*" >&3; "$@"; }

[[ $(id -u) == 0 ]] || { echo "run as root (apt-get, debootstrap, rootful podman)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/repmon-container.XXXXXX)
TAG=$$
CONTAINERS=() VOLUME="" PGDB=""
cleanup() {
    set +e
    for c in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    [[ -n $VOLUME ]] && podman volume rm -f "$VOLUME" >/dev/null 2>&1
    [[ -n $PGDB ]] && dropdb --if-exists --maintenance-db="$PG_ADMIN_URL" "$PGDB"
    rm -rf "$WORK"
}
trap cleanup EXIT

say "1. tools from Debian: podman (with buildah's builder), runc, debootstrap"
need=()
for p in podman buildah runc debootstrap ca-certificates curl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
    run apt-get update -q
    DEBIAN_FRONTEND=noninteractive run apt-get install -y -q --no-install-recommends "${need[@]}"
else
    echo "already installed"
fi

# Two settings that a normal host does not need but the sandboxes this was written on did; they
# are harmless elsewhere and apply only to this script's podman calls (CONTAINERS_CONF):
# - crun 1.8 (bookworm) refuses hybrid cgroup v1/v2 hosts ("cgroups in hybrid mode not
#   supported"): use runc;
# - without CAP_SYS_RESOURCE podman's default limits (nofile 1048576) cannot be set: use the
#   hard limits this shell has (podman itself caps nproc at 32768 before starting the runtime).
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[[ $nofile == unlimited ]] && nofile=1048576
[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
echo "CONTAINERS_CONF=$CONTAINERS_CONF:"; sed 's/^/    /' "$CONTAINERS_CONF"

if [[ $BASE_IMAGE == "$STANDIN" ]] && ! podman image exists "$STANDIN"; then
    say "2. stand-in for python:3.11-slim: Debian bookworm + python3 (3.11), pip, venv -> $STANDIN"
    if [[ -z ${MIRROR:-} ]]; then
        MIRROR=$(grep -rhoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
                 | awk '{print $2}' | head -1 || true)
        MIRROR=${MIRROR:-http://deb.debian.org/debian}
    fi
    MIRROR=${MIRROR%/}
    ROOT=$WORK/rootfs
    run debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    # Like the official image: updates and security too, ca-certificates, `python` and `pip`,
    # and pip allowed to install into the system Python (no EXTERNALLY-MANAGED marker).
    cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR}-security bookworm-security main
EOF
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    run chroot "$ROOT" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends python3 python3-pip python3-venv ca-certificates && apt-get clean' \
        >"$WORK/python.log" 2>&1 || { tail -20 "$WORK/python.log"; exit 1; }
    rm -f "$ROOT/usr/lib/python3.11/EXTERNALLY-MANAGED"
    ln -sf python3 "$ROOT/usr/bin/python"; ln -sf pip3 "$ROOT/usr/bin/pip"
    : >"$ROOT/etc/resolv.conf"
    rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*
    # buildah 1.28 has no `import`; podman's does the same.
    tar --numeric-owner -C "$ROOT" -c . | run podman import --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' - "$STANDIN"
    rm -rf "$ROOT"
else
    say "2. base image $BASE_IMAGE: $(podman image exists "$BASE_IMAGE" && echo 'in the local store' || echo 'pulled by the build')"
fi
run podman run --rm "$BASE_IMAGE" python -c 'import sys; print("base:", sys.version.split()[0])'

say "3. build $IMAGE from deploy/Containerfile"
# --network host: the RUN steps reach the Debian mirror and PyPI as this host does. The host's
# CA bundle is mounted (read-only, RUN steps only; nothing of it stays in the image) so pip also
# works behind a TLS-intercepting proxy whose CA only the host trusts.
cd "$REPO"
run podman build --network host \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -f deploy/Containerfile -t "$IMAGE" .
podman image ls "$IMAGE"

say "4. smoke tests"
run podman run --rm "$IMAGE" repmon --version
run podman run --rm "$IMAGE" id
podman run --rm "$IMAGE" repmon --help | sed -n 1,3p

# A config for the smoke runs: the example with a dashboard user (required on 0.0.0.0).
sed -n '1,/^\[dashboard\]/p' deploy/repmon.example.toml >"$WORK/repmon.toml"
echo 'address = "0.0.0.0"' >>"$WORK/repmon.toml"
echo smoke-password | podman run --rm -i -e REPMON_CONFIG= "$IMAGE" \
    repmon user add admin --role admin --password-stdin >>"$WORK/repmon.toml"
chmod 0644 "$WORK/repmon.toml"
CONF=(-v "$WORK/repmon.toml:/etc/repmon/repmon.toml:ro")

stop_and_check() {  # podman stop sends SIGTERM; the process must exit 0 on its own
    local c
    for c in "$@"; do
        local t0=$SECONDS
        podman stop -t 120 "$c" >/dev/null
        local code; code=$(podman inspect "$c" --format '{{.State.ExitCode}}')
        echo "$c: stopped by SIGTERM in $((SECONDS - t0)) s, exit code $code"
        podman logs "$c" 2>&1 | grep -E 'stopping|stopped|Stopping' | tail -n 2 | sed 's/^/    /'
        [[ $code == 0 ]] || { podman logs "$c" 2>&1 | tail -20; exit 1; }
    done
}

say "4a. SQLite in a named volume: demo, report (PDF), worker, dashboard on a published port"
VOLUME=repmon-smoke-$TAG
run podman volume create "$VOLUME" >/dev/null
SQLITE=(-v "$VOLUME:/var/lib/repmon" -e REPMON_DATABASE_URL=sqlite:////var/lib/repmon/repmon.db)
run podman run --rm "${SQLITE[@]}" "${CONF[@]}" "$IMAGE" repmon demo 2>&1 | tail -n 1
run podman run --rm "${SQLITE[@]}" "${CONF[@]}" "$IMAGE" repmon cases | sed -n 1,3p
run podman run --rm "${SQLITE[@]}" "${CONF[@]}" "$IMAGE" sh -c \
    'repmon report --output /var/lib/repmon/week.pdf 2>/dev/null && head -c 8 week.pdf && echo'
CONTAINERS+=(repmon-smoke-worker-$TAG)
run podman run -d --name "repmon-smoke-worker-$TAG" "${SQLITE[@]}" "${CONF[@]}" "$IMAGE" >/dev/null
sleep 10
podman logs "repmon-smoke-worker-$TAG" 2>&1 | grep -E 'scheduler started|job=' | sed -n 1,3p | cut -c1-160
stop_and_check "repmon-smoke-worker-$TAG"

port=${DASH_PORT:-8501}
port=$(python3 - "$port" <<'EOF'
import socket, sys
p = int(sys.argv[1])
with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close(); s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
print(p)
EOF
)
CONTAINERS+=(repmon-smoke-dash-$TAG)
run podman run -d --name "repmon-smoke-dash-$TAG" -p "127.0.0.1:$port:8501" "${SQLITE[@]}" "${CONF[@]}" \
    "$IMAGE" repmon dashboard >/dev/null
for i in $(seq 60); do curl -sf "http://127.0.0.1:$port/_stcore/health" >/dev/null && break; sleep 1; done
echo "GET http://127.0.0.1:$port/_stcore/health -> $(curl -sf "http://127.0.0.1:$port/_stcore/health") (after ${i} s)"
if [[ -n ${UI_PYTHON:-} && -x /usr/bin/chromium ]] && "$UI_PYTHON" -c 'import playwright' 2>/dev/null; then
    cat >"$WORK/ui_smoke.py" <<'EOF'
import sys
from playwright.sync_api import sync_playwright

url, user, password = sys.argv[1:4]
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path="/usr/bin/chromium",
                           args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
    p = b.new_page(viewport={"width": 1400, "height": 1000})
    p.goto(url, wait_until="networkidle")
    p.get_by_role("textbox", name="Name").fill(user)
    p.get_by_role("textbox", name="Password").fill(password)
    p.get_by_role("button", name="Sign in").click()
    p.get_by_text("Reputation index", exact=True).wait_for(timeout=60_000)
    p.locator("canvas, svg.marks").first.wait_for(timeout=60_000)
    p.locator('[data-testid="stSidebarNav"]').get_by_text("Case queue", exact=True).click()
    p.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    b.close()
print("dashboard: signed in, overview chart drawn, case queue table shown")
EOF
    run "$UI_PYTHON" "$WORK/ui_smoke.py" "http://127.0.0.1:$port" admin smoke-password
else
    echo "(UI_PYTHON with playwright and /usr/bin/chromium not both there: no browser sign-in)"
fi
stop_and_check "repmon-smoke-dash-$TAG"

PG_ADMIN_URL=${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
if command -v createdb >/dev/null && psql -d "$PG_ADMIN_URL" -Atc 'select 1' >/dev/null 2>&1; then
    say "4b. PostgreSQL (a scratch database, dropped at the end): demo, two workers sharing it"
    PGDB=repmon_container_$TAG
    run createdb --maintenance-db="$PG_ADMIN_URL" "$PGDB"
    pgurl=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(("postgresql+psycopg", p.netloc, "/" + sys.argv[2], "", "")))' \
        "$PG_ADMIN_URL" "$PGDB")
    # --network host: the server may listen on the host's 127.0.0.1 only.
    PG=(--network host -e REPMON_DATABASE_URL="$pgurl")
    run podman run --rm "${PG[@]}" "${CONF[@]}" "$IMAGE" repmon demo 2>&1 | tail -n 1
    for n in 1 2; do
        CONTAINERS+=(repmon-smoke-pg$n-$TAG)
        run podman run -d --name "repmon-smoke-pg$n-$TAG" "${PG[@]}" -e PGAPPNAME=repmon-worker-$n \
            "${CONF[@]}" "$IMAGE" >/dev/null
    done
    sleep 12
    echo "connections per worker:"
    psql -d "${PG_ADMIN_URL%/*}/$PGDB" -Atc "SELECT application_name, count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'repmon-%' GROUP BY 1 ORDER BY 1" | sed 's/^/    /'
    stop_and_check "repmon-smoke-pg1-$TAG" "repmon-smoke-pg2-$TAG"
else
    say "4b. PostgreSQL: skipped ($PG_ADMIN_URL not reachable with psql)"
fi

say "done: $IMAGE built from $BASE_IMAGE and smoke-tested"
if ((CLEAN)); then
    run podman rmi -f "$IMAGE"
    [[ $BASE_IMAGE == "$STANDIN" ]] && run podman rmi -f "$STANDIN"
    podman image prune -f >/dev/null
else
    podman image ls --filter reference=localhost/repmon --filter reference="$STANDIN"
    echo "remove them with: podman rmi $IMAGE $STANDIN   (or run with --clean)"
fi
