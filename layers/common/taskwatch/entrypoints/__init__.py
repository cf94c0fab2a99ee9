"""Entry points: the glue between Lambda events (SQS records, HTTP requests) and the domain."""
