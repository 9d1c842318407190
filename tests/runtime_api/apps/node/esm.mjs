// An ES module handler (top-level await runs during Init).
import { appendFileSync } from 'node:fs';

const ready = await Promise.resolve('esm');

export const handler = async (event, context) => {
  appendFileSync(
    process.env.QW_TEST_LEDGER,
    JSON.stringify({ kind: ready, request_id: context.awsRequestId, bodies: event.Records.map((r) => r.body) }) + '\n',
  );
  return {};
};
