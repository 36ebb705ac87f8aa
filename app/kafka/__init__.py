"""Raw Kafka I/O: brokers and their security, partitioners, topics, the producer."""
