"""Our Airflow pieces in the provider shape: hooks, operators, sensors, triggers, assets, and the
provider metadata (``provider.get_provider_info``, entry point ``apache_airflow_provider``)."""
