// A producer/consumer round trip with the AWS SDK for JavaScript v3 against qworker serve.
// The SDK checks MD5OfMessageBody, MD5OfMessageAttributes and MD5OfMessageSystemAttributes of
// what it sends and receives and throws on a mismatch, so every digest the server computes is
// checked here by another implementation. Prints one JSON document for the Python test.
// usage: node roundtrip.cjs ENDPOINT   (NODE_PATH pointing at a node_modules with @aws-sdk/client-sqs)
"use strict";

const {
  SQSClient,
  CreateQueueCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
} = require("@aws-sdk/client-sqs");

async function main(endpoint) {
  const sqs = new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const out = {};
  const suffix = Math.random().toString(16).slice(2, 10);

  // standard queue: every attribute type, a trace header
  const { QueueUrl: url } = await sqs.send(new CreateQueueCommand({ QueueName: `js-${suffix}` }));
  const attributes = {
    text: { DataType: "String", StringValue: "héllo ✓" },
    number: { DataType: "Number", StringValue: "42.5" },
    blob: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 254, 255]) },
    custom: { DataType: "String.custom", StringValue: "c" },
  };
  const sent = await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: "from javascript\r\nline 2",
      MessageAttributes: attributes,
      MessageSystemAttributes: { AWSTraceHeader: { DataType: "String", StringValue: "Root=1-abc-def" } },
    }),
  );
  out.sent = {
    MessageId: sent.MessageId,
    MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
    MD5OfMessageSystemAttributes: sent.MD5OfMessageSystemAttributes,
  };
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["All"],
      WaitTimeSeconds: 2,
    }),
  );
  const message = received.Messages[0];
  out.received = {
    MessageId: message.MessageId,
    Body: message.Body,
    MD5OfMessageAttributes: message.MD5OfMessageAttributes,
    trace: message.Attributes.AWSTraceHeader,
    text: message.MessageAttributes.text.StringValue,
    number: message.MessageAttributes.number.StringValue,
    blob: Array.from(message.MessageAttributes.blob.BinaryValue),
    custom: message.MessageAttributes.custom.DataType,
  };
  await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }));
  out.countsAfterDelete = [
    attrs.Attributes.ApproximateNumberOfMessages,
    attrs.Attributes.ApproximateNumberOfMessagesNotVisible,
  ];

  // FIFO queue: one group, order and increasing sequence numbers
  const { QueueUrl: fifo } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `js-${suffix}.fifo`,
      Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" },
    }),
  );
  const batch = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: fifo,
      Entries: [0, 1, 2].map((i) => ({ Id: `e${i}`, MessageBody: `f${i}`, MessageGroupId: "g" })),
    }),
  );
  out.fifoSequence = batch.Successful.map((entry) => entry.SequenceNumber);
  const fifoReceived = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: fifo, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ["All"] }),
  );
  out.fifoBodies = fifoReceived.Messages.map((m) => m.Body);
  out.fifoGroups = fifoReceived.Messages.map((m) => m.Attributes.MessageGroupId);
  const deleted = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: fifo,
      Entries: fifoReceived.Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
    }),
  );
  out.fifoDeleted = deleted.Successful.length;

  // an error case: the SDK's modelled exception, with SQS's code and status
  try {
    await sqs.send(new GetQueueUrlCommand({ QueueName: `missing-${suffix}` }));
    out.error = null;
  } catch (err) {
    out.error = { name: err.name, status: err.$metadata.httpStatusCode, message: err.message, code: err.Code || null };
  }
  process.stdout.write(JSON.stringify(out));
}

main(process.argv[2]).catch((err) => {
  process.stderr.write(`${err.name}: ${err.message}\n${err.stack}\n`);
  process.exit(1);
});
