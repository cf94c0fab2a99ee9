"""Adapters: one module per outside system (APIG, DynamoDB, S3, SNS, SQS, Secrets Manager).

The only code that talks to them; each raises the domain's typed errors.
"""
