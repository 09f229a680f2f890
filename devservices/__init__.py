"""Local development services without Docker: a real Apache Kafka broker from Maven Central jars, the gcloud
Firestore emulator, and the whole stack in one command (``python -m devservices up``)."""
