from __future__ import annotations

import errno

from salary.errors import storage_full


class Py4JLike(Exception):
    """Stands in for py4j's Py4JJavaError, whose text is the Java stack trace."""


def test_a_full_local_disk_is_named_by_its_path():
    assert storage_full(OSError(errno.ENOSPC, "No space left on device", "/lake/x")) == \
        "No space left on device: /lake/x"


def test_java_and_hdfs_traces_are_recognised_by_the_line_that_names_the_cause():
    trace = ("An error occurred while calling o123.parquet.\n: org.apache.spark.SparkException: Job aborted.\n"
             "Caused by: java.io.IOException: No space left on device\n\tat java.base/sun.nio.ch.FileDispatcherImpl")
    assert storage_full(Py4JLike(trace)) == "Caused by: java.io.IOException: No space left on device"
    hdfs = ("org.apache.hadoop.ipc.RemoteException(java.io.IOException): File /lake/x could only be written to 0 of "
            "the 1 minReplication nodes. There are 1 datanode(s) running and 1 node(s) are excluded")
    assert storage_full(Py4JLike(hdfs)).startswith("org.apache.hadoop.ipc.RemoteException(java.io.IOException): File")
    quota = "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException: The DiskSpace quota of /lake is exceeded"
    assert storage_full(Py4JLike(quota)) == quota


def test_the_cause_is_found_through_the_chain_and_other_errors_are_not_it():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("could not stage the output")  # noqa: B904 - the implicit context counts too
    except RuntimeError as err:
        assert storage_full(err) == "No space left on device"
    assert storage_full(OSError(errno.EACCES, "Permission denied", "/lake")) is None
    assert storage_full(ValueError("age")) is None
    assert storage_full(None) is None
