// Sends SQS requests signed by the AWS SDK for JavaScript v3 to a capture server; the Python test
// (tests/serve/test_sigv4.py) then verifies what arrived. Run from a directory whose node_modules
// holds @aws-sdk/client-sqs, @smithy/signature-v4 and @aws-crypto/sha256-js:
//
//     node sigv4_js_client.cjs ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY REGION
"use strict";

const http = require("node:http");
const {
  SQSClient,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} = require("@aws-sdk/client-sqs");
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

const [endpoint, accessKeyId, secretAccessKey, region] = process.argv.slice(2);
const url = new URL(endpoint);
const credentials = { accessKeyId, secretAccessKey };
const queueUrl = `${endpoint}/000000000000/my-queue`;
const unicodeBody = "héllo ☃ \u{1F600} <&> 'quotes' \"double\"";

function queryString(query) {
  return Object.entries(query)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
}

// Sends a request as signed (headers verbatim, Host included) and waits for the answer.
function send(request) {
  const query = request.query && Object.keys(request.query).length ? `?${queryString(request.query)}` : "";
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path + query,
        headers: request.headers,
      },
      (response) => {
        response.resume();
        response.on("end", resolve);
      },
    );
    outgoing.on("error", reject);
    if (request.body !== undefined) outgoing.write(request.body);
    outgoing.end();
  });
}

async function viaClient() {
  const client = new SQSClient({ region, endpoint, credentials, maxAttempts: 1 });
  const calls = [
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: unicodeBody,
      MessageAttributes: { Kind: { DataType: "String", StringValue: "ünïcode" } },
    }),
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: [
        { Id: "a", MessageBody: "first" },
        { Id: "b", MessageBody: unicodeBody, DelaySeconds: 1 },
      ],
    }),
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    new GetQueueUrlCommand({ QueueName: "my-queue" }),
    new ListQueuesCommand({ QueueNamePrefix: "my" }),
  ];
  for (const command of calls) {
    try {
      await client.send(command);
    } catch (error) {
      // The capture server answers every call with an error; only the request matters.
    }
  }
}

async function viaSigner() {
  const signer = new SignatureV4({ credentials, region, service: "sqs", sha256: Sha256 });
  const host = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  const form = queryString({
    Action: "SendMessage",
    Version: "2012-11-05",
    MessageBody: unicodeBody,
    "MessageAttribute.1.Name": "star*tilde~",
    "MessageAttribute.1.Value.StringValue": "a b+c/d=e",
    "MessageAttribute.1.Value.DataType": "String",
  });
  // The query protocol, POSTed to the queue URL's path the way most SDKs other than botocore do.
  const post = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: "/000000000000/my-queue",
    query: {},
    headers: {
      host,
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      "content-length": String(Buffer.byteLength(form)),
      "x-spaced": "  several   inner   spaces  ",
    },
    body: form,
  });
  await send(post);

  // The query protocol over GET: everything in the query string.
  const get = await signer.sign({
    method: "GET",
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: "/000000000000/my-queue",
    query: { Action: "ReceiveMessage", Version: "2012-11-05", "AttributeName.1": "All", Odd: "é ~*'()!" },
    headers: { host },
  });
  await send(get);

  // A presigned URL for the same call.
  const presigned = await signer.presign(
    {
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: "/000000000000/my-queue",
      query: { Action: "ReceiveMessage", Version: "2012-11-05" },
      headers: { host },
    },
    { expiresIn: 300 },
  );
  await send(presigned);
}

(async () => {
  await viaClient();
  await viaSigner();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
