# shellcheck shell=bash
# Shared functions for Deploy/test and Deploy/cluster. Source it, do not run it.
#
# Everything here is about one machine: installing the Debian packages the build and the servers
# need, and running private PostgreSQL and Redis instances in folders we own, so neither the tests
# nor the local cluster ever touch (or collide with) a system-wide server.

# The repository root, from this file's own location, so callers work from any cwd.
REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# What the build (system-library targets), the servers and these scripts use.
COUPON_PACKAGES=(
    libnng-dev libhiredis-dev libpq-dev libssl-dev libcrypt-dev
    postgresql postgresql-contrib redis-server redis-tools
    curl python3 python3-yaml procps tzdata libcurl4
    patroni etcd-server
)

# Services the packages may start on install: the tests and `Deploy/cluster up --ha` run their
# own etcd and Patroni on free ports and folders of their own, never the system-wide ones.
COUPON_SYSTEM_SERVICES=(etcd patroni)

# ---------------------------------------------------------------------------------------------
# Output

# A visible header per stage, so a long CI log can be scanned for where it failed.
stage() {
    printf '\n==== %s ====\n' "$*"
}

note() {
    printf '  %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Last lines of a log, indented, to stderr: shown when something fails to come up.
show_log_tail() {
    local file=$1 lines=${2:-40}
    if [[ -f $file ]]; then
        printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
        tail -n "$lines" -- "$file" >&2 || true
        printf -- '--- end of %s ---\n' "$file" >&2
    else
        printf -- '--- %s does not exist ---\n' "$file" >&2
    fi
}

# ---------------------------------------------------------------------------------------------
# Toolchain and packages

# The Swift toolchain is unpacked in /opt/swift on our machines, not installed on PATH.
ensure_swift_path() {
    if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
        PATH="/opt/swift/usr/bin:$PATH"
        export PATH
    fi
    command -v swift >/dev/null 2>&1 || die "swift not found on PATH (nor in /opt/swift/usr/bin)"
}

package_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Installs the missing packages with apt. `apt-get update` only runs when something is missing, so
# a machine that already has everything pays nothing and needs no network.
ensure_packages() {
    local missing=() pkg
    for pkg in "${COUPON_PACKAGES[@]}"; do
        package_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi

    if ((EUID != 0)); then
        printf 'Missing Debian packages. Install them as root with:\n' >&2
        printf '  apt-get update && apt-get install -y %s\n' "${missing[*]}" >&2
        exit 1
    fi
    note "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
    stop_system_services
}

# Stops and disables the system services the packages started (systemd, else SysV scripts);
# where neither runs (containers) there is nothing to stop.
stop_system_services() {
    local service
    for service in "${COUPON_SYSTEM_SERVICES[@]}"; do
        if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
            systemctl disable --now "$service" >/dev/null 2>&1 || true
        elif [[ -x /etc/init.d/$service ]]; then
            "/etc/init.d/$service" stop >/dev/null 2>&1 || true
            command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$service" disable >/dev/null 2>&1 || true
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# Processes

# A free TCP port on 127.0.0.1: the kernel picks it. Another process could take it before we bind,
# but that window is tiny and the server start would then fail loudly rather than share a port.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when PID exists and is not a zombie. A service this script started and that then died stays
# a zombie (kill -0 succeeds) until the script exits, so kill -0 alone would call it alive.
pid_running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    # `read`, not `$(cat …)`: the supervisor calls this with its SIGTERM trap set (see supervise).
    IFS= read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    stat="${stat##*) }"
    [[ ${stat%% *} != Z ]]
}

# True when PID is alive and its command name is NAME. The name check keeps a stale pid file whose
# number was reused by an unrelated process from making us think a server runs (or kill the wrong
# process). /proc/PID/comm holds at most 15 characters.
pid_is() {
    local pid=$1 name=$2 comm
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_running "$pid" || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [[ $comm == "${name:0:15}" ]]
}

# Prints the pid recorded in FILE (first line) when `CHECK PID NAME` holds; CHECK defaults to
# pid_is (alive and named NAME).
pidfile_pid() {
    local file=$1 name=$2 check=${3:-pid_is} pid
    [[ -r $file ]] || return 1
    pid="$(head -n 1 -- "$file" 2>/dev/null)" || return 1
    pid="${pid//[[:space:]]/}"
    "$check" "$pid" "$name" || return 1
    printf '%s\n' "$pid"
}

# Polls CMD every 0.2 s until it succeeds or TIMEOUT seconds pass.
wait_until() {
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

pid_gone() {
    ! pid_running "$1"
}

# SIGTERM, then up to TIMEOUT seconds for a graceful exit (services finish in-flight work), then
# SIGKILL. Returns non-zero only if the process is still there after SIGKILL.
stop_pid() {
    local pid=$1 timeout=${2:-10}
    kill -TERM "$pid" 2>/dev/null || return 0
    wait_until "$timeout" pid_gone "$pid" && return 0
    note "pid $pid did not exit within ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 pid_gone "$pid"
}

# ---------------------------------------------------------------------------------------------
# Private PostgreSQL

# The newest installed server version (sort -V: "9.6" must not beat "15").
pg_bin_dir() {
    local dir
    dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    [[ -x $dir/pg_ctl ]] || die "no PostgreSQL server under /usr/lib/postgresql (package postgresql)"
    printf '%s\n' "$dir"
}

# initdb and pg_ctl refuse to run as root, so as root we run them as the `postgres` system user on
# folders it owns. From / so that user never trips over an unreadable cwd such as /root.
as_pg_owner() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# The `postgres` user must be able to reach DIR: grant search (x, not read) on any parent folder
# that denies it to others, e.g. a clone under /root (mode 700).
make_reachable_by_postgres() {
    local path
    path="$(dirname -- "$1")"
    while [[ $path != / ]]; do
        # The last mode letter is x, or t for a sticky folder such as /tmp that others may search.
        if [[ "$(stat -c %A -- "$path")" != *[xt] ]]; then
            note "granting search permission (o+x) on $path so PostgreSQL can reach its folder"
            chmod o+x -- "$path"
        fi
        path="$(dirname -- "$path")"
    done
}

pg_pid() {
    pidfile_pid "$1/data/postmaster.pid" postgres
}

# pg_start DIR PORT: a PostgreSQL cluster in DIR/data listening on 127.0.0.1:PORT, with database
# `coupon`. Initialises DIR/data on first use; does nothing but ensure the database if it runs.
pg_start() {
    local dir=$1 port=$2 bin data pid
    mkdir -p -- "$dir"
    dir="$(cd -- "$dir" && pwd)"
    data="$dir/data"
    bin="$(pg_bin_dir)"

    if pid="$(pg_pid "$dir")"; then
        note "PostgreSQL already running in $dir (pid $pid)"
    else
        if ((EUID == 0)); then
            make_reachable_by_postgres "$dir"
            chown postgres:postgres -- "$dir"
        fi
        if [[ ! -f $data/PG_VERSION ]]; then
            note "initialising PostgreSQL in $data"
            # Trust auth is fine: it only listens on loopback and is a private, throwaway server.
            as_pg_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C \
                >"$dir/initdb.log" 2>&1 || {
                show_log_tail "$dir/initdb.log"
                return 1
            }
            # Our settings live in their own file, rewritten on every start (port may differ).
            printf "include_if_exists = 'coupon.conf'\n" >>"$data/postgresql.conf"
        fi
        pg_write_conf "$dir" "$port"
        note "starting PostgreSQL on 127.0.0.1:$port (log $dir/postgres.log)"
        as_pg_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null || {
            show_log_tail "$dir/postgres.log"
            return 1
        }
    fi

    local exists
    exists="$(psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tA \
        -c "SELECT 1 FROM pg_database WHERE datname = 'coupon'")" || {
        show_log_tail "$dir/postgres.log"
        return 1
    }
    if [[ $exists != 1 ]]; then
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -c 'CREATE DATABASE coupon' || return 1
    fi
}

# fsync and synchronous_commit stay on: commit durability is what the benchmarks measure, and a
# claim is only acknowledged once it is on disk. Enough connections for load runs with many clients.
pg_write_conf() {
    local dir=$1 port=$2 conf="$1/data/coupon.conf" sockets
    # Unix socket paths are limited to 107 bytes; a deep checkout would make postgres refuse to
    # start, so then go TCP-only (everything we run connects over TCP anyway).
    sockets="$dir"
    if ((${#dir} + 20 > 107)); then
        note "socket path too long; PostgreSQL in $dir listens on TCP only"
        sockets=""
    fi
    cat >"$conf" <<EOF
# Written by Deploy/lib.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${sockets//\'/\'\'}'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
EOF
    if ((EUID == 0)); then chown postgres:postgres -- "$conf"; fi
}

# pg_stop DIR: returns non-zero (not exit) on failure, so a cleanup trap can go on.
# Fast shutdown (rolls back open transactions, checkpoints). SIGKILL if it hangs.
pg_stop() {
    local dir=$1 pid bin
    pid="$(pg_pid "$dir")" || return 0
    bin="$(pg_bin_dir)"
    if ! as_pg_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
        note "pg_ctl stop failed; killing postmaster $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait_until 10 pid_gone "$pid" || {
        printf 'PostgreSQL (pid %s) in %s did not stop\n' "$pid" "$dir" >&2
        return 1
    }
}

# ---------------------------------------------------------------------------------------------
# Private Redis

redis_pid() {
    pidfile_pid "$1/redis.pid" redis-server
}

redis_pong() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

# redis_start DIR PORT: a Redis on 127.0.0.1:PORT keeping its pid file, log and working dir in DIR.
# No persistence: Redis only holds fast counters, PostgreSQL is the source of truth.
redis_start() {
    local dir=$1 port=$2 pid
    mkdir -p -- "$dir"
    dir="$(cd -- "$dir" && pwd)"
    if pid="$(redis_pid "$dir")"; then
        note "Redis already running in $dir (pid $pid)"
    else
        note "starting Redis on 127.0.0.1:$port (log $dir/redis.log)"
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" || {
            show_log_tail "$dir/redis.log"
            return 1
        }
    fi
    wait_until 15 redis_pong "$port" || {
        printf 'Redis on port %s does not answer PING\n' "$port" >&2
        show_log_tail "$dir/redis.log"
        return 1
    }
}

redis_stop() {
    local dir=$1 pid
    pid="$(redis_pid "$dir")" || return 0
    stop_pid "$pid" 10 || {
        printf 'Redis (pid %s) in %s did not stop\n' "$pid" "$dir" >&2
        return 1
    }
    rm -f -- "$dir/redis.pid"
}

# ---------------------------------------------------------------------------------------------
# Supervision

# Back-off between restarts of a crashed service: the first wait, its cap as it doubles, and how
# long a run must last to count as healthy again (the next crash then waits the first delay).
: "${COUPON_RESTART_FIRST_DELAY:=1}"
: "${COUPON_RESTART_MAX_DELAY:=30}"
: "${COUPON_RESTART_STABLE_SECONDS:=60}"

# One line in the cluster log, with a UTC timestamp.
# The supervisor runs no command substitution once its SIGTERM trap is set: bash 5.2 runs a trap
# that lands while it parses a `$(...)` inside the parser, which then fails ("unexpected EOF while
# looking for matching `)'"), and a `$(...)` the signal interrupts comes back empty. Both made a
# supervisor stopped right after a start miss the stop and wait out its service (7 in 150 tries on a
# loaded machine). Hence builtins only below: printf's own clock, `read`, names looked up once.
supervisor_log() {
    TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T supervisor %s\n' -1 "$*" >>"$SUPERVISOR_CLUSTER_LOG"
}

# Signal names by number, from one `kill -l` before the trap is set.
SUPERVISOR_SIGNAL_NAMES=()
supervisor_learn_signal_names() {
    local word number=""
    for word in $(kill -l); do
        if [[ $word =~ ^([0-9]+)\)$ ]]; then
            number=${BASH_REMATCH[1]}
        elif [[ -n $number ]]; then
            SUPERVISOR_SIGNAL_NAMES[number]=${word#SIG}
            number=""
        fi
    done
}

# Why a service ended, from its wait status, into SUPERVISOR_REASON: "status N" or "signal NAME".
exit_reason() {
    local status=$1 signal
    if ((status > 128)); then
        signal=$((status - 128))
        SUPERVISOR_REASON="signal ${SUPERVISOR_SIGNAL_NAMES[signal]:-$signal}"
    else
        SUPERVISOR_REASON="status $status"
    fi
}

# supervise NAME RUN_DIR SERVICE_LOG CLUSTER_LOG COMMAND [ARGS...]
#
# Runs COMMAND (output appended to SERVICE_LOG) and starts it again whenever it crashes: exits
# non-zero or is killed by a signal other than SIGTERM. SIGTERM is what `down` and operators send
# to stop a service, and a clean exit (0) is a stop too; neither is restarted. Restarts wait
# COUPON_RESTART_FIRST_DELAY seconds, doubling up to COUPON_RESTART_MAX_DELAY, back to the first
# delay after a run of COUPON_RESTART_STABLE_SECONDS. Each start, exit and restart is a line in
# CLUSTER_LOG. RUN_DIR/NAME.pid holds the running pid, RUN_DIR/NAME.restarts the restart count.
#
# SIGTERM to the supervisor stops supervising and leaves the service running, for whoever stops
# it next (`down` stops every supervisor first, then the services, so nothing comes back).
supervise() {
    local name=$1 run_dir=$2 service_log=$3
    SUPERVISOR_CLUSTER_LOG=$4
    shift 4
    local delay=$COUPON_RESTART_FIRST_DELAY restarts=0 child started status ran sleeper=""
    SUPERVISOR_STOPPING=0
    supervisor_learn_signal_names
    # Only a flag: a `wait` in progress returns at once, and every step below checks it. Exiting
    # here could leave a child just forked but not yet in its pid file.
    trap 'SUPERVISOR_STOPPING=1' TERM
    while true; do
        if ((SUPERVISOR_STOPPING)); then
            supervisor_log "$name: supervision stopped"
            return 0
        fi
        printf '%s\n' "$restarts" >"$run_dir/$name.restarts"
        "$@" >>"$service_log" 2>&1 </dev/null &
        child=$!
        started=$SECONDS
        printf '%s\n' "$child" >"$run_dir/$name.pid"
        supervisor_log "$name: started pid $child"
        # Not a plain `wait "$child"`: a SIGTERM that lands just before it (say during the log
        # line above) runs the trap first, and that wait would then last as long as the service.
        # A one-second sleep is waited instead, which the trap cuts short, and the flag is checked
        # between sleeps; a crash is noticed within a second.
        while pid_running "$child"; do
            if ((SUPERVISOR_STOPPING)); then
                supervisor_log "$name: supervision stopped; pid $child left to the caller"
                return 0
            fi
            sleep 1 &
            sleeper=$!
            wait "$sleeper" 2>/dev/null || true
            kill "$sleeper" 2>/dev/null || true
        done
        # bash reaped it and kept its status. 2>/dev/null: no "Killed" line of bash's own.
        # A stop that landed as the loop ended (a read the trap interrupted reads as "not running"):
        # the child may still run, and `wait` would wait it out.
        if ((SUPERVISOR_STOPPING)); then
            supervisor_log "$name: supervision stopped; pid $child left to the caller"
            return 0
        fi
        status=0
        wait "$child" 2>/dev/null || status=$?
        exit_reason "$status"
        if ((SUPERVISOR_STOPPING)); then
            supervisor_log "$name: supervision stopped; pid $child ended with $SUPERVISOR_REASON"
            return 0
        fi
        ran=$((SECONDS - started))
        if ((status == 0 || status == 128 + 15)); then
            supervisor_log "$name: pid $child ended with $SUPERVISOR_REASON after ${ran}s, a stop; not restarting"
            return 0
        fi
        if ((ran >= COUPON_RESTART_STABLE_SECONDS)); then
            delay=$COUPON_RESTART_FIRST_DELAY
        fi
        restarts=$((restarts + 1))
        supervisor_log "$name: pid $child crashed ($SUPERVISOR_REASON) after ${ran}s; restart $restarts in ${delay}s"
        # In the background so a SIGTERM does not wait out the back-off.
        sleep "$delay" &
        sleeper=$!
        wait "$sleeper" || true
        kill "$sleeper" 2>/dev/null || true
        delay=$((delay * 2))
        ((delay <= COUPON_RESTART_MAX_DELAY)) || delay=$COUPON_RESTART_MAX_DELAY
    done
}

# True when PID is alive and is the supervisor of NAME (`... supervise NAME ...` on its command line).
supervisor_is() {
    local pid=$1 name=$2 arguments
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_running "$pid" || return 1
    arguments="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ $'\n'$arguments$'\n' == *$'\nsupervise\n'"$name"$'\n'* ]]
}
