"""What every job shares at run time: the job harness (``job``: arguments, logging, stages, the
summary line, bad input), the Spark session and its metrics (``spark``), the Ray runtime env
(``ray``) and the code version a job ran (``version``)."""
