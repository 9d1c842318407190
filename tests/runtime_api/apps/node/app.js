'use strict';
// Test functions for qworker's Node.js runtime path. Every invocation appends one line to the
// ledger file named by QW_TEST_LEDGER before it answers. A body {"fail": true} is reported in
// batchItemFailures; the `behaviour` handler also obeys {"sleep": ms}, {"crash": code},
// {"throw": "message"} and {"big": bytes}.
const fs = require('node:fs');

function record(kind, event, context, extra) {
  const line = {
    kind,
    pid: process.pid,
    request_id: context.awsRequestId,
    ids: event.Records.map((r) => r.messageId),
    bodies: event.Records.map((r) => r.body),
    counts: event.Records.map((r) => Number(r.attributes.ApproximateReceiveCount)),
    remaining_ms: context.getRemainingTimeInMillis(),
    function_name: context.functionName,
    memory: context.memoryLimitInMB,
    arn: context.invokedFunctionArn,
    env: {
      handler: process.env._HANDLER,
      task_root: process.env.LAMBDA_TASK_ROOT,
      region: process.env.AWS_REGION,
      tz: process.env.TZ,
      execution_env: process.env.AWS_EXECUTION_ENV,
      init_type: process.env.AWS_LAMBDA_INITIALIZATION_TYPE,
      log_stream: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      trace: process.env._X_AMZN_TRACE_ID,
      stage: process.env.STAGE,
    },
    ...extra,
  };
  fs.appendFileSync(process.env.QW_TEST_LEDGER, JSON.stringify(line) + '\n');
}

const failures = (event) =>
  event.Records.filter((r) => JSON.parse(r.body).fail).map((r) => ({ itemIdentifier: r.messageId }));

exports.asyncHandler = async (event, context) => {
  record('async', event, context);
  return { batchItemFailures: failures(event) };
};

exports.callbackHandler = (event, context, callback) => {
  record('callback', event, context);
  // answered when the event loop is empty: after the timer below has fired too
  setTimeout(() => console.log('timer after the callback'), 20);
  callback(null, { batchItemFailures: failures(event) });
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

exports.behaviour = async (event, context) => {
  record('behaviour', event, context);
  for (const r of event.Records) {
    const body = JSON.parse(r.body);
    console.log(`processing ${r.messageId}`);
    if (body.sleep) await sleep(body.sleep);
    if (body.crash !== undefined) process.exit(body.crash);
    if (body.throw) throw new TypeError(body.throw);
    if (body.big) return { padding: 'x'.repeat(body.big) };
  }
  return null;
};

// A plain function that neither calls back nor returns a promise: Lambda ignores its return
// value and answers null once the event loop is empty.
exports.syncNoCallback = (event, context) => {
  record('sync', event, context);
  return { batchItemFailures: failures(event) };
};

// An async handler whose promise never settles: the event loop empties first.
exports.neverSettles = async (event, context) => {
  record('never', event, context);
  return new Promise(() => {});
};

// callbackWaitsForEmptyEventLoop = false: the callback answers at once, timers or not.
exports.noWait = (event, context, callback) => {
  record('nowait', event, context);
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => {}, 60_000);
  callback(null, { batchItemFailures: failures(event) });
};

// A rejection nobody handles ends the process after failing the invocation.
exports.unhandled = async (event, context) => {
  record('unhandled', event, context);
  Promise.reject(new Error('nobody catches me'));
  await sleep(200);
  return {};
};

// An exception thrown after the invocation answered, while the client waits for the next one:
// the process ends at once (its error post does not wait behind the pending GET /next).
exports.throwsLater = async (event, context) => {
  record('later', event, context);
  setTimeout(() => { throw new Error('thrown after the answer'); }, 50);
  return null;
};
