#!/usr/bin/env bash
# Only the ports other hosts need, on the interface that faces them (docs/multi-host.md, "Ports
# between hosts"). Run as root on every host before it joins; idempotent (the chain is rebuilt).
#
#   bash scripts/host_firewall.sh head   <interface> <cluster network CIDR> <head address>
#   bash scripts/host_firewall.sh worker <interface> <cluster network CIDR> <head address>
#
# New connections from the cluster network reach only the engines' pinned ports (the compose
# files pin every one of them); anything else arriving on the interface is dropped, and a refused
# connection attempt is counted on the chain's "refused" rule (iptables -L SALARY-IN -v -n).
# Ports Docker publishes (the Airflow UI; the Spark driver's ports on the head) go through
# Docker's own FORWARD rules, not this chain. SSH (22) stays open so you keep your way in.
# To remove: iptables -D INPUT -i <interface> -j SALARY-IN; iptables -F SALARY-IN; iptables -X SALARY-IN
set -euo pipefail
role=${1:?head or worker} iface=${2:?the interface facing the other hosts} cidr=${3:?the cluster network, e.g. 10.0.0.0/24}
head=${4:?the head host address}
chain=SALARY-IN

# Every host: Spark worker RPC 7078 and executor block managers 7120-7127; Ray node manager,
# object manager, runtime-env and dashboard agents 6380-6383 and 52365, workers 10002-10201;
# DataNode HTTP (WebHDFS redirects) 9864, data transfer 9866 and IPC 9867.
every_host=7078,7120:7127,6380:6383,52365,10002:10201,9864,9866:9867
# The head: Spark master 7077, Ray GCS 6379, NameNode RPC 8020.
head_only=7077,6379,8020

iptables -w -N "$chain" 2>/dev/null || iptables -w -F "$chain"
iptables -w -A "$chain" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -w -A "$chain" -p icmp -j ACCEPT
iptables -w -A "$chain" -p tcp --dport 22 -j ACCEPT
iptables -w -A "$chain" -s "$cidr" -p tcp -m multiport --dports "$every_host" -j ACCEPT
case "$role" in
    head) iptables -w -A "$chain" -s "$cidr" -p tcp -m multiport --dports "$head_only" -j ACCEPT ;;
    # The Spark worker's status page (executors, their logs) for the head, where the master links to it.
    worker) iptables -w -A "$chain" -s "$head" -p tcp --dport 8081 -j ACCEPT ;;
    *) echo "usage: $0 head|worker <interface> <cidr> <head address>" >&2; exit 2 ;;
esac
# Ray's event agents on other hosts post events to the head's dashboard (8265) over plain HTTP,
# with the cluster's token in a header: kept closed, so the token never crosses in clear text (the
# events stay in each node's logs). Dropped and counted apart from what nothing should try.
if [ "$role" = head ]; then
    iptables -w -A "$chain" -p tcp --syn --dport 8265 -m comment --comment ray-events -j DROP
fi
iptables -w -A "$chain" -p tcp --syn -m comment --comment refused -j DROP
iptables -w -A "$chain" -j DROP
iptables -w -C INPUT -i "$iface" -j "$chain" 2>/dev/null || iptables -w -I INPUT 1 -i "$iface" -j "$chain"
echo "[firewall] $role: $iface open from $cidr to the engines' ports only"
