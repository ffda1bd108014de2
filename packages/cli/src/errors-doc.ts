import { CORE_ERROR_TABLE, renderErrorsDoc, type ErrorTable } from '@hpcmirror/core';
import { SCAN_ERROR_CODES } from '@hpcmirror/agent';
import { SUBSCRIBER_ERROR_CODES, TRANSPORT_ERROR_CODES } from '@hpcmirror/subscriber';

/** Every package's error table, in the order docs/errors.md lists them. */
export const ERROR_TABLES: readonly ErrorTable[] = [
  CORE_ERROR_TABLE,
  { title: 'Catch-up scan (agent)', source: 'packages/agent/src/scan/scan-errors.ts', codes: SCAN_ERROR_CODES },
  { title: 'Subscriber', source: 'packages/subscriber/src/errors.ts', codes: SUBSCRIBER_ERROR_CODES },
  { title: 'Subscriber transports', source: 'packages/subscriber/src/transports/errors.ts', codes: TRANSPORT_ERROR_CODES },
];

/** docs/errors.md as `npm run docs:errors` writes it. */
export function renderAllErrorsDoc(): string {
  return renderErrorsDoc(ERROR_TABLES);
}
