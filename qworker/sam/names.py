"""Names the SAM reader knows: resource types and the SQS event's properties."""

from __future__ import annotations

FUNCTION_TYPE = "AWS::Serverless::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
DEFAULT_STACK_NAME = "qworker"  #: ``AWS::StackName`` unless ``--template-parameter AWS::StackName=...``

#: SQS event properties qworker reads (SAM ``SQSEventProperties``)
_EVENT_PROPERTIES = {
    "Queue",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "FilterCriteria",
    "ScalingConfig",
    "Enabled",
}
#: parsed and ignored, with a warning (they do not change what a handler sees)
_IGNORED_EVENT_PROPERTIES = {"KmsKeyArn", "MetricsConfig", "ProvisionedPollerConfig"}
#: the CloudFormation resource types whose ``Ref`` is the value of a name property qworker can read
_NAMED_BY_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Serverless::SimpleTable": "TableName",
}
