import type { Response } from 'express';
import type { Failure } from '../fhir/outcome.js';

/** Sends a failure as its status, headers and OperationOutcome: the one place errors become HTTP answers. */
export function sendFailure(res: Response, f: Failure): void {
  res.status(f.status);
  if (f.headers) res.set(f.headers);
  res.type('application/fhir+json').send(JSON.stringify(f.outcome));
}
