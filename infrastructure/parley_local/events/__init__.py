"""Lambda event payloads, shaped exactly as API Gateway and the SQS event source build them.

One module per event source: `websocket`, `http_api`, `sqs`. References: AWS's API Gateway
developer guide and Powertools' sample events. Every builder is a pure function of its
inputs.
"""
