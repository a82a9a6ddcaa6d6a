"""Data preparation with Spark: generating the synthetic people (``generate``), the ETL
transforms (``etl``) and the curation job built on them (``curate``), the report's two queries
(``queries``) and publishing their results (``reports``)."""
