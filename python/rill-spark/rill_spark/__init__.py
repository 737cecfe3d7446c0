"""Rill for PySpark: the data source "rill" (Spark's Kafka source and sink options, on
confluent-kafka) and a local cluster helper for tests and the course."""
from .source import RillDataSource

__all__ = ["RillDataSource", "register"]
__version__ = "0.1.0"


def register(spark):
    """Registers format("rill") with a SparkSession; returns the session."""
    spark.dataSource.register(RillDataSource)
    return spark
