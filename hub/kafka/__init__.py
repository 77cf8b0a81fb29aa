"""Kafka at the edge: the local broker and cluster, topics, the one producer path, Avro framing."""
