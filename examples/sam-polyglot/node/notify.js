// Notifications: a Node.js handler (qworker runs it with node and its Runtime API client).
exports.handler = async (event, context) => {
  const batchItemFailures = [];
  for (const record of event.Records) {
    const message = JSON.parse(record.body);
    if (!message.to) {
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    console.log(`notify ${message.to}: ${message.text} (${context.awsRequestId})`);
  }
  return { batchItemFailures };
};
