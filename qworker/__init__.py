"""qworker: run AWS-Lambda-style SQS handlers anywhere.

A handler written for Lambda's SQS event source mapping (``def handler(event, context)``) runs
unchanged under ``qworker run app:handler``, against a queue kept in embedded SQLite (the default),
Redis, or Amazon SQS.
"""

__version__ = "0.1.0"
