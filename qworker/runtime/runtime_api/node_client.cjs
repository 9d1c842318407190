'use strict';
/*
 * qworker's Runtime API client for Node.js: runs a Lambda Node.js handler (`_HANDLER`, e.g.
 * `src/app.handler`, from `LAMBDA_TASK_ROOT`) against the Runtime API at
 * `AWS_LAMBDA_RUNTIME_API`, as Lambda's nodejsN.x runtimes do:
 *
 * - Init: load the module (CommonJS or ES module: .js, .mjs, .cjs, or no extension), find the
 *   export; failures go to POST /runtime/init/error as Runtime.ImportModuleError,
 *   Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound or Runtime.MalformedHandlerName.
 * - Invoke: `handler(event, context, callback)`. An async handler (or one returning a promise)
 *   answers with what it resolves to; a callback handler answers when it calls back, and, while
 *   `context.callbackWaitsForEmptyEventLoop` is true (the default), only once the event loop is
 *   empty. A handler that neither returns a promise nor calls back answers `null` once the loop
 *   is empty. Errors are posted as {errorType, errorMessage, trace}.
 * - An uncaught exception or unhandled rejection fails the invocation and ends the process.
 *
 * One file, Node's standard library only: nothing to build or install. Not supported: response
 * streaming (`awslambda.streamifyResponse`), which SQS invocations never use.
 */

const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const { pathToFileURL } = require('node:url');

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const BASE = '/2018-06-01/runtime';
const HEADER_END = Buffer.from('\r\n\r\n');

/*
 * A minimal HTTP/1.1 client for the Runtime API, on one keep-alive socket. Why not node:http: on
 * a loopback API called twice per invocation, its client cost about three times the CPU of this
 * one (measured with benchmarks/bench_runtime_api.py); AWS's own client avoids it too (it calls
 * libcurl from C++). Each request is one socket write (head and body in one string), and a
 * request may be held back to go out with the next one: the response to an invocation and the
 * GET /next that follows it leave in one write (HTTP/1.1 pipelining; the answers come back in
 * order). The server is qworker's, which always sends a Content-Length; anything else is an
 * error, never a guess.
 */
// where sockets read (net's `onread`: no stream machinery per read); what is kept is copied out
const READ_BUFFER = Buffer.allocUnsafe(65536);

class RuntimeApiConnection {
  constructor(host, port) {
    this.host = host;
    this.port = Number(port);
    this.socket = null;
    this.waiting = []; // {resolve, reject} of the requests sent, in order
    this.held = ''; // requests held back to go out with the next one
    this.chunks = []; // what was received of a response not complete yet (copies)
    this.size = 0;
    this.head = null; // {status, headers, start, length} once the head of that response is read
  }

  get busy() {
    return this.waiting.length > 0;
  }

  connect() {
    const socket = net.connect({
      port: this.port,
      host: this.host,
      onread: { buffer: READ_BUFFER, callback: (n, buffer) => { this.received(buffer, n); } },
    });
    socket.setNoDelay(true);
    socket.on('error', () => {}); // 'close' follows and fails the requests in flight
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.chunks = [];
      this.size = 0;
      this.head = null;
      const waiting = this.waiting;
      this.waiting = [];
      for (const w of waiting) w.reject(new Error('the Runtime API closed the connection'));
    });
    this.socket = socket;
  }

  // `body` is a string (JSON) or undefined; `hold`: do not write yet, the next request follows
  request(method, urlPath, body, errorType, hold) {
    if (!this.socket) this.connect();
    let text = `${method} ${BASE}${urlPath} HTTP/1.1\r\nHost: ${this.host}\r\n`;
    if (body === undefined) {
      text += 'Content-Length: 0\r\n\r\n';
    } else {
      text += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
      if (errorType) text += `Lambda-Runtime-Function-Error-Type: ${errorType.replace(/[^\x20-\x7e]/g, ' ')}\r\n`;
      text += '\r\n' + body;
    }
    if (this.waiting.length === 0) this.socket.ref(); // a request in flight keeps the process alive
    const promise = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (hold) {
      this.held += text;
    } else {
      this.socket.write(this.held ? this.held + text : text); // one write; a string is utf8
      this.held = '';
    }
    return promise;
  }

  // `n` bytes arrived in `buffer` (reused by the next read): responses are read in place, the
  // body as a string; only the start of a response not complete yet is copied and kept
  received(buffer, n) {
    let data;
    if (this.size === 0) {
      data = buffer.subarray(0, n);
    } else {
      this.chunks.push(Buffer.from(buffer.subarray(0, n)));
      this.size += n;
      if (this.head && this.size < this.head.start + this.head.length) return; // the body is coming
      data = Buffer.concat(this.chunks, this.size);
      this.chunks = [];
      this.size = 0;
    }
    let offset = 0;
    while (offset < data.length) {
      if (!this.head) {
        const end = data.indexOf(HEADER_END, offset);
        if (end < 0) break;
        this.head = parseHead(data.toString('latin1', offset, end), end + 4 - offset);
        if (!this.head) {
          this.socket.destroy(new Error('the Runtime API sent a response without Content-Length'));
          return;
        }
      }
      const start = offset + this.head.start;
      const stop = start + this.head.length;
      if (stop > data.length) break;
      const response = { status: this.head.status, headers: this.head.headers, body: data.toString('utf8', start, stop) };
      this.head = null;
      offset = stop;
      const waiting = this.waiting.shift();
      // an idle connection must not keep the event loop alive: callback handlers answer when
      // it is empty ('beforeExit'), as in Lambda
      if (this.waiting.length === 0 && this.socket) this.socket.unref();
      if (waiting) waiting.resolve(response);
    }
    if (offset < data.length) {
      this.chunks = [Buffer.from(data.subarray(offset))]; // a parsed head's start counts from here
      this.size = data.length - offset;
    }
  }
}

function parseHead(text, start) {
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const space = text.indexOf(' ');
  const status = Number(text.slice(space + 1, space + 4)); // HTTP/1.1 200 OK
  const headers = {};
  while (eol < text.length) {
    const from = eol + 2;
    eol = text.indexOf('\r\n', from);
    if (eol < 0) eol = text.length;
    const colon = text.indexOf(':', from);
    if (colon > from && colon < eol) headers[text.slice(from, colon).trim().toLowerCase()] = text.slice(colon + 1, eol).trim();
  }
  const length = Number(headers['content-length']);
  if (!Number.isInteger(length) || length < 0) return null;
  return { status, headers, start, length };
}

const api = new RuntimeApiConnection(HOST, PORT);

function errorBody(err) {
  if (err instanceof Error || (err && typeof err.name === 'string' && typeof err.message === 'string')) {
    return { errorType: err.name, errorMessage: err.message, trace: String(err.stack || '').split('\n') };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

// POST a response or an error; `hold`: the GET /next that follows goes out in the same write
function post(urlPath, payload, errorType, hold, connection) {
  return (connection || api).request('POST', urlPath, payload, errorType, hold).then((res) => {
    if (res.status !== 202) {
      console.error(`Runtime API answered ${res.status} to POST ${urlPath}: ${res.body}`);
    }
  });
}

function runtimeError(name, message, cause) {
  const err = new Error(message);
  err.name = name;
  if (cause && cause.stack) err.stack = `${name}: ${message}\n${cause.stack}`;
  return err;
}

// -- Init: find and load the handler --------------------------------------------------------

function splitHandler(handler) {
  const dir = path.dirname(handler);
  const base = path.basename(handler);
  const dot = base.indexOf('.');
  if (dot <= 0 || dot === base.length - 1 || handler.includes('..')) {
    throw runtimeError('Runtime.MalformedHandlerName', `Bad handler ${handler}`);
  }
  return { dir, module: base.slice(0, dot), exportPath: base.slice(dot + 1).split('.') };
}

async function loadModule(file) {
  if (file.endsWith('.mjs')) return import(pathToFileURL(file).href);
  try {
    return require(file);
  } catch (err) {
    if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(pathToFileURL(file).href);
    }
    throw err;
  }
}

async function loadHandler(root, handler) {
  const { dir, module, exportPath } = splitHandler(handler);
  const stem = path.resolve(root, dir, module);
  const file = ['.js', '.mjs', '.cjs', ''].map((ext) => stem + ext).find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  if (!file) {
    throw runtimeError('Runtime.ImportModuleError', `Error: Cannot find module '${module}' (looked for ${stem}.js, .mjs, .cjs)`);
  }
  let loaded;
  try {
    loaded = await loadModule(file);
  } catch (err) {
    if (err instanceof SyntaxError) throw runtimeError('Runtime.UserCodeSyntaxError', `${err.name}: ${err.message}`, err);
    if (err && err.code === 'MODULE_NOT_FOUND') throw runtimeError('Runtime.ImportModuleError', `Error: ${err.message}`, err);
    throw err;
  }
  const find = (obj) => exportPath.reduce((o, key) => (o == null ? undefined : o[key]), obj);
  let fn = find(loaded);
  if (fn === undefined && loaded && loaded.default) fn = find(loaded.default);
  if (fn === undefined) throw runtimeError('Runtime.HandlerNotFound', `${handler} is undefined or not exported`);
  if (typeof fn !== 'function') throw runtimeError('Runtime.HandlerNotFound', `${handler} is not a function`);
  return fn;
}

// -- Invoke -----------------------------------------------------------------------------------

let onEmptyLoop = null; // what to do when the event loop has nothing left (the invocation's end)
process.on('beforeExit', () => {
  const action = onEmptyLoop;
  onEmptyLoop = null;
  if (action) action();
});

let current = null; // the request id of the invocation in flight

function context(headers, finish) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  const ctx = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (err, result) => finish(err, result, true),
    succeed: (result) => finish(null, result, true),
    fail: (err) => finish(err == null ? 'handled' : err, undefined, true),
  };
  return ctx;
}

// Run the invocation that `next` (the answer to GET /next) carries; resolves to the answer of
// the GET /next that follows, which goes out in the same write as this invocation's response.
function invokeOnce(handler, isAsync, next) {
  if (next.status !== 200) throw new Error(`GET /invocation/next answered ${next.status}: ${next.body}`);
  const id = next.headers['lambda-runtime-aws-request-id'];
  current = id;
  if (next.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;
  return new Promise((resolve) => {
    let finished = false;
    const answer = (err, result) => {
      const sent = err != null
        ? post(`/invocation/${id}/error`, JSON.stringify(errorBody(err)), 'Unhandled', true)
        : postResult(id, result);
      sent.catch((e) => { console.error('posting the response failed:', e); process.exit(1); });
      resolve(api.request('GET', '/invocation/next'));
    };
    let ctx = null;
    const finish = (err, result, now) => {
      if (finished) return;
      finished = true;
      onEmptyLoop = null;
      if (err != null || now || !ctx.callbackWaitsForEmptyEventLoop) answer(err, result);
      else onEmptyLoop = () => setImmediate(() => answer(null, result));
    };
    ctx = context(next.headers, finish);
    onEmptyLoop = () => {
      if (finished) return;
      finished = true;
      if (isAsync) answer(runtimeError('Runtime.NodeJsExit', 'The handler returned a promise that never settled (the event loop emptied first)'));
      else answer(null, null);
    };
    try {
      const event = JSON.parse(next.body);
      const out = handler(event, ctx, (err, result) => finish(err, result, false));
      if (out && typeof out.then === 'function') out.then((r) => finish(null, r, true), (e) => finish(e == null ? 'handled' : e, undefined, true));
    } catch (err) {
      finish(err, undefined, true);
    }
  });
}

// POST the handler's result (held back: the GET /next that follows goes out with it)
function postResult(id, result) {
  let body;
  try {
    body = JSON.stringify(result === undefined ? null : result);
  } catch (err) {
    return post(`/invocation/${id}/error`, JSON.stringify(errorBody(err)), 'Runtime.MarshalError', true);
  }
  return post(`/invocation/${id}/response`, body === undefined ? 'null' : body, undefined, true);
}

// -- the process --------------------------------------------------------------------------------

function fatal(kind, err) {
  const body = JSON.stringify(errorBody(err));
  const target = current ? `/invocation/${current}/error` : '/init/error';
  const type = current ? kind : errorBody(err).errorType;
  console.error(`${kind}:`, err);
  // a GET /next in flight would hold a post on its connection back until the next invocation
  const connection = api.busy ? new RuntimeApiConnection(HOST, PORT) : api;
  post(target, body, type, false, connection).finally(() => process.exit(kind === 'Runtime.UnhandledPromiseRejection' ? 128 : 129));
}

process.on('uncaughtException', (err) => fatal('Runtime.UncaughtException', err));
process.on('unhandledRejection', (reason) => {
  const err = reason instanceof Error ? reason : runtimeError('Runtime.UnhandledPromiseRejection', String(reason));
  fatal('Runtime.UnhandledPromiseRejection', err);
});

async function main() {
  let handler;
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), process.env._HANDLER || '');
  } catch (err) {
    console.error('Init error:', err);
    await post('/init/error', JSON.stringify(errorBody(err)), errorBody(err).errorType);
    process.exit(129);
  }
  const isAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
  let next = await api.request('GET', '/invocation/next');
  for (;;) next = await invokeOnce(handler, isAsync, next);
}

main();
