"""What set-up and the image build make from a checkout: the package zip shipped to Spark
(``pyfiles``), the Spark home spark-submit runs from (``spark_home``), the JAVA_HOME it runs on
(``java_home``), the ahead-of-time caches of its JVMs (``spark_cds``) and the stand-in images
for machines without a registry (``images``). Each is idempotent and runs as
``python -m devtools.build.<name>``."""
