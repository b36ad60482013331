#!/bin/busybox sh
# dom0's /init in the Xen test (package xenlab): the peer's side. It starts Xen's daemons, a
# bridge xenbr0 at 192.168.0.1, creates the domU (whose program serves HTTP at 192.168.0.2
# through our netfront) and checks it through dom0's real netback. Verdict lines start with
# "XENLAB "; "XENLAB end" is the last one. Knobs, from the kernel command line:
#   xlab_bytes=N      bytes moved each way (default 16 MiB)
#   xlab_maxq=N       netback's max_queues (default 2)
#   xlab_wait=S       seconds to wait for the domU's page (default 240)
#   xlab_reconnect=0  skip xl network-detach/attach
#   xlab_linux=0      skip the comparison with Linux's xen-netfront
#   xlab_probe=Q,...  the domU's -probe-queues: one handshake per queue count (default 1)
#   xlab_xenstored=oxenstored   the OCaml xenstored instead of the C one
#   xlab_xstrace=1    the C xenstored traces every message (its end shown when xenstore stalls)
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
v() { echo "XENLAB $*"; }
end() { v "end"; sync; poweroff -f; }
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /dev/shm
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen/dump
N=${xlab_bytes:-16777216}
for m in $(cat /mods/order); do
	case $m in
	xen_netback) insmod /mods/$m.ko max_queues=${xlab_maxq:-2} ;;
	*) insmod /mods/$m.ko ;;
	esac || v "insmod $m FAIL"
done
mount -t xenfs xenfs /proc/xen
# In the foreground of a background job, so that its last words are kept.
if [ "$xlab_xenstored" = oxenstored ]; then
	oxenstored --no-fork --pid-file=/run/xenstored.pid > /tmp/xenstored.log 2>&1 &
else
	xenstored --no-fork --pid-file /run/xenstored.pid ${xlab_xstrace:+-T /tmp/xenstored.trace} > /tmp/xenstored.log 2>&1 &
fi
for i in $(seq 1 100); do xenstore-read / >/dev/null 2>&1 && break; sleep 0.1; done
xen-init-dom0 >/dev/null || v "xen-init-dom0 FAIL"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
brctl addbr xenbr0; ip link set xenbr0 address 02:00:00:00:00:01
ip addr add 192.168.0.1/24 dev xenbr0; ip link set xenbr0 up; ip link set lo up
v "dom0 up uptime=$(cut -d' ' -f1 /proc/uptime)"
# (a comma inside one of the domU's arguments is written %2C: guest.EncodeArgs)
sed -i "s/@PROBE@/$(echo ${xlab_probe:-1} | sed 's/,/%2C/g')/" /domu/domu.cfg
# A stalled xenstore stops xl and the domU alike: say so, with the blocked tasks' stacks.
(while sleep 20; do
	if ! timeout 5 xenstore-read /local/domain/0/name >/dev/null 2>&1; then
		v "xenstore STALL uptime=$(cut -d' ' -f1 /proc/uptime)"
		xs=$(pidof xenstored oxenstored)
		if [ -z "$xs" ]; then
			# Nothing that needs xenstore, xl included, will finish: end the boot.
			v "xenstored is gone"; tail -20 /tmp/xenstored.log; tail -60 /tmp/xenstored.trace 2>/dev/null
			v "xenstored FAIL"; end
		else
			v "xenstored pid=$xs $(grep State /proc/$xs/status) wchan=$(cat /proc/$xs/wchan)"
			cat /proc/$xs/stack
		fi
		tail -20 /tmp/xenstored.log; tail -60 /tmp/xenstored.trace 2>/dev/null
		echo w > /proc/sysrq-trigger
	fi
done) &
if ! xl create /domu/domu.cfg > /tmp/xlcreate.log 2>&1; then
	cat /tmp/xlcreate.log; v "xl-create FAIL"; end
fi
(tail -F /var/log/xen/console/guest-domu.log 2>/dev/null | while IFS= read -r l; do echo "DOMU| $l"; done) &

DOMID=$(xl domid domu)
F=/local/domain/$DOMID/device/vif/0
B=/local/domain/0/backend/vif/$DOMID/0
URL=http://192.168.0.2
C=/bin/xenlab-client
keys() { # DIR KEY...: KEY=VALUE for each
	d=$1; shift; out=""
	for k in "$@"; do out="$out $k=$(xenstore-read $d/$k 2>/dev/null || echo absent)"; done
	echo "$out"
}
waitpage() { # SECONDS: wait for the domU's page, giving up early if the domU is gone
	t=0
	while [ $t -lt $1 ]; do
		$C wait $URL 10 2>/dev/null | grep -v FAIL && return 0
		xl domid domu >/dev/null 2>&1 || { v "domu gone"; return 1; }
		t=$((t + 10))
	done
	$C wait $URL 1
}
counters() { # LABEL: the vif's counters and dom0's TCP counters, for a slow transfer's story
	vs=""
	for c in rx_packets rx_bytes rx_dropped rx_errors tx_packets tx_dropped; do
		vs="$vs $c=$(cat /sys/class/net/vif$DOMID.0/statistics/$c 2>/dev/null)"
	done
	ts=$(awk '/^Tcp:/ { if (h) { for (i = 2; i <= NF; i++) printf " %s=%s", n[i], $i } else { h = 1; for (i = 2; i <= NF; i++) n[i] = $i } }' /proc/net/snmp |
		tr ' ' '\n' | grep -E "InSegs|OutSegs|RetransSegs|InErrs|OutRsts" | tr '\n' ' ')
	ofo=$(awk '/^TcpExt:/ { if (h) { for (i = 2; i <= NF; i++) if (n[i] ~ /TCPOFOQueue|TCPSACKRecovery|TCPLostRetransmit|TCPDSACKRecv|TCPTimeouts/) printf " %s=%s", n[i], $i } else { h = 1; for (i = 2; i <= NF; i++) n[i] = $i } }' /proc/net/netstat)
	v "counters $1 vif:$vs tcp: $ts$ofo"
}
dump() {
	xl list; xenstore-ls -f $B 2>&1 | head -40; xenstore-ls -f $F 2>&1 | head -40
	cat /sys/class/net/vif*/statistics/rx_packets /sys/class/net/vif*/statistics/tx_packets 2>/dev/null
}

if ! waitpage ${xlab_wait:-240}; then
	v "page FAIL"; dump; end
fi
v "page PASS"
v "fe-keys$(keys $F state feature-sg feature-gso-tcpv4 feature-gso-tcpv6 feature-rx-notify request-rx-copy multi-queue-num-queues)"
v "be-keys$(keys $B state feature-sg feature-gso-tcpv4 feature-rx-copy multi-queue-max-queues hotplug-status)"
counters before-unikit
$C get $URL $N unikit
counters after-unikit-down
$C put $URL $N unikit
counters after-unikit-up

if [ "${xlab_reconnect:-1}" = 1 ]; then
	mac=$(xenstore-read $F/mac)
	if xl network-detach domu 0; then v "detached uptime=$(cut -d' ' -f1 /proc/uptime)"; else v "detach FAIL"; fi
	sleep 2
	if xl network-attach domu bridge=xenbr0 mac=$mac; then v "attached"; else v "attach FAIL"; fi
	if waitpage 120; then
		v "reconnect PASS uptime=$(cut -d' ' -f1 /proc/uptime)"
		v "fe-keys-again$(keys $F state feature-sg feature-gso-tcpv4)"
		$C get $URL 1048576 unikit-reattached
	else
		v "reconnect FAIL"; dump
	fi
fi

if [ "${xlab_linux:-1}" = 1 ]; then
	wget -q -O - $URL/switch >/dev/null 2>&1
	sleep 2
	if waitpage 120; then
		v "linux-netfront PASS"
		v "fe-keys-linux$(keys $F state feature-sg feature-gso-tcpv4 multi-queue-num-queues)"
		counters before-linux
		$C get $URL $N linux
		counters after-linux-down
		$C put $URL $N linux
		counters after-linux-up
	else
		v "linux-netfront FAIL"; dump
	fi
fi
wget -q -O - -T 5 $URL/quit >/dev/null 2>&1
sleep 1
xl destroy domu 2>/dev/null
end
