"""Run an AWS SAM project unchanged: read ``template.yaml``'s functions, SQS events and queues.

Every ``AWS::Serverless::Function`` with an ``Events: {Name: {Type: SQS}}`` becomes one mapping
(:class:`~qworker.settings.sources.FunctionSpec`), with the function's ``Handler``, ``Timeout``,
``MemorySize``, ``Environment`` and ``CodeUri`` (the directory handlers are imported from), merged
over ``Globals.Function`` as SAM merges them, and the event's ``Queue``, ``BatchSize``,
``MaximumBatchingWindowInSeconds``, ``FunctionResponseTypes``, ``FilterCriteria``,
``ScalingConfig`` and ``Enabled``. Every ``AWS::SQS::Queue`` becomes a
:class:`~qworker.backend.QueueSpec` (``QueueName`` or the logical id, ``FifoQueue``,
``ContentBasedDeduplication``, ``VisibilityTimeout``, ``RedrivePolicy`` ...), so
``qworker check --template T --create-queues`` can create them, dead-letter queues first.

CloudFormation's intrinsic functions are resolved the way CloudFormation would, as far as a
template alone allows: ``Ref`` (parameters with their ``Default`` or a ``--template-parameter``
override, pseudo parameters, queues), ``Fn::GetAtt`` (a queue's ``Arn``, ``QueueName``,
``QueueUrl``), ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If`` (with
``Conditions``), ``Fn::FindInMap``, ``Fn::Base64``, in short (``!GetAtt Q.Arn``) and long form.
What needs a deployed stack (``Fn::ImportValue``, ``Fn::GetAtt`` of a table, ``Ref`` of a resource
without a fixed name) is an error naming the file, the resource and the property, unless a higher
layer (``qworker.toml``, the process environment) sets that value instead.

Queue names: a queue ARN's last field, a queue URL's last path segment; a queue defined in the
template is named by its ``QueueName`` or else its logical id (``.fifo`` appended for a FIFO queue
without a name, where CloudFormation would generate one).
"""

from qworker.sam.intrinsics import NO_VALUE, Resolver
from qworker.sam.names import DEFAULT_STACK_NAME, FUNCTION_TYPE, QUEUE_TYPE
from qworker.sam.template import Template, load_template
from qworker.sam.yaml_reader import TemplateError, read_template

__all__ = [
    "DEFAULT_STACK_NAME",
    "FUNCTION_TYPE",
    "NO_VALUE",
    "QUEUE_TYPE",
    "Resolver",
    "Template",
    "TemplateError",
    "load_template",
    "read_template",
]
