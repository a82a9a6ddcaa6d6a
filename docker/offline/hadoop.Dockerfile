# Stand-in for apache/hadoop:3, for machines that cannot pull it: the real NameNode and
# DataNode of Hadoop 2.7.3 (jars from the pyspark 2.4.8 sdist on PyPI, fetched by
# devtools/services/hdfs.py) with Debian's Jersey 1 for WebHDFS and OpenJDK 17. An `hdfs`
# launcher with the subcommands the stack uses (namenode, datanode, dfs, dfsadmin), user
# `hadoop`, and the configuration read from HADOOP_CONF_DIR, which the compose file mounts
# from docker/hadoop/ for the official image and this one alike.
FROM salary-offline/debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl sudo \
      libjersey1-core-java libjersey1-server-java libjersey1-servlet-java libjersey1-json-java \
 && rm -rf /var/lib/apt/lists/*
COPY jars/ /opt/hadoop/jars/
COPY hdfs /usr/local/bin/hdfs
RUN useradd --create-home --uid 1000 --shell /bin/bash hadoop \
 && mkdir -p /opt/hadoop/webapps/webapps/hdfs /opt/hadoop/webapps/webapps/datanode \
      /opt/hadoop/webapps/webapps/secondary /opt/hadoop/logs /data/hdfs \
 && chown -R hadoop /opt/hadoop/logs /data/hdfs
ENV HADOOP_HOME=/opt/hadoop
USER hadoop
WORKDIR /opt/hadoop
