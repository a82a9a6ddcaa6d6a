#!/usr/bin/env bash
# Starts an HDFS daemon in the foreground: `start.sh namenode` (formats its volume once) or
# `start.sh datanode`. The same command for apache/hadoop:3 and the offline stand-in: both
# run as user hadoop, have `hdfs` on PATH and read HADOOP_CONF_DIR (this folder, or hosts/ in it).
# HDFS_DATANODE_HOSTNAME: the address a DataNode advertises (several hosts: its host's address).
set -euo pipefail
role=${1:?namenode or datanode}
# A new named volume is root-owned on images that do not create /data/hdfs (apache/hadoop:3).
[ -w /data/hdfs ] || sudo chown hadoop /data/hdfs
[ "$role" != namenode ] || touch /data/hdfs/excludes  # dfs.hosts.exclude of several hosts
if [ "$role" = namenode ] && [ ! -d /data/hdfs/name/current ]; then
    hdfs namenode -format -nonInteractive
fi
export HADOOP_ROOT_LOGGER=INFO,console
# No empty-array expansion: bash before 4.4 (older Hadoop images) rejects it under `set -u`.
if [ "$role" = datanode ] && [ -n "${HDFS_DATANODE_HOSTNAME:-}" ]; then
    exec hdfs datanode -D "dfs.datanode.hostname=$HDFS_DATANODE_HOSTNAME"
fi
exec hdfs "$role"
