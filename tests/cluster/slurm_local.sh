#!/usr/bin/env bash
# Single-node SLURM cluster on the local machine, for testing the eisnn
# workflow's SLURM profile (profiles/slurm) end to end.
#
#   bash tests/cluster/slurm_local.sh up       # install if missing, configure, start, wait for idle
#   bash tests/cluster/slurm_local.sh down     # cancel jobs, stop slurmd/slurmctld (and munged if we started it)
#   bash tests/cluster/slurm_local.sh status   # daemons, sinfo, squeue
#   bash tests/cluster/slurm_local.sh env      # prints `export SLURM_CONF=...`
#   bash tests/cluster/slurm_local.sh logs     # tails of the daemon logs
#
# Must run as root (it installs Debian packages and runs the daemons as root).
# The machine is both controller and the only compute node (`hostname -s`),
# in a partition "debug" (Default=YES). No cgroups (proctrack/linuxproc,
# task/none), no accounting database (accounting_storage/none): `sacct` does
# not work, job status must be queried with `squeue`, which is why
# MinJobAge is high (finished jobs stay visible to squeue for an hour).
#
# Environment knobs:
#   SLURM_LOCAL_DIR      state/log/pid directory      (default /var/lib/eisnn-slurm-local)
#   SLURM_LOCAL_TIMEOUT  seconds to wait for idle     (default 90)
#   SLURM_LOCAL_PARTITION partition name              (default debug)
#   SLURM_LOCAL_NO_INSTALL=1  never run apt-get (fail if packages are missing)
#
# Idempotent: `up` on a running cluster only re-checks that the node is idle;
# `down` on a stopped cluster does nothing.
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

DIR="${SLURM_LOCAL_DIR:-/var/lib/eisnn-slurm-local}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-90}"
PARTITION="${SLURM_LOCAL_PARTITION:-debug}"
CLUSTER_NAME="eisnn-local"
CONF="$DIR/etc/slurm.conf"
MARKER="# managed-by: eisnn tests/cluster/slurm_local.sh"
export SLURM_CONF="$CONF"

log() { echo "[slurm_local] $*" >&2; }
die() { echo "[slurm_local] ERROR: $*" >&2; exit 1; }

pid_alive() {  # pidfile
    [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

need_root() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root (needs apt-get and runs slurmctld/slurmd/munged); uid=$(id -u)"
}

install_packages() {
    local missing=()
    command -v munged >/dev/null 2>&1 || missing+=(munge)
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
    command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
    command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "packages present: $(slurmctld -V 2>/dev/null || echo slurm), munge $(dpkg-query -W -f='${Version}' munge 2>/dev/null || true)"
        return 0
    fi
    [[ "${SLURM_LOCAL_NO_INSTALL:-0}" == 1 ]] && die "missing packages (${missing[*]}) and SLURM_LOCAL_NO_INSTALL=1"
    command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get on this machine"
    # slurm-wlm is the metapackage of exactly these (plus many optional plugins
    # we do not need); installing the parts keeps it small (~10 s).
    mkdir -p "$DIR/log"
    local aptlog="$DIR/log/apt.log"
    log "installing ${missing[*]} (apt-get update + install --no-install-recommends; output in $aptlog)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; die "apt-get update failed"; }
    # Debian's postinst scripts try to start the services; on machines without
    # an init system that only prints a harmless 'policy-rc.d denied' notice.
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 \
        || { tail -n 30 "$aptlog" >&2; die "apt-get install ${missing[*]} failed"; }
    log "installed: $(slurmctld -V), munge $(dpkg-query -W -f='${Version}' munge)"
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged already running (credential round-trip OK)"
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile=/etc/munge/munge.key --force
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
    fi
    chown -R munge:munge /etc/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    log "starting munged (as user munge)"
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid \
        || die "munged failed to start; see /var/log/munge/munged.log:
$(tail -n 20 /var/log/munge/munged.log 2>/dev/null)"
    touch "$DIR/run/munged.started-by-us"
    local i
    for i in $(seq 1 20); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && { log "munged OK"; return 0; }
        sleep 0.5
    done
    die "munge credential round-trip fails after starting munged:
$(tail -n 20 /var/log/munge/munged.log 2>/dev/null)"
}

write_conf() {
    local host cpus mem sockets cores threads line
    host="$(hostname -s)"
    line="$(slurmd -C | head -n 1)"
    cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$line")"
    sockets="$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$line")"
    cores="$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$line")"
    threads="$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$line")"
    mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$line")"
    [[ -n "$cpus" && -n "$mem" ]] || die "could not parse 'slurmd -C': $line"
    # Node address: the host name if it resolves, else loopback.
    local addr="$host"
    getent hosts "$host" >/dev/null 2>&1 || addr=127.0.0.1
    mkdir -p "$DIR/etc"
    cat >"$CONF.tmp" <<EOF
$MARKER
# Single-node test cluster: $host is controller and the only compute node.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host($addr)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
SlurmctldPort=6817
SlurmdPort=6818
# No cgroups (container-like sandboxes): plain /proc process tracking.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Keep finished jobs in slurmctld for an hour: status via squeue / scontrol.
MinJobAge=3600
MaxArraySize=1001
# No accounting database.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerParameters=batch_sched_delay=0
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
NodeName=$host NodeAddr=$addr CPUs=$cpus Sockets=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads:-1} RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    log "wrote $CONF (node $host addr=$addr CPUs=$cpus RealMemory=${mem}MB, partition $PARTITION)"
    # Let plain `sinfo`/`sbatch` (without SLURM_CONF) find it too, unless the
    # machine already has a slurm.conf that is not ours.
    if [[ -L /etc/slurm/slurm.conf || ! -e /etc/slurm/slurm.conf ]]; then
        mkdir -p /etc/slurm
        ln -sfn "$CONF" /etc/slurm/slurm.conf
        log "linked /etc/slurm/slurm.conf -> $CONF"
    else
        log "/etc/slurm/slurm.conf exists and is not ours: use 'export SLURM_CONF=$CONF'"
    fi
}

show_logs() {
    local f
    for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" /var/log/munge/munged.log; do
        echo "----- tail $f -----" >&2
        tail -n "${1:-30}" "$f" >&2 2>/dev/null || echo "(missing)" >&2
    done
}

node_state() {
    sinfo -h -N -n "$(hostname -s)" -o '%T' 2>/dev/null | head -n 1
}

wait_idle() {
    local t0=$SECONDS state=""
    while (( SECONDS - t0 < TIMEOUT )); do
        state="$(node_state || true)"
        case "$state" in
            idle|mixed|allocated|completing)
                log "node $(hostname -s) is $state after $((SECONDS - t0)) s"
                return 0 ;;
            down*|drain*|fail*)
                # e.g. left down from an earlier run: bring it back.
                scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        pid_alive "$DIR/run/slurmctld.pid" || { show_logs 40; die "slurmctld died (see logs above)"; }
        pid_alive "$DIR/run/slurmd.pid" || { show_logs 40; die "slurmd died (see logs above)"; }
        sleep 1
    done
    echo "[slurm_local] sinfo:" >&2; sinfo -N -l >&2 2>&1 || true
    show_logs 40
    die "node $(hostname -s) not idle after ${TIMEOUT}s (state: '${state:-unknown}')"
}

cmd_up() {
    local t0=$SECONDS
    need_root
    install_packages
    mkdir -p "$DIR"/{etc,log,run,state,spool}
    start_munge
    if pid_alive "$DIR/run/slurmctld.pid" && pid_alive "$DIR/run/slurmd.pid"; then
        log "slurmctld (pid $(cat "$DIR/run/slurmctld.pid")) and slurmd (pid $(cat "$DIR/run/slurmd.pid")) already running"
    else
        # half-up state: stop whatever is left, then start both afresh
        stop_slurm quiet
        write_conf
        log "starting slurmctld (clean state, -c)"
        slurmctld -c -f "$CONF" || { show_logs 40; die "slurmctld failed to start"; }
        log "starting slurmd -N $(hostname -s)"
        slurmd -f "$CONF" -N "$(hostname -s)" || { show_logs 40; die "slurmd failed to start"; }
    fi
    wait_idle
    sinfo >&2
    log "cluster up in $((SECONDS - t0)) s; for a shell: export SLURM_CONF=$CONF"
}

stop_pidfile() {  # name pidfile
    local name="$1" pf="$2" pid i
    pid_alive "$pf" || { rm -f "$pf"; return 0; }
    pid="$(cat "$pf")"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || { log "stopped $name (pid $pid)"; rm -f "$pf"; return 0; }
        sleep 0.5
    done
    log "$name (pid $pid) did not stop on SIGTERM, sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pf"
}

stop_slurm() {
    local quiet="${1:-}"
    if pid_alive "$DIR/run/slurmctld.pid"; then
        # Cancel our jobs first so no slurmstepd/job processes outlive slurmd.
        if [[ -n "$(squeue -h -o %i 2>/dev/null)" ]]; then
            log "cancelling jobs: $(squeue -h -o %i | tr '\n' ' ')"
            scancel --full --quiet $(squeue -h -o %i) 2>/dev/null || true
            local i
            for i in $(seq 1 20); do
                [[ -z "$(squeue -h -t R,CG,PD -o %i 2>/dev/null)" ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_pidfile slurmd "$DIR/run/slurmd.pid"
    stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
    [[ -n "$quiet" ]] || log "slurm daemons stopped"
}

cmd_down() {
    need_root
    [[ -d "$DIR" ]] || { log "nothing to stop ($DIR does not exist)"; return 0; }
    stop_slurm
    if [[ -e "$DIR/run/munged.started-by-us" ]]; then
        stop_pidfile munged /run/munge/munged.pid
        rm -f "$DIR/run/munged.started-by-us"
    elif munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged was not started by this script; leaving it running"
    fi
}

cmd_status() {
    local rc=0
    for d in slurmctld slurmd; do
        if pid_alive "$DIR/run/$d.pid"; then echo "$d: running (pid $(cat "$DIR/run/$d.pid"))"
        else echo "$d: stopped"; rc=1; fi
    done
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then echo "munged: running"; else echo "munged: not running"; rc=1; fi
    echo "SLURM_CONF=$CONF"
    if (( rc == 0 )); then sinfo; squeue; fi
    return $rc
}

case "${1:-}" in
    up) cmd_up ;;
    down|stop) cmd_down ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    logs) show_logs "${2:-50}" ;;
    *) echo "usage: $0 {up|down|status|env|logs [N]}" >&2; exit 2 ;;
esac
